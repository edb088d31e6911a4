"""Reads every app shares: the state of the services Tailor depends on."""

import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection


@dataclass(frozen=True)
class ServiceStatus:
    ok: bool
    required: bool
    detail: str
    latency_ms: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _timed(check) -> tuple[str | None, float]:
    """Run check(); return (error message or None, elapsed milliseconds)."""
    started = time.perf_counter()
    try:
        check()
        error = None
    except Exception as exc:  # any failure to answer is "down", whatever the driver raises
        error = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__
    return error, round((time.perf_counter() - started) * 1000, 2)


def database_status() -> ServiceStatus:
    def ping():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    error, latency = _timed(ping)
    label = connection.vendor
    return ServiceStatus(ok=error is None, required=True, detail=error or label, latency_ms=latency)


def redis_status() -> ServiceStatus:
    if not settings.REDIS_URL:
        return ServiceStatus(ok=True, required=False, detail="not configured (embedded mode)")
    import redis

    def ping():
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()

    error, latency = _timed(ping)
    return ServiceStatus(ok=error is None, required=True, detail=error or "redis", latency_ms=latency)


WORKERS_CACHE_KEY = "health:workers"


def workers_status() -> ServiceStatus:
    # Workers are reported but not required: without them ingest still stores
    # events durably, and a load balancer should keep serving.
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return ServiceStatus(ok=True, required=False, detail="tasks run in-process (embedded mode)")
    cached = cache.get(WORKERS_CACHE_KEY)
    if cached is not None:
        return ServiceStatus(**cached)
    from config.celery import app

    try:
        replies = app.control.ping(timeout=0.5)
        status = ServiceStatus(ok=bool(replies), required=False, detail=f"{len(replies)} worker(s) answered")
    except Exception as exc:  # broker down: reported by redis_status too
        status = ServiceStatus(ok=False, required=False, detail=str(exc).splitlines()[0])
    cache.set(WORKERS_CACHE_KEY, status.as_dict(), timeout=5)
    return status


def health_report() -> tuple[bool, dict]:
    """(healthy, report) where healthy means every required service answers."""
    services = {"database": database_status(), "redis": redis_status(), "workers": workers_status()}
    healthy = all(s.ok for s in services.values() if s.required)
    degraded = not all(s.ok for s in services.values())
    report = {
        "status": "ok" if not degraded else ("degraded" if healthy else "down"),
        "services": {name: s.as_dict() for name, s in services.items()},
    }
    return healthy, report
