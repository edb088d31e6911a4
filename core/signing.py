"""Signed, unguessable tokens for links that work without a login (unsubscribe,
preferences, opt-in confirmation, tracking). A token carries a small payload,
an issue time and an HMAC-SHA256 over both with SECRET_KEY; each scope has its
own salt, so a token made for one purpose is refused for another."""

from datetime import timedelta

from django.core import signing

from core.errors import TailorError


class InvalidToken(TailorError):
    code = "invalid_token"
    status_code = 404


class ExpiredToken(InvalidToken):
    code = "expired_token"
    status_code = 410


def token_make(*, scope: str, payload: dict) -> str:
    return signing.dumps(payload, salt=f"tailor.{scope}", compress=True)


def token_read(*, scope: str, token: str, max_age: timedelta) -> dict:
    """The token's payload, or InvalidToken (tampered, foreign) / ExpiredToken."""
    try:
        return signing.loads(token, salt=f"tailor.{scope}", max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ExpiredToken("This link has expired.") from exc
    except signing.BadSignature as exc:
        raise InvalidToken("This link is not valid: it may have been cut short or changed.") from exc
