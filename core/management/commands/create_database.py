import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql


class Command(BaseCommand):
    help = "Create the Postgres database named in DATABASE_URL if it does not exist yet (no-op for SQLite)."

    def handle(self, *args, **options):
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            return
        params = {"host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None}
        if db.get("PASSWORD"):
            params["password"] = db["PASSWORD"]
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                    self.stdout.write(f"Created database {db['NAME']}.")
        except psycopg.OperationalError as exc:
            raise CommandError(
                f"Cannot create database {db['NAME']!r} on {params['host']}:{params['port']}: "
                f"{str(exc).strip().splitlines()[0]}. Check DATABASE_URL and that PostgreSQL is running."
            ) from exc
