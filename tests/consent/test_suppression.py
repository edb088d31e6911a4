import hashlib

import pytest
from django.contrib.auth import get_user_model

from consent.models import Suppression, SuppressionReason
from consent.selectors import address_hash, can_email, customers_emailable, is_suppressed
from consent.services import suppression_add, suppression_lift
from core.errors import ValidationError
from personalization.models import Customer
from tests.consent.conftest import grant
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(root)
    return client


# --- the hash ---------------------------------------------------------------------


def test_an_address_hash_ignores_case_and_surrounding_spaces():
    assert address_hash("  Ada@Example.COM\n") == address_hash("ada@example.com")


def test_an_address_hash_is_the_sha256_hex_digest_of_the_normalized_address():
    assert address_hash("Ada@Example.com") == hashlib.sha256(b"ada@example.com").hexdigest()


def test_different_addresses_have_different_hashes():
    assert address_hash("ada@example.com") != address_hash("ada@example.org")


# --- adding and lifting -----------------------------------------------------------


def test_a_complaint_after_an_unsubscribe_replaces_it():
    suppression_add(email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBE)
    suppression_add(email="ada@example.com", reason=SuppressionReason.COMPLAINT, note="FBL report")
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.note) == (SuppressionReason.COMPLAINT, "FBL report")


def test_an_unsubscribe_after_a_complaint_keeps_the_complaint():
    suppression_add(email="ada@example.com", reason=SuppressionReason.COMPLAINT, note="FBL report")
    suppression_add(email="ADA@example.com ", reason=SuppressionReason.UNSUBSCRIBE)
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.note) == (SuppressionReason.COMPLAINT, "FBL report")


def test_an_unknown_reason_is_refused():
    with pytest.raises(ValidationError, match="Unknown reason 'annoyed'"):
        suppression_add(email="ada@example.com", reason="annoyed")
    assert not Suppression.objects.exists()


def test_lifting_for_reasons_other_than_the_suppressions_own_leaves_it_in_place():
    suppression_add(email="ada@example.com", reason=SuppressionReason.COMPLAINT)
    reasons = (SuppressionReason.UNSUBSCRIBE, SuppressionReason.ERASURE)
    lifted = suppression_lift(email="ada@example.com", reasons=reasons)
    assert lifted is False
    assert is_suppressed("ada@example.com")


def test_lifting_for_the_suppressions_own_reason_removes_it():
    suppression_add(email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBE)
    lifted = suppression_lift(email=" Ada@Example.com", reasons=(SuppressionReason.UNSUBSCRIBE,))
    assert lifted is True
    assert not is_suppressed("ada@example.com")


def test_lifting_one_address_leaves_the_others_suppressed():
    suppression_add(email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBE)
    suppression_add(email="bob@example.com", reason=SuppressionReason.UNSUBSCRIBE)
    suppression_lift(email="ada@example.com", reasons=(SuppressionReason.UNSUBSCRIBE,))
    assert is_suppressed("bob@example.com")


# --- what a suppression blocks ----------------------------------------------------


def test_a_suppressed_address_cannot_be_emailed_even_after_a_fresh_api_grant(api_client, customer):
    suppression_add(email="ada@example.com", reason=SuppressionReason.COMPLAINT)
    response = api_client.post(
        "/api/v1/consent/grant",
        {"email": "ada@example.com", "purpose": "email_marketing", "policy_version": "3", "wording": "Yes."},
        format="json",
    )
    assert response.status_code == 201
    assert not can_email(Customer.objects.get(pk=customer.pk))
    assert api_client.get("/api/v1/consent/", {"email": "ada@example.com"}).json()["suppressed"] is True


def test_a_subscribed_customer_can_be_emailed_again_once_the_suppression_is_lifted(subscribed):
    suppression_add(email="ada@example.com", reason=SuppressionReason.UNSUBSCRIBE)
    assert not can_email(subscribed)
    suppression_lift(email="ada@example.com", reasons=(SuppressionReason.UNSUBSCRIBE,))
    assert can_email(subscribed)


def test_customers_emailable_leaves_out_a_suppressed_address(subscribed):
    other = CustomerFactory(email="bob@example.com")
    grant(other)
    suppression_add(email=" ADA@Example.com ", reason=SuppressionReason.HARD_BOUNCE)
    assert list(customers_emailable(customers=Customer.objects.all())) == [other]


def test_customers_emailable_leaves_out_a_suppressed_address_for_a_topic_too(subscribed):
    suppression_add(email="ada@example.com", reason=SuppressionReason.MANUAL)
    assert not customers_emailable(customers=Customer.objects.all(), topic="newsletter").exists()


# --- the admin --------------------------------------------------------------------


def test_the_admin_add_form_takes_an_address_and_stores_only_its_hash(admin_client):
    response = admin_client.post(
        "/admin/consent/suppression/add/", {"email": "Eve@Example.com", "reason": "manual", "note": "asked by phone"}
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert suppression.address_hash == address_hash("eve@example.com")
    assert (suppression.reason, suppression.note) == ("manual", "asked by phone")
    values = [str(getattr(suppression, field.attname)) for field in Suppression._meta.concrete_fields]
    assert not [value for value in values if "eve" in value.lower()]


def test_the_admin_add_form_keeps_the_stronger_reason_of_an_address_already_suppressed(admin_client):
    suppression_add(email="eve@example.com", reason=SuppressionReason.COMPLAINT)
    admin_client.post("/admin/consent/suppression/add/", {"email": "eve@example.com", "reason": "unsubscribe"})
    assert Suppression.objects.get().reason == SuppressionReason.COMPLAINT


def test_the_admin_finds_a_suppression_by_its_address(admin_client):
    eve = suppression_add(email="eve@example.com", reason=SuppressionReason.MANUAL)
    suppression_add(email="mallory@example.com", reason=SuppressionReason.MANUAL)
    response = admin_client.get("/admin/consent/suppression/", {"q": " Eve@Example.com"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [eve]


def test_the_admin_list_shows_no_address(admin_client):
    suppression_add(email="eve@example.com", reason=SuppressionReason.MANUAL)
    html = admin_client.get("/admin/consent/suppression/").content.decode()
    assert address_hash("eve@example.com") in html
    assert "eve@example.com" not in html
