"""Real processes for end-to-end tests: the ASGI server (uvicorn, as in
production) and a Celery worker, both on the test database and Redis."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.e2e.browser import chromium

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_env() -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process stopped early:\n{process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class RunningServer:
    def __init__(self, url: str, process: subprocess.Popen):
        self.url, self.process = url, process

    def stop(self) -> str:
        """Stop the server and return what it printed."""
        self.process.terminate()
        try:
            _, stderr = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return stderr


@pytest.fixture
def server(transactional_db):
    """Tailor served by uvicorn in a separate process (two workers, as deployed)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--lifespan", "off", "--no-access-log"],
        cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    running = RunningServer(f"http://127.0.0.1:{port}", process)
    try:
        wait_for(f"{running.url}/healthz", process)
        yield running
    finally:
        if process.poll() is None:
            running.stop()
        sessions_of_other_processes_gone()


def sessions_of_other_processes_gone(timeout: float = 10) -> None:
    """Postgres notices closed connections a moment after their process exits; wait, so that
    the test database can be flushed or dropped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.1)


class RunningWorker:
    def __init__(self, process: subprocess.Popen):
        self.process = process

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a machine dies."""
        self.process.kill()
        self.process.wait(timeout=15)


def worker_start() -> RunningWorker:
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1", "--pool", "solo",
         "--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return RunningWorker(process)


@pytest.fixture
def worker_factory(transactional_db):
    """Start real Celery workers on the test database and broker; all are stopped at the end."""
    started: list[RunningWorker] = []

    def start() -> RunningWorker:
        started.append(worker_start())
        return started[-1]

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.terminate()
            try:
                running.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                running.kill()
    sessions_of_other_processes_gone()


@pytest.fixture
def browser_context(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse
    # database calls here; none of them runs inside that loop, so the guard may step aside.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as context:
        yield context
