import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from core.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(admin)
    return client


def test_adding_a_key_in_the_admin_shows_its_secret_once_and_stores_only_the_hash(admin_client):
    response = admin_client.post("/admin/core/apikey/add/", {"name": "warehouse"}, follow=True)
    [message] = [str(m) for m in get_messages(response.wsgi_request) if "secret key" in str(m)]
    secret = message.rsplit(" ", 1)[-1]
    assert secret.startswith("tsk_")
    key = ApiKey.objects.get(name="warehouse")
    assert secret not in key.key_hash
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/customers/").status_code == 200


def test_revoking_keys_from_the_admin_locks_them_out(admin_client, api_key):
    admin_client.post(
        "/admin/core/apikey/", {"action": "revoke", "_selected_action": [api_key.api_key.pk]}, follow=True
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.secret}")
    assert client.get("/api/v1/customers/").status_code == 401
