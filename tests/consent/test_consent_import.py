from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consent.models import ConsentRecord, ConsentSource, Decision, Purpose
from consent.services import consents_import_csv
from core.errors import ValidationError
from personalization.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/consent/consentrecord/import/"

BAD_ROWS = (
    "email,purpose,decision,topic,recorded_at\n"
    "good@example.com,email_marketing,granted,,\n"  # line 2
    "not-an-email,email_marketing,granted,,\n"  # line 3
    "bob@example.com,newsletters,granted,,\n"  # line 4
    "carol@example.com,email_marketing,granted,weekly-digest,\n"  # line 5
    "dan@example.com,tracking,granted,newsletter,\n"  # line 6
    "erin@example.com,email_marketing,granted,,2024-05-01T10:00:00\n"  # line 7
    "frank@example.com,email_marketing,granted,,2999-01-01T00:00:00+00:00\n"  # line 8
    "also-good@example.com,tracking,withdrawn,,\n"  # line 9
)


def import_csv(content: str | bytes, *, source=ConsentSource.IMPORT, policy_version="2024-05", actor="staff:priya"):
    if isinstance(content, str):
        content = content.encode()
    return consents_import_csv(content=content, source=source, policy_version=policy_version, actor=actor)


def refused(content: str | bytes, **options) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        import_csv(content, **options)
    return caught.value


# --- a good file ------------------------------------------------------------------


def test_a_valid_file_records_one_decision_per_row_with_the_given_source_policy_version_and_actor(customer):
    import_csv(
        "email,purpose,decision\n"
        "ada@example.com,email_marketing,granted\n"
        "ada@example.com,tracking,withdrawn\n"
        "bob@example.com,personalization,granted\n",
        source=ConsentSource.SIGNUP_FORM,
        policy_version="2024-05",
        actor="staff:priya",
    )
    records = ConsentRecord.objects.order_by("id")
    assert [(r.customer.email, r.purpose, r.decision) for r in records] == [
        ("ada@example.com", Purpose.EMAIL_MARKETING, Decision.GRANTED),
        ("ada@example.com", Purpose.TRACKING, Decision.WITHDRAWN),
        ("bob@example.com", Purpose.PERSONALIZATION, Decision.GRANTED),
    ]
    assert {(r.source, r.policy_version, r.actor) for r in records} == {
        (ConsentSource.SIGNUP_FORM, "2024-05", "staff:priya")
    }
    assert ConsentRecord.objects.filter(customer=customer).count() == 2


def test_an_unknown_address_gets_a_new_customer_under_its_normalized_address(customer):
    import_csv("email,purpose,decision\n  Bob@Example.COM ,email_marketing,granted\n")
    bob = Customer.objects.get(email="bob@example.com")
    assert ConsentRecord.objects.get().customer == bob
    assert Customer.objects.count() == 2


def test_an_address_in_another_case_is_recorded_for_the_existing_customer(customer):
    import_csv("email,purpose,decision\nADA@example.com,email_marketing,granted\n")
    assert ConsentRecord.objects.get().customer == customer
    assert Customer.objects.count() == 1


def test_the_import_reports_how_many_decisions_and_new_customers_it_recorded(customer):
    imported = import_csv(
        "email,purpose,decision\n"
        "ada@example.com,email_marketing,granted\n"
        "bob@example.com,email_marketing,granted\n"
        "bob@example.com,tracking,granted\n"
        "carol@example.com,email_marketing,withdrawn\n"
    )
    assert (imported.records, imported.customers_created) == (4, 2)


def test_the_optional_topic_and_recorded_at_columns_are_recorded(customer):
    import_csv(
        "email,purpose,decision,topic,recorded_at\n"
        "ada@example.com,email_marketing,granted,newsletter,2024-03-01T09:30:00+01:00\n"
        "ada@example.com,tracking,granted,,\n"
    )
    with_topic = ConsentRecord.objects.get(purpose=Purpose.EMAIL_MARKETING)
    assert with_topic.topic.slug == "newsletter"
    assert with_topic.recorded_at == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
    without_topic = ConsentRecord.objects.get(purpose=Purpose.TRACKING)
    assert without_topic.topic is None


def test_a_row_without_recorded_at_is_recorded_at_the_time_of_the_import(customer):
    before = datetime.now(UTC)
    import_csv("email,purpose,decision,recorded_at\nada@example.com,tracking,granted,\n")
    assert before <= ConsentRecord.objects.get().recorded_at <= datetime.now(UTC)


def test_a_file_starting_with_a_utf8_bom_is_accepted(customer):
    imported = import_csv(b"\xef\xbb\xbf" + b"email,purpose,decision\nada@example.com,email_marketing,granted\n")
    assert imported.records == 1
    assert ConsentRecord.objects.get().customer == customer


def test_column_names_are_matched_whatever_their_case_and_surrounding_spaces(customer):
    imported = import_csv(" Email , PURPOSE ,Decision\nada@example.com,email_marketing,granted\n")
    assert imported.records == 1


# --- a file that is refused whole -------------------------------------------------


def test_a_file_without_the_decision_column_is_refused_naming_it(customer):
    error = refused("email,purpose\nada@example.com,email_marketing\n")
    assert "missing decision" in error.message
    assert error.details == {"missing": ["decision"], "unknown": []}
    assert not ConsentRecord.objects.exists()


def test_a_file_with_an_unknown_column_is_refused_naming_it(customer):
    error = refused("email,purpose,decision,consent_date\nada@example.com,email_marketing,granted,2024-01-01\n")
    assert "unknown consent_date" in error.message
    assert error.details == {"missing": [], "unknown": ["consent_date"]}
    assert not ConsentRecord.objects.exists()


