import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.forms.models import model_to_dict

from consent.models import ConsentRecord, ConsentSource, DataSubjectRequest, Decision, PreferenceChange, Purpose, Topic
from consent.services import consent_withdraw, data_request_create, preferences_change
from core.roles import ROLES
from personalization.models import Customer
from tests.consent.conftest import grant
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('owned')</script>"


@pytest.fixture
def admin_client(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(root)
    return client


@pytest.fixture
def record(customer):
    return grant(customer, wording="Yes, email me about new shoes.", proof={"ip": "198.51.100.1"})


def record_url(record, action="change"):
    return f"/admin/consent/consentrecord/{record.pk}/{action}/"


# --- the ledger cannot be edited --------------------------------------------------


def test_a_consent_record_opens_read_only_without_a_save_button(admin_client, record):
    response = admin_client.get(record_url(record))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html
    assert "Yes, email me about new shoes." in html


def test_posting_to_a_consent_records_change_page_changes_nothing(admin_client, record):
    before = model_to_dict(ConsentRecord.objects.get(pk=record.pk))
    response = admin_client.post(
        record_url(record),
        {
            "customer": record.customer_id,
            "purpose": Purpose.TRACKING,
            "decision": Decision.WITHDRAWN,
            "policy_version": "forged",
            "wording": "I never said yes.",
            "_save": "Save",
        },
    )
    assert response.status_code == 403
    assert model_to_dict(ConsentRecord.objects.get(pk=record.pk)) == before


def test_a_consent_record_cannot_be_deleted_from_the_admin(admin_client, record):
    assert admin_client.get(record_url(record, "delete")).status_code == 403
    assert admin_client.post(record_url(record, "delete"), {"post": "yes"}).status_code == 403
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_the_consent_record_list_offers_no_delete_action(admin_client, record):
    response = admin_client.get("/admin/consent/consentrecord/")
    assert response.status_code == 200
    assert "delete_selected" not in response.content.decode()
    admin_client.post(
        "/admin/consent/consentrecord/", {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"}
    )
    assert ConsentRecord.objects.filter(pk=record.pk).exists()


def test_a_decision_added_in_the_admin_is_recorded_with_source_admin_and_the_staff_member_as_actor(
    admin_client, customer
):
    response = admin_client.post(
        "/admin/consent/consentrecord/add/",
        {
            "customer": customer.pk,
            "purpose": Purpose.EMAIL_MARKETING,
            "topic": "",
            "decision": Decision.GRANTED,
            "policy_version": "2",
            "wording": "Said yes on the phone.",
            "note": "Phone call of 3 May",
        },
    )
    assert response.status_code == 302
    record = ConsentRecord.objects.get()
    assert (record.customer, record.purpose, record.decision) == (customer, "email_marketing", "granted")
    assert (record.source, record.actor) == (ConsentSource.ADMIN, "staff:root")
    assert (record.policy_version, record.wording) == ("2", "Said yes on the phone.")
    assert record.proof["note"] == "Phone call of 3 May"


def test_a_topic_added_in_the_admin_with_the_tracking_purpose_is_refused(admin_client, customer):
    response = admin_client.post(
        "/admin/consent/consentrecord/add/",
        {
            "customer": customer.pk,
            "purpose": Purpose.TRACKING,
            "topic": Topic.objects.get(slug="newsletter").pk,
            "decision": Decision.GRANTED,
            "policy_version": "2",
            "wording": "Yes.",
        },
    )
    assert response.status_code == 200
    assert not ConsentRecord.objects.exists()


def test_an_email_grant_added_in_the_admin_for_a_customer_without_an_address_is_refused_on_the_page(admin_client):
    no_address = CustomerFactory(email="")
    response = admin_client.post(
        "/admin/consent/consentrecord/add/",
        {
            "customer": no_address.pk,
            "purpose": Purpose.EMAIL_MARKETING,
            "topic": "",
            "decision": Decision.GRANTED,
            "policy_version": "2",
            "wording": "Said yes on the phone.",
        },
    )
    assert response.status_code == 200
    assert "This customer has no email address" in response.content.decode()
    assert not ConsentRecord.objects.exists()


# --- other evidence is read-only --------------------------------------------------


@pytest.fixture
def preference_change(customer):
    return preferences_change(
        customer=customer, source=ConsentSource.PREFERENCE_CENTER, actor="person", proof={}, frequency="weekly"
    )


def test_preference_changes_open_read_only_in_the_admin(admin_client, preference_change):
    url = f"/admin/consent/preferencechange/{preference_change.pk}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.post(url, {"frequency": "daily", "source": "admin", "actor": "x"}).status_code == 403
    assert PreferenceChange.objects.get(pk=preference_change.pk).frequency == "weekly"


def test_preference_changes_cannot_be_added_or_deleted_in_the_admin(admin_client, preference_change):
    assert admin_client.get("/admin/consent/preferencechange/add/").status_code == 403
    url = f"/admin/consent/preferencechange/{preference_change.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert PreferenceChange.objects.filter(pk=preference_change.pk).exists()


@pytest.fixture
def data_request(customer):
    return data_request_create(kind="export", customer=customer, requested_by="staff:priya")


def test_data_subject_requests_open_read_only_in_the_admin(admin_client, data_request):
    url = f"/admin/consent/datasubjectrequest/{data_request.pk}/change/"
    response = admin_client.get(url)
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.post(url, {"kind": "erasure", "status": "completed"}).status_code == 403
    assert DataSubjectRequest.objects.get(pk=data_request.pk).status == "pending"


def test_data_subject_requests_cannot_be_added_or_deleted_in_the_admin(admin_client, data_request):
    assert admin_client.get("/admin/consent/datasubjectrequest/add/").status_code == 403
    url = f"/admin/consent/datasubjectrequest/{data_request.pk}/delete/"
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert DataSubjectRequest.objects.filter(pk=data_request.pk).exists()


# --- the customer page ------------------------------------------------------------


def customer_page(admin_client, customer) -> str:
    response = admin_client.get(f"/admin/personalization/customer/{customer.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_customer_page_shows_the_consent_timeline(admin_client, subscribed):
    consent_withdraw(customer=subscribed, purpose=Purpose.EMAIL_MARKETING, topic="offers",
                     source=ConsentSource.UNSUBSCRIBE_LINK, actor="person", policy_version="1")  # fmt: skip
    html = customer_page(admin_client, subscribed)
    assert "<td>Email marketing: Granted</td>" in html
    assert "<td>Email marketing / Newsletter: Granted</td>" in html
    assert "<td>Email marketing / Offers: Withdrawn</td>" in html
    assert "<td>Unsubscribe link</td><td>person</td>" in html


def test_the_customer_page_shows_the_current_consent_state(admin_client, subscribed):
    consent_withdraw(customer=subscribed, purpose=Purpose.EMAIL_MARKETING, topic="offers",
                     source=ConsentSource.UNSUBSCRIBE_LINK, actor="person")  # fmt: skip
    html = customer_page(admin_client, subscribed)
    assert "<tr><th>Email marketing</th><td>granted</td></tr>" in html
    assert "<tr><th>Behavioral tracking</th><td>never asked</td></tr>" in html
    assert "<tr><th>topic offers</th><td>withdrawn</td></tr>" in html
    assert "<tr><th>address suppressed</th><td>no</td></tr>" in html


def test_script_in_a_consent_records_wording_is_shown_escaped(admin_client, customer):
    record = grant(customer, wording=SCRIPT)
    html = admin_client.get(record_url(record)).content.decode()
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(" in html


def test_script_in_a_customers_name_is_shown_escaped_on_the_customer_page_and_list(admin_client):
    person = CustomerFactory(first_name=SCRIPT, last_name="Smith")
    grant(person, wording=SCRIPT)
    changelist = admin_client.get("/admin/personalization/customer/").content.decode()
    for html in (customer_page(admin_client, person), changelist):
        assert SCRIPT not in html
        assert "&lt;script&gt;alert(" in html


def test_script_in_a_consent_records_policy_version_is_escaped_in_the_customer_timeline(admin_client, customer):
    grant(customer, policy_version="<b>v1</b>")
    html = customer_page(admin_client, customer)
    assert "<b>v1</b>" not in html
    assert "<td>&lt;b&gt;v1&lt;/b&gt;</td>" in html


# --- the customer list filter -----------------------------------------------------


@pytest.fixture
def people(db):
    granted = CustomerFactory(email="granted@example.com")
    grant(granted)
    withdrawn = CustomerFactory(email="withdrawn@example.com")
    grant(withdrawn)
    consent_withdraw(customer=withdrawn, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="t")
    regranted = CustomerFactory(email="regranted@example.com")
    consent_withdraw(customer=regranted, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="t")
    grant(regranted)
    never = CustomerFactory(email="never@example.com")
    grant(never, purpose=Purpose.TRACKING)
    grant(never, topic="newsletter")  # a topic alone is not the purpose
    return {"granted": {granted, regranted}, "withdrawn": {withdrawn}, "never": {never}}


@pytest.mark.parametrize("value", ["granted", "withdrawn", "never"])
def test_the_customer_list_filters_by_the_latest_email_consent(admin_client, people, value):
    response = admin_client.get("/admin/personalization/customer/", {"email_consent": value})
    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == people[value]


# --- roles ------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_role_groups_exist_after_migrate_with_exactly_their_listed_permissions(db, role):
    group = Group.objects.get(name=role)
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert granted == set(ROLES[role])


def test_privacy_officers_may_export_and_erase_a_person(privacy_officer):
    assert privacy_officer.has_perm("consent.export_subject_data")
    assert privacy_officer.has_perm("consent.erase_subject")


def test_marketers_may_neither_export_nor_erase_a_person(marketer):
    assert not marketer.has_perm("consent.export_subject_data")
    assert not marketer.has_perm("consent.erase_subject")


def test_marketers_may_not_add_consent_records_in_the_admin(client, marketer):
    client.force_login(marketer)
    assert client.get("/admin/consent/consentrecord/").status_code == 200
    assert client.get("/admin/consent/consentrecord/add/").status_code == 403


# --- customers are erased, not deleted --------------------------------------------


def test_customers_cannot_be_deleted_from_the_admin(admin_client, customer):
    url = f"/admin/personalization/customer/{customer.pk}/delete/"
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_the_customer_list_offers_no_delete_action(admin_client, customer):
    html = admin_client.get("/admin/personalization/customer/").content.decode()
    assert "delete_selected" not in html
    assert 'value="erase"' in html
