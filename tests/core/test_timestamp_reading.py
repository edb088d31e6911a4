"""Timestamps read from Postgres through psycopg's C loader are the datetimes Django's
own loader gives: aware, in UTC, to the microsecond."""

import datetime

import pytest
from django.db import connection
from psycopg.pq import Format

from core.postgres import UtcTimestamptzLoader
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a Postgres connection's loaders"),
]


def read(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_a_postgres_connection_reads_timestamps_with_the_c_loader():
    connection.ensure_connection()
    oid = connection.connection.adapters.types["timestamptz"].oid

    assert connection.connection.adapters.get_loader(oid, Format.TEXT) is UtcTimestamptzLoader


def test_a_timestamp_given_with_an_offset_is_read_in_utc():
    value = read("SELECT '2026-06-01 12:00:00.123456+02'::timestamptz")

    assert value == datetime.datetime(2026, 6, 1, 10, 0, 0, 123456, tzinfo=datetime.UTC)
    assert value.tzinfo is datetime.UTC


def test_a_model_reads_back_the_moment_it_saved():
    moment = datetime.datetime(2026, 3, 29, 1, 30, 0, 999999, tzinfo=datetime.UTC)
    customer = CustomerFactory(last_seen_at=moment)

    customer.refresh_from_db()

    assert customer.last_seen_at == moment and customer.last_seen_at.tzinfo is datetime.UTC


def test_a_null_timestamp_is_read_as_none():
    assert read("SELECT NULL::timestamptz") is None
