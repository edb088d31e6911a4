import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from core.models import ApiKey
from core.services import api_key_revoke

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"


def test_a_valid_secret_key_is_let_in(api_client):
    assert api_client.get(CUSTOMERS).status_code == 200


def test_no_credentials_get_401_with_a_bearer_challenge(anonymous_client):
    response = anonymous_client.get(CUSTOMERS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_unknown_key_gets_401(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer tsk_not-a-real-key")
    response = anonymous_client.get(CUSTOMERS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_revoked_key_gets_401(api_client, api_key):
    api_key_revoke(api_key=api_key.api_key)
    assert api_client.get(CUSTOMERS).status_code == 401


def test_the_key_is_stored_only_as_a_hash(api_key):
    stored = ApiKey.objects.get(pk=api_key.api_key.pk)
    assert api_key.secret not in {stored.key_hash, stored.prefix, stored.name}
    assert len(stored.key_hash) == 64


def test_use_of_a_key_is_recorded(api_client, api_key):
    api_client.get(CUSTOMERS)
    assert ApiKey.objects.get(pk=api_key.api_key.pk).last_used_at is not None


def test_a_staff_session_is_let_in():
    staff = get_user_model().objects.create_user("marketer", password="pw-123456789", is_staff=True)
    client = APIClient()
    client.force_login(staff)
    assert client.get(CUSTOMERS).status_code == 200


def test_a_non_staff_session_is_refused_with_403():
    user = get_user_model().objects.create_user("shopper", password="pw-123456789")
    client = APIClient()
    client.force_login(user)
    response = client.get(CUSTOMERS)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_create_api_key_prints_a_key_that_works(capsys):
    call_command("create_api_key", "crm-sync")
    secret = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(CUSTOMERS).status_code == 200
    assert ApiKey.objects.get(name="crm-sync").prefix == secret[:12]
