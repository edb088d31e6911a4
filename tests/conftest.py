import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from core.services import api_key_create


@pytest.fixture(autouse=True)
def _empty_cache():
    # Tests share one Redis database; each starts with an empty cache.
    cache.clear()
    yield


@pytest.fixture
def api_key(db):
    return api_key_create(name="tests")


@pytest.fixture
def api_client(api_key) -> APIClient:
    """A management API client holding a valid secret key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    return client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()
