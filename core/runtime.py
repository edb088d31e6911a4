"""How Tailor announces the mode it runs in, and turns an unreachable service
into one clear line instead of a traceback."""

import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def runtime_describe() -> str:
    from django.conf import settings

    if settings.DATABASE_URL:
        database = f"Postgres at {_redacted(settings.DATABASE_URL)}"
    else:
        database = f"embedded SQLite at {settings.DATABASES['default']['NAME']}"
    if settings.REDIS_URL:
        redis = f"Redis at {_redacted(settings.REDIS_URL)} (Celery broker, cache, channel layer)"
    else:
        redis = "no Redis: tasks run in-process, in-memory cache and channel layer"
    mode = "services" if settings.DATABASE_URL and settings.REDIS_URL else "embedded"
    return f"Tailor runs in {mode} mode: {database}; {redis}."


def unreachable_problems() -> list[str]:
    """One sentence per required service that does not answer."""
    from django.conf import settings

    from core.selectors import database_status, redis_status

    problems = []
    database = database_status()
    if not database.ok and settings.DATABASE_URL:
        problems.append(
            f"Tailor cannot reach its database (DATABASE_URL={_redacted(settings.DATABASE_URL)}): {database.detail}. "
            "Start the database server, or fix DATABASE_URL in the environment or .env "
            "(unset it to use the embedded SQLite file)."
        )
    elif not database.ok:
        problems.append(
            f"Tailor cannot open its embedded SQLite file {settings.DATABASES['default']['NAME']}: {database.detail}. "
            "Check that the folder is writable, or set DATABASE_URL to a Postgres database."
        )
    redis = redis_status()
    if not redis.ok:
        problems.append(
            f"Tailor cannot reach Redis (REDIS_URL={_redacted(settings.REDIS_URL)}): {redis.detail}. "
            "Start Redis there, or fix REDIS_URL in the environment or .env "
            "(unset it to run tasks in-process)."
        )
    return problems


def _exit_with(lines: list[str], code: int = 1):
    for line in lines:
        print(line, file=sys.stderr)
    raise SystemExit(code)


def runtime_announce(*, process: str) -> None:
    """Say which mode this process runs in; stop with one line per unreachable service."""
    # ASGI servers may import the application inside their event loop, where
    # Django refuses database calls; a worker thread is outside it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        problems = pool.submit(unreachable_problems).result()
    if problems:
        _exit_with(problems)
    print(f"[{process}] {runtime_describe()}", file=sys.stderr, flush=True)


@contextmanager
def exit_if_unreachable():
    """Turn configuration errors and lost connections into one line and an exit code."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import OperationalError
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        yield
    except ImproperlyConfigured as exc:
        _exit_with([f"Tailor is not configured: {exc}"], code=2)
    except (OperationalError, RedisConnectionError, BrokerError):
        # Only a service that is really down earns the short message; any other
        # operational error (a lock, a bad query) keeps its traceback.
        problems = unreachable_problems()
        if problems:
            _exit_with(problems)
        raise
