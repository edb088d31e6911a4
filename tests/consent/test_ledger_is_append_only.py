"""The consent ledger is evidence: it is written once and never changed (GDPR Art. 7(1))."""

import pytest
from django.db import IntegrityError, connection, transaction

from consent.models import ConsentRecord, PreferenceChange
from consent.services import preferences_change
from core.append_only import AppendOnlyViolation, erasure_window
from tests.consent.conftest import grant

pytestmark = pytest.mark.django_db


def test_the_services_offer_no_way_to_change_a_decision():
    from consent import services

    names = [name for name in services.__all__ if "update" in name or "edit" in name or "delete" in name]
    assert names == []


def test_saving_an_existing_record_is_refused(customer):
    record = grant(customer)
    record.wording = "Something else"
    with pytest.raises(AppendOnlyViolation):
        record.save()
    assert ConsentRecord.objects.get(pk=record.pk).wording == "Yes, email me."


def test_deleting_a_record_is_refused(customer):
    record = grant(customer)
    with pytest.raises(AppendOnlyViolation):
        record.delete()
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_queryset_updates_and_deletes_are_refused(customer):
    grant(customer)
    with pytest.raises(AppendOnlyViolation):
        ConsentRecord.objects.update(decision="withdrawn")
    with pytest.raises(AppendOnlyViolation):
        ConsentRecord.objects.all().delete()
    assert ConsentRecord.objects.get().decision == "granted"


def test_preference_changes_are_append_only_too(customer):
    change = preferences_change(customer=customer, frequency="weekly", source="api", actor="tests", proof={})
    with pytest.raises(AppendOnlyViolation):
        PreferenceChange.objects.filter(pk=change.pk).update(frequency="daily")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_consentrecord SET decision = 'withdrawn'",
        "DELETE FROM consent_consentrecord",
        "UPDATE consent_preferencechange SET frequency = 'daily'",
    ],
)
def test_postgres_refuses_raw_sql_that_would_change_the_ledger(customer, statement):
    grant(customer)
    preferences_change(customer=customer, frequency="weekly", source="api", actor="tests", proof={})
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert ConsentRecord.objects.get().decision == "granted"


def test_the_erasure_window_is_the_one_way_through(customer):
    record = grant(customer)
    with erasure_window():
        ConsentRecord.objects.filter(pk=record.pk).update(proof={})
        with connection.cursor() as cursor:
            cursor.execute("UPDATE consent_consentrecord SET actor = 'system' WHERE id = %s", [record.pk])
    assert ConsentRecord.objects.get(pk=record.pk).actor == "system"


def test_the_erasure_window_closes_with_its_transaction(customer):
    record = grant(customer)
    with erasure_window():
        pass
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consentrecord WHERE id = %s", [record.pk])
    with pytest.raises(AppendOnlyViolation):
        record.delete()
