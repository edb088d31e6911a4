"""A process that cannot reach a service, or is not configured, says so in one
line instead of a traceback."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, **{k: v for k, v in env_changes.items() if v is not None}}
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_an_unreachable_database_is_one_line_naming_database_url():
    result = run("manage.py", "migrate", DATABASE_URL="postgres://postgres@127.0.0.1:1/tailor")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Tailor cannot reach its database (DATABASE_URL=postgres://postgres@127.0.0.1:1/tailor)")
    assert "Traceback" not in result.stderr


def test_an_unreachable_redis_stops_a_worker_with_one_line_naming_redis_url():
    result = run(
        "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
        REDIS_URL="redis://127.0.0.1:1/0", CELERY_TASK_ALWAYS_EAGER="false",
    )  # fmt: skip
    assert result.returncode != 0
    assert "Tailor cannot reach Redis (REDIS_URL=redis://127.0.0.1:1/0)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_secret_key_is_one_line_saying_how_to_fix_it(tmp_path):
    result = run("manage.py", "check", SECRET_KEY="")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Tailor is not configured: SECRET_KEY is not set: export SECRET_KEY (any long random string) "
        "or copy .env.example to .env; `make demo` creates one for you."
    )


def test_passwords_in_urls_are_not_printed():
    result = run("manage.py", "migrate", DATABASE_URL="postgres://postgres:hunter2@127.0.0.1:1/tailor")
    assert "hunter2" not in result.stderr
    assert "postgres:***@127.0.0.1:1" in result.stderr
