"""The web page of a sent message ("view in browser")."""

from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from campaigns.sending.mail import message_in_browser
from core.errors import TailorError


@never_cache
@require_GET
def message_view(request, token: str):
    try:
        rendered = message_in_browser(token=token)
    except TailorError:
        return HttpResponse(
            "This message cannot be shown: the link is not valid.", status=404, content_type="text/plain"
        )
    if rendered.error:
        return HttpResponse("This message cannot be shown right now.", status=503, content_type="text/plain")
    response = HttpResponse(rendered.html)
    # The page is the email: no scripts of its own, no framing, nothing leaks through a referrer.
    response["Content-Security-Policy"] = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
