"""Append-only models: records that are written once and never changed.

The consent ledger is evidence (GDPR Art. 7(1): consent must be provable), so
its rows cannot be updated or deleted by the application: not through a
model's save() or delete(), not through a queryset's update() or delete(), and
on Postgres not even through raw SQL, which a trigger refuses. Erasure of a
person is the one documented exception: inside `erasure_window()` the guards
step aside for that transaction only.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.db import connection, models, transaction

from core.errors import Conflict

_erasing: ContextVar[bool] = ContextVar("tailor_erasing", default=False)

TRIGGER_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION tailor_refuse_change() RETURNS trigger AS $$
BEGIN
    IF current_setting('tailor.erasure', true) = 'on' THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    RAISE EXCEPTION '% is append-only: its rows are never updated or deleted (erasure is the one exception)',
        TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;
"""


class AppendOnlyViolation(Conflict):
    code = "append_only"


def _refuse_unless_erasing(model) -> None:
    if not _erasing.get():
        raise AppendOnlyViolation(
            f"{model._meta.verbose_name_plural.capitalize()} are append-only: a record is never changed or "
            "deleted. Record a new decision instead."
        )


def _set_database_erasure(on: bool) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Local to the transaction; a savepoint rolled back restores the old value.
            cursor.execute("SELECT set_config('tailor.erasure', %s, true)", ["on" if on else "off"])


@contextmanager
def erasure_window():
    """Within one atomic block, let erasure update and delete append-only rows."""
    with transaction.atomic():
        _set_database_erasure(True)
        token = _erasing.set(True)
        try:
            yield
        finally:
            _erasing.reset(token)
        # Closed explicitly too, for a window opened inside a longer transaction.
        _set_database_erasure(False)


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        _refuse_unless_erasing(self.model)
        return super().update(**kwargs)

    def delete(self):
        _refuse_unless_erasing(self.model)
        return super().delete()

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse_unless_erasing(self.model)
        return super().bulk_update(objs, fields, batch_size=batch_size)


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            _refuse_unless_erasing(type(self))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        _refuse_unless_erasing(type(self))
        return super().delete(*args, **kwargs)


def append_only_trigger(table: str):
    """A migration operation that installs the Postgres guard on `table` (no-op elsewhere)."""
    from django.db import migrations

    def install(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(TRIGGER_FUNCTION_SQL, params=None)  # the SQL holds literal % signs
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tailor_refuse_change()"
            )

    def remove(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")

    return migrations.RunPython(install, remove)
