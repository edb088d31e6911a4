"""Database functions Django does not ship in the form Tailor needs."""

from django.db.models import CharField, Func
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
