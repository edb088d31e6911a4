"""Signed, unguessable tokens for links that work without a login (unsubscribe,
preferences, opt-in confirmation, tracking). A token carries a small payload,
an issue time and an HMAC-SHA256 over both with SECRET_KEY; each scope has its
own salt, so a token made for one purpose is refused for another.

Tokens are Django's signed objects (`django.core.signing`), read by Django's own code.
Making them is ours: a message carries up to a dozen, and Django derives the HMAC key
again and encodes with the json module for every one (10 us a token here, 3 us with the
key derived once per scope and secret, and orjson)."""

import functools
import hashlib
import hmac
from datetime import timedelta

import orjson
from django.conf import settings
from django.core import signing

from core.errors import TailorError


class InvalidToken(TailorError):
    code = "invalid_token"
    status_code = 404


class ExpiredToken(InvalidToken):
    code = "expired_token"
    status_code = 410


class _CompactJSON:
    """What Django's JSONSerializer writes (compact JSON), written by orjson."""

    def dumps(self, obj) -> bytes:
        return orjson.dumps(obj)


class _ScopeSigner(signing.TimestampSigner):
    """Django's TimestampSigner with its HMAC key for the current secret derived once."""

    def __init__(self, scope: str, secret: str):
        super().__init__(key=secret, salt=f"tailor.{scope}")
        # Django's salted_hmac: the HMAC key is sha256(salt + "signer" + secret).
        derived = hashlib.sha256(f"{self.salt}signer{secret}".encode()).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256)

    def signature(self, value, key=None) -> str:
        if key is not None and key != self.key:  # unsign trying a fallback key: Django's way
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(value.encode())
        return signing.b64_encode(mac.digest()).decode()


@functools.lru_cache(maxsize=32)
def _signer(scope: str, secret: str) -> _ScopeSigner:
    return _ScopeSigner(scope, secret)


def token_make(*, scope: str, payload: dict) -> str:
    return _signer(scope, settings.SECRET_KEY).sign_object(payload, serializer=_CompactJSON)


def token_read(*, scope: str, token: str, max_age: timedelta) -> dict:
    """The token's payload, or InvalidToken (tampered, foreign) / ExpiredToken."""
    try:
        return signing.loads(token, salt=f"tailor.{scope}", max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ExpiredToken("This link has expired.") from exc
    except signing.BadSignature as exc:
        raise InvalidToken("This link is not valid: it may have been cut short or changed.") from exc
