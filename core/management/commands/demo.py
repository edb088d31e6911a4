import secrets
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = (
        "Set up and start Tailor with a demo store: migrate, seed when empty, create an admin login, "
        "then serve (ASGI) with a Celery worker and beat when REDIS_URL is set."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        # SQLite takes one writer at a time: one web process in embedded mode.
        parser.add_argument("--web-workers", type=int, default=2 if settings.DATABASE_URL else 1)
        parser.add_argument("--no-serve", action="store_true", help="Set up and print the login, start nothing.")

    def handle(self, *args, host, port, web_workers, no_serve, **options):
        from core.runtime import runtime_describe

        self.stdout.write(runtime_describe())
        call_command("create_database")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("seed_demo", if_empty=True)
        self._catch_up()
        password = self._admin_password()
        url = f"http://{host}:{port}"
        self.stdout.write(f"Admin login: {ADMIN_USERNAME} / {password}  (kept in {self._password_file()})")
        if no_serve:
            return
        processes = self._start(host=host, port=port, web_workers=web_workers)
        if self._wait_healthy(url, processes):
            self.stdout.write(self.style.SUCCESS(f"Tailor is up: {url}/admin/  (API docs: {url}/api/docs/)"))
            self.stdout.write("Press Ctrl-C to stop.")
        self._supervise(processes)

    def _catch_up(self) -> None:
        """Fold the demo's events into profiles, traits and segments and train the models
        before serving, so that the first page shows them (in embedded mode no worker runs
        to do it later)."""
        from personalization.demo_store import demo_store_catch_up

        caught_up = demo_store_catch_up()
        for version in caught_up.versions:
            self.stdout.write(f"{version}: {version.get_status_display()}. {version.decision}")
        if caught_up.events_processed:
            self.stdout.write(f"Processed {caught_up.events_processed} events into profiles, traits and segments "
                              f"in {caught_up.seconds:.0f} s.")  # fmt: skip

    def _password_file(self):
        return settings.VAR_DIR / "demo" / "admin-password"

    def _admin_password(self) -> str:
        """The demo admin's password: made once, kept in var/demo, reused on later runs."""
        path = self._password_file()
        password = path.read_text().strip() if path.exists() else secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(
            username=ADMIN_USERNAME, defaults={"email": "admin@example.com"}
        )
        if not user.check_password(password) or not (user.is_staff and user.is_superuser):
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password

    def _start(self, *, host: str, port: int, web_workers: int) -> list[subprocess.Popen]:
        python = sys.executable
        commands = [
            [python, "-m", "uvicorn", "config.asgi:application", "--host", host, "--port", str(port),
             "--workers", str(web_workers), "--lifespan", "off", "--no-access-log"],
        ]  # fmt: skip
        if settings.REDIS_URL:
            commands += [
                [python, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--concurrency", "2"],
                [python, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"],
            ]
        return [subprocess.Popen(command, cwd=settings.BASE_DIR) for command in commands]

    def _wait_healthy(self, url: str, processes: list[subprocess.Popen], timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                return False
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    return True
            except OSError:
                time.sleep(0.5)
        return False

    def _supervise(self, processes: list[subprocess.Popen]) -> None:
        """Run until Ctrl-C or until one process stops; then stop the others."""
        try:
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            self.stderr.write("A Tailor process stopped; stopping the others.")
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
