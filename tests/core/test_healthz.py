import pytest

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_service_and_200_when_all_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["services"]["database"]["ok"] is True
    assert body["services"]["redis"]["ok"] is True
    assert set(body["services"]) == {"database", "redis", "workers"}


def test_healthz_is_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["services"]["redis"]["ok"] is False
    assert "127.0.0.1:1" in body["services"]["redis"]["detail"]


def test_missing_workers_degrade_health_without_failing_it(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production; no worker listens on the test broker
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"]["workers"] == {
        "ok": False,
        "required": False,
        "detail": "0 worker(s) answered",
        "latency_ms": None,
    }