def test_a_latin1_file_is_refused_with_the_offending_byte_and_its_position(db):
    content = "email,purpose,decision\nrenée@example.com,email_marketing,granted\n".encode("latin-1")
    position = content.index(b"\xe9")
    error = refused(content)
    assert "not UTF-8" in error.message
    assert f"the byte 0xe9 at position {position}" in error.message
    assert not ConsentRecord.objects.exists()
    assert not Customer.objects.exists()


def test_every_bad_row_is_reported_with_its_line_number_and_reason(db):
    error = refused(BAD_ROWS)
    assert error.message.startswith("6 row(s) cannot be imported; nothing was imported.")
    assert len(error.details) == 6
    line_3, line_4, line_5, line_6, line_7, line_8 = error.details
    assert line_3 == "line 3: 'not-an-email' is not an email address"
    assert line_4.startswith("line 4: unknown purpose 'newsletters'")
    assert line_5.startswith("line 5: unknown topic 'weekly-digest'")
    assert line_6 == "line 6: a topic goes with the email_marketing purpose only"
    assert line_7 == "line 7: recorded_at '2024-05-01T10:00:00' is not an ISO 8601 time with a zone"
    assert line_8 == "line 8: recorded_at is in the future"


def test_a_file_with_bad_rows_imports_nothing_not_even_its_good_rows(customer):
    refused(BAD_ROWS)
    assert not ConsentRecord.objects.exists()
    assert list(Customer.objects.all()) == [customer]


def test_a_row_with_more_cells_than_the_header_is_reported_as_a_bad_row(customer):
    error = refused(
        "email,purpose,decision\nada@example.com,email_marketing,granted\nbob@example.com,email_marketing,granted,yes\n"
    )
    assert [problem.split(":")[0] for problem in error.details] == ["line 3"]
    assert not ConsentRecord.objects.exists()


def test_an_import_without_a_policy_version_is_refused(customer):
    error = refused("email,purpose,decision\nada@example.com,email_marketing,granted\n", policy_version="  ")
    assert "policy" in error.message
    assert not ConsentRecord.objects.exists()


def test_an_import_from_an_unknown_source_is_refused_naming_it(customer):
    error = refused("email,purpose,decision\nada@example.com,email_marketing,granted\n", source="fax")
    assert "Unknown source 'fax'" in error.message
    assert not ConsentRecord.objects.exists()


def test_an_empty_file_is_refused(db):
    error = refused(b"")
    assert "The file is empty" in error.message


def test_a_file_with_only_a_header_is_refused(db):
    error = refused("email,purpose,decision\n")
    assert error.message == "The file has a header but no rows."


# --- through the admin ------------------------------------------------------------


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("consents.csv", text.encode(), content_type="text/csv")


def test_a_privacy_officer_gets_the_import_form_in_the_admin(client, privacy_officer):
    client.force_login(privacy_officer)
    response = client.get(IMPORT_URL)
    assert response.status_code == 200
    assert 'type="file"' in response.content.decode()


def test_a_privacy_officer_imports_a_file_through_the_admin(client, privacy_officer, customer):
    client.force_login(privacy_officer)
    response = client.post(
        IMPORT_URL,
        {
            "file": upload(
                "email,purpose,decision\nada@example.com,email_marketing,granted\nbob@example.com,tracking,granted\n"
            ),
            "source": ConsentSource.IMPORT,
            "policy_version": "2024-05",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/admin/consent/consentrecord/"
    assert "Imported 2 decisions; 1 new customer profiles." in response.content.decode()
    records = ConsentRecord.objects.order_by("id")
    assert [(r.customer.email, r.source, r.policy_version, r.actor) for r in records] == [
        ("ada@example.com", ConsentSource.IMPORT, "2024-05", "staff:priya"),
        ("bob@example.com", ConsentSource.IMPORT, "2024-05", "staff:priya"),
    ]


def test_a_marketer_may_not_open_the_import_page(client, marketer):
    client.force_login(marketer)
    assert client.get(IMPORT_URL).status_code == 403


def test_a_marketer_may_not_import_a_file(client, marketer, customer):
    client.force_login(marketer)
    response = client.post(
        IMPORT_URL,
        {
            "file": upload("email,purpose,decision\nada@example.com,email_marketing,granted\n"),
            "source": ConsentSource.IMPORT,
            "policy_version": "2024-05",
        },
    )
    assert response.status_code == 403
    assert not ConsentRecord.objects.exists()


def test_a_bad_file_uploaded_in_the_admin_shows_every_problem_and_imports_nothing(client, privacy_officer):
    client.force_login(privacy_officer)
    response = client.post(
        IMPORT_URL, {"file": upload(BAD_ROWS), "source": ConsentSource.IMPORT, "policy_version": "2024-05"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "6 row(s) cannot be imported; nothing was imported." in html
    for line in (3, 4, 5, 6, 7, 8):
        assert f"<li>line {line}: " in html
    assert not ConsentRecord.objects.exists()
    assert not Customer.objects.exists()


def test_a_file_with_wrong_columns_uploaded_in_the_admin_shows_the_message_and_imports_nothing(client, privacy_officer):
    client.force_login(privacy_officer)
    response = client.post(
        IMPORT_URL,
        {
            "file": upload("email,purpose\nada@example.com,email_marketing\n"),
            "source": ConsentSource.IMPORT,
            "policy_version": "2024-05",
        },
    )
    assert response.status_code == 200
    assert "missing decision" in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_existing_customers_are_not_duplicated_by_an_import(customer):
    CustomerFactory(email="bob@example.com")
    imported = import_csv(
        "email,purpose,decision\nada@example.com,tracking,granted\nbob@example.com,tracking,granted\n"
    )
    assert imported.customers_created == 0
    assert Customer.objects.count() == 2
