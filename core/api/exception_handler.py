"""One error shape for the whole management API:
{"error": {"code": ..., "message": ..., "details": ...}}."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import TailorError, Throttled

logger = logging.getLogger(__name__)


def error_body(*, code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def _first_message(detail) -> str:
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    if isinstance(detail, dict):
        field, value = next(iter(detail.items()))
        return f"{field}: {_first_message(value)}"
    return str(detail)


def _from_drf(exc: exceptions.APIException) -> tuple[str, str, object]:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return "invalid", f"The request is invalid. {_first_message(detail)}", detail
    code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
    return code, str(exc.detail), {}


def api_exception_handler(exc, context):
    if isinstance(exc, TailorError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
        body = error_body(code=exc.code, message=exc.message, details=exc.details)
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is not None:
        code, message, details = _from_drf(exc)
        response.data = error_body(code=code, message=message, details=details)
        return response
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__, exc_info=exc)
    body = error_body(code="server_error", message="An unexpected error happened; it has been logged.")
    return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
