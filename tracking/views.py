"""The open pixel and the click redirect of the email Tailor sends."""

import base64

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from core.errors import TailorError
from core.http import client_ip
from tracking.selectors import tracked_message
from tracking.services.engagement import email_click_record, email_open_record, visit_now

# A transparent GIF, 1 pixel square.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _visit(request):
    return visit_now(ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""), method=request.method)


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel_view(request, token: str):
    try:
        message, _ = tracked_message(scope="open", token=token)
    except TailorError:
        return HttpResponse(status=404)
    email_open_record(message=message, visit=_visit(request))
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def click_view(request, token: str):
    """Redirect to the link registered for this place in this message, and only there."""
    try:
        message, payload = tracked_message(scope="click", token=token)
        link_index = payload.get("l")
        if not isinstance(link_index, int):
            raise Http404
        url = email_click_record(message=message, link_index=link_index, visit=_visit(request))
    except TailorError:
        raise Http404 from None
    response = HttpResponseRedirect(url)  # refuses any scheme but http, https and ftp
    response["Referrer-Policy"] = "no-referrer"
    return response
