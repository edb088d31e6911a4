from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.models import ApiKey
from core.services import api_key_hash, api_key_touch


@dataclass(frozen=True)
class ApiClient:
    """The request.user of a call made with a secret key: a program, not a person."""

    api_key: ApiKey
    is_authenticated = True
    is_staff = False
    is_active = True

    @property
    def username(self) -> str:
        return f"api-key:{self.api_key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <secret key>`."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword:
            return None
        secret = secret.strip()
        if not secret:
            raise exceptions.AuthenticationFailed("The Authorization header has no key after 'Bearer'.")
        api_key = ApiKey.objects.filter(key_hash=api_key_hash(secret), revoked_at__isnull=True).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "Unknown or revoked API key. Create one with `manage.py create_api_key NAME` or in the admin."
            )
        api_key_touch(api_key=api_key)
        return ApiClient(api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "secretKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A secret key from `manage.py create_api_key`."}
