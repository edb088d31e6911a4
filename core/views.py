from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from core.api.exception_handler import error_body
from core.selectors import health_report

# Paths whose clients are programs: they get JSON errors, never HTML pages.
MACHINE_PATH_PREFIXES = ("/api/", "/v1/", "/track")


@never_cache
@require_GET
def healthz(request):
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)


def not_found(request, exception=None):
    if request.path.startswith(MACHINE_PATH_PREFIXES):
        body = error_body(code="not_found", message=f"No endpoint at {request.path}. See /api/docs/ for the API.")
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)
