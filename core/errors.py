"""Errors a user or a client can cause. The API's exception handler turns each
into one JSON shape: {"error": {"code", "message", "details"}}; other callers
(commands, admin) show the message as it is, so it must say what was wrong,
where, and how to fix it."""


class TailorError(Exception):
    code = "error"
    status_code = 400

    def __init__(self, message: str, *, details: dict | list | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else {}
        if code:
            self.code = code


class ValidationError(TailorError):
    code = "invalid"
    status_code = 400


class AuthenticationFailed(TailorError):
    code = "unauthenticated"
    status_code = 401


class PermissionDenied(TailorError):
    code = "forbidden"
    status_code = 403


class NotFound(TailorError):
    code = "not_found"
    status_code = 404


class Conflict(TailorError):
    code = "conflict"
    status_code = 409


class PayloadTooLarge(TailorError):
    code = "too_large"
    status_code = 413


class Throttled(TailorError):
    code = "throttled"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(TailorError):
    code = "unavailable"
    status_code = 503
