import pytest

pytestmark = pytest.mark.django_db


def assert_error_shape(body: dict, code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def test_an_unknown_customer_is_a_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/customers/999999/")
    assert response.status_code == 404
    assert_error_shape(response.json(), "not_found")
    assert "999999" in response.json()["error"]["message"]


def test_an_invalid_query_is_a_400_naming_the_field(api_client):
    response = api_client.get("/api/v1/customers/", {"external_id": "x" * 300})
    assert response.status_code == 400
    assert_error_shape(response.json(), "invalid")
    assert "external_id" in response.json()["error"]["details"]


def test_a_page_past_the_end_is_a_404_in_the_error_shape(api_client):
    response = api_client.get("/api/v1/customers/", {"page": 99})
    assert response.status_code == 404
    assert_error_shape(response.json(), "not_found")


def test_an_unknown_api_path_gets_json_not_html(api_client):
    response = api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert_error_shape(response.json(), "not_found")


def test_unauthenticated_requests_get_the_error_shape(anonymous_client):
    response = anonymous_client.get("/api/v1/customers/")
    assert_error_shape(response.json(), "not_authenticated")
