"""Pages people reach from email and signup forms. No login, no JavaScript.

The signed token in the URL is the only authority these pages accept; they
use no cookie, so cross-site request forgery has nothing to ride on and CSRF
checks are off (RFC 8058 one-click unsubscribe must work without them).
"""

import json
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from consent.forms import PreferenceForm, SubscribeForm
from consent.models import ConsentSource, Frequency
from consent.selectors import (
    SubjectGone,
    consent_state,
    link_customer,
    link_opt_in,
    preferences_url,
    topics_active,
)
from consent.services import (
    preference_center_save,
    subscribe_wording,
    subscription_confirm,
    subscription_request,
    unsubscribe,
)
from core.errors import TailorError, ValidationError
from core.http import client_ip, request_proof
from core.ratelimit import rate_limit_exceeded

SUBSCRIBES_PER_IP_PER_HOUR = 20
CHECK_INBOX = "Check your inbox: we sent a link to confirm."


def _page(request, template: str, context: dict | None = None, status: int = 200) -> HttpResponse:
    context = {"shop_name": settings.SHOP_NAME, "shop_address": settings.SHOP_POSTAL_ADDRESS, **(context or {})}
    response = render(request, template, context, status=status)
    # The token in the URL is a key: keep it out of caches, referrers and search engines.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def link_page(view):
    """Turn a bad or dead link into a page saying so, and change nothing."""

    @wraps(view)
    def wrapper(request, token, *args, **kwargs):
        try:
            return view(request, token, *args, **kwargs)
        except SubjectGone:
            message = "This link no longer works: the data it belonged to has been erased."
            return _page(request, "consent/link_problem.html", {"message": message}, status=410)
        except TailorError as error:  # InvalidToken (404) and ExpiredToken (410)
            return _page(request, "consent/link_problem.html", {"message": error.message}, status=error.status_code)

    return wrapper


@csrf_exempt
@require_http_methods(["GET", "POST"])
@link_page
def unsubscribe_view(request, token: str):
    """GET shows a confirmation (mail scanners fetch links, so a GET changes nothing);
    POST unsubscribes, and `List-Unsubscribe=One-Click` is RFC 8058's one-click form."""
    customer, payload = link_customer(scope="unsubscribe", token=token)
    topic = topics_active().filter(slug=payload.get("t")).first()
    if request.method == "GET":
        return _page(
            request, "consent/unsubscribe.html", {"topic": topic, "preferences_url": preferences_url(customer=customer)}
        )
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    scope_topic = topic.slug if topic and (one_click or request.POST.get("scope") == "topic") else None
    unsubscribe(
        customer=customer,
        topic=scope_topic,
        source=ConsentSource.UNSUBSCRIBE_LINK,
        actor="person",
        proof=request_proof(request, form="one-click" if one_click else "unsubscribe page"),
    )
    if one_click:
        return HttpResponse("You are unsubscribed.", content_type="text/plain; charset=utf-8")
    context = {"topic": topic if scope_topic else None, "preferences_url": preferences_url(customer=customer)}
    return _page(request, "consent/unsubscribed.html", context)


@csrf_exempt
@require_http_methods(["GET", "POST"])
@link_page
def preferences_view(request, token: str):
    customer, _ = link_customer(scope="preferences", token=token)
    topics = list(topics_active())
    state = consent_state(customer=customer)
    form = PreferenceForm(request.POST or None, topics=topics, state=state)
    saved = None
    if request.method == "POST" and form.is_valid():
        saved = preference_center_save(
            customer=customer,
            choices=form.choices(),
            wordings=form.wordings(),
            proof=request_proof(request, form="preference center"),
        )
        state = consent_state(customer=customer)
        form = PreferenceForm(topics=topics, state=state)
    context = {"form": form, "state": state, "saved": saved, "frequencies": Frequency, "email": customer.email}
    return _page(request, "consent/preferences.html", context, status=400 if form.errors else 200)


@xframe_options_exempt  # meant to be embedded in the shop's pages
@require_http_methods(["GET"])
def subscribe_form_view(request):
    wanted = [slug for slug in request.GET.get("topics", "").split(",") if slug]
    topics = [t for t in topics_active() if not wanted or t.slug in wanted]
    form = SubscribeForm(topics=topics, initial={"topics": [t.slug for t in topics]})
    return _page(request, "consent/subscribe_form.html", {"form": form, "wording": subscribe_wording(topics)})


def _wants_json(request) -> bool:
    return request.content_type == "application/json"


def _subscribe_reply(request, *, status: int, message: str, details=None, form=None) -> HttpResponse:
    if _wants_json(request):
        body = (
            {"success": True, "message": message}
            if status == 200
            else {
                "error": {
                    "code": "invalid" if status == 400 else "throttled",
                    "message": message,
                    "details": details or {},
                }
            }
        )
        response = JsonResponse(body, status=status)
        response["Access-Control-Allow-Origin"] = "*"  # any shop page may post a signup; no cookies are involved
        return response
    template = "consent/subscribe_done.html" if status == 200 else "consent/subscribe_form.html"
    return _page(request, template, {"message": message, "form": form}, status=status)


@xframe_options_exempt
@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def subscribe_view(request):
    """Start a double opt-in from Tailor's embeddable form or the shop's own (JSON)."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        return response
    over, retry_after = rate_limit_exceeded(
        key=f"subscribe:{client_ip(request)}", limit=SUBSCRIBES_PER_IP_PER_HOUR, window_seconds=3600
    )
    if over:
        response = _subscribe_reply(request, status=429, message="Too many signups from here; try again later.")
        response["Retry-After"] = str(retry_after)
        return response
    try:
        data = json.loads(request.body) if _wants_json(request) else request.POST
    except ValueError:
        return _subscribe_reply(request, status=400, message="The body is not valid JSON.")
    form = SubscribeForm(data, topics=list(topics_active()))
    if not form.is_valid():
        message = "Please check the form: " + "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items())
        return _subscribe_reply(request, status=400, message=message, details=form.errors, form=form)
    if form.cleaned_data["website"]:
        return _subscribe_reply(request, status=200, message=CHECK_INBOX)
    topics = form.cleaned_data["topics"]
    try:
        subscription_request(
            email=form.cleaned_data["email"],
            topics=[t.slug for t in topics],
            first_name=form.cleaned_data.get("first_name", ""),
            policy_version=form.cleaned_data.get("policy_version") or settings.CONSENT_POLICY_VERSION,
            wording=form.cleaned_data.get("wording") or subscribe_wording(topics),
            proof=request_proof(request, form="subscribe", page=request.headers.get("Referer", "")),
        )
    except ValidationError as error:
        return _subscribe_reply(request, status=400, message=error.message, details=error.details, form=form)
    # The same answer whether or not the address was known or already subscribed,
    # so that the form tells nothing about who is on the list.
    return _subscribe_reply(request, status=200, message=CHECK_INBOX)


@csrf_exempt
@require_http_methods(["GET", "POST"])
@link_page
def subscribe_confirm_view(request, token: str):
    """GET asks to confirm (scanners fetch links); POST confirms."""
    opt_in = link_opt_in(token=token)
    if request.method == "GET":
        return _page(request, "consent/confirm.html", {"confirmed_before": bool(opt_in.confirmed_at)})
    confirmed_now = subscription_confirm(opt_in=opt_in, proof=request_proof(request, form="opt-in confirmation"))
    context = {"confirmed_now": confirmed_now, "preferences_url": preferences_url(customer=opt_in.customer)}
    return _page(request, "consent/confirmed.html", context)
