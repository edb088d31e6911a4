"""Database functions Django does not ship in the form Tailor needs."""

import orjson
from django.db import connection
from django.db.models import CharField, Field, ForeignObject, Func, IntegerField, Lookup, Model, Value
from django.db.models.functions import SHA256


class Sha256Hex(Func):
    """Hex SHA-256 of a text, as hashlib computes it. Django's SHA256 needs the
    pgcrypto extension on Postgres; the built-in sha256() (Postgres 11+) does not."""

    function = "SHA256"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="ENCODE(SHA256(CONVERT_TO(%(expressions)s, 'UTF8')), 'hex')", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return SHA256(*self.source_expressions).as_sqlite(compiler, connection, **extra)


class RuntimeValue(Func):
    """A value the Postgres planner sees only at run time: `(SELECT value)`, computed once
    as an InitPlan. The planner then estimates a comparison with it by its default
    selectivity instead of the column's histogram, which for "in the last 10 minutes" is
    always stale on a table that grows by the minute: it took a few recent rows for the
    tens of thousands there were, and so scanned all of them to check 2,000 customers."""

    template = "(SELECT %(expressions)s)"

    def __init__(self, value, output_field: Field):
        super().__init__(Value(value, output_field=output_field), output_field=output_field)


# --- many rows in one statement --------------------------------------------------------------
# On Postgres, the rows travel as one JSON document unpacked by jsonb_to_recordset: one
# parameter whatever their number, serialized in C by orjson and parsed in C by Postgres.
# bulk_create and bulk_update build and quote a parameter per value in Python (for 2,000
# rows of twenty columns, 0.7 s of a worker's CPU against 0.05 s).


def rows_upsert(model: type[Model], rows: list[Model], *, unique_fields: list[str], update_fields: list[str]) -> None:
    """Insert `rows`, or update `update_fields` of those whose `unique_fields` already exist."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows, update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields)
        return
    quote = connection.ops.quote_name
    conflict = ", ".join(quote(model._meta.get_field(name).column) for name in unique_fields)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (quote(model._meta.get_field(n).column) for n in update_fields))
    _insert(model, rows, with_keys=bool({model._meta.pk.name} & set(unique_fields)),
            conflict=f"({conflict}) DO UPDATE SET {updates}")  # fmt: skip


def rows_insert_new(model: type[Model], rows: list[Model]) -> None:
    """Insert `rows`; those that would break a unique constraint are left out, silently."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows, ignore_conflicts=True)
        return
    _insert(model, rows, with_keys=False, conflict="DO NOTHING")


def _insert(model: type[Model], rows: list[Model], *, with_keys: bool, conflict: str) -> None:
    fields = [f for f in model._meta.concrete_fields if with_keys or not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    _execute(
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
        f"SELECT {columns} FROM {_recordset(fields)} ON CONFLICT {conflict}",
        _document(fields, rows, add=True),
    )


def rows_update(model: type[Model], rows: list[Model], *, fields: list[str]) -> None:
    """Write `fields` of rows that exist, matched by primary key."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(rows, fields, batch_size=500)
        return
    pk = model._meta.pk
    written = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in written)
    _execute(
        f"UPDATE {quote(model._meta.db_table)} AS t SET {sets} FROM {_recordset([pk, *written])} "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}",
        _document([pk, *written], rows, add=False),
    )


def _recordset(fields: list[Field]) -> str:
    quote = connection.ops.quote_name
    # rel_db_type: what a value of the column is (an id column's "bigint", not its identity).
    columns = ", ".join(f"{quote(f.column)} {f.rel_db_type(connection)}" for f in fields)
    return f"jsonb_to_recordset(%s::jsonb) AS v({columns})"


def _document(fields: list[Field], rows: list[Model], *, add: bool) -> str:
    # What bulk_create would write: auto_now times stamped by their pre_save, every other
    # value as the row holds it (read directly: a pre_save call per value is half the cost).
    stamped = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    plain = [(f.column, f.attname) for f in fields if f not in stamped]
    documents = []
    for row in rows:
        values = {column: getattr(row, attname) for column, attname in plain}
        values.update((f.column, f.pre_save(row, add)) for f in stamped)
        documents.append(values)
    return orjson.dumps(documents, default=str).decode()


def _execute(sql: str, document: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, [document])


class AnyOf(Lookup):
    """`field__any_of=ids`: the field is one of many integers, sent as one parameter.

    `__in` sends a parameter per id, each built and quoted in Python: for the 2,000 ids of
    a processed batch, 15 ms of CPU a list, and a segment re-check has several lists."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*params, "{" + ",".join(map(str, self.rhs)) + "}"]
        return f"{lhs} IN (SELECT value FROM json_each(%s))", [*params, orjson.dumps(self.rhs).decode()]


IntegerField.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
