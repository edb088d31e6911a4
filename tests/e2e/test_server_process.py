import json
import urllib.request

import pytest

from tests.factories import CustomerFactory

pytestmark = pytest.mark.e2e


def get(url: str, **headers) -> tuple[int, dict | str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body, kind = response.status, response.read().decode(), response.headers["Content-Type"]
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read().decode(), error.headers["Content-Type"]
    return status, json.loads(body) if kind.startswith("application/json") else body


def test_the_asgi_server_reports_healthy_services(server):
    status, body = get(f"{server.url}/healthz")
    assert status == 200
    assert body["services"]["database"]["detail"] == "postgresql"


def test_the_server_says_which_mode_it_runs_in(server):
    printed = server.stop()
    assert "[web] Tailor runs in services mode: Postgres at postgres://" in printed


def test_the_management_api_answers_over_http_with_a_secret_key(server, api_key):
    customer = CustomerFactory(email="ada@example.com")
    status, body = get(f"{server.url}/api/v1/customers/", Authorization=f"Bearer {api_key.secret}")
    assert status == 200
    assert [c["email"] for c in body["results"]] == [customer.email]


def test_the_management_api_refuses_a_missing_key_in_the_error_shape(server):
    status, body = get(f"{server.url}/api/v1/customers/")
    assert status == 401
    assert body["error"]["code"] == "not_authenticated"


def test_the_api_docs_are_served_without_any_cdn(server):
    status, page = get(f"{server.url}/api/docs/")
    assert status == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()


def test_the_admin_login_page_is_served(server):
    status, page = get(f"{server.url}/admin/login/")
    assert status == 200
    assert "Tailor" in page
