import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from consent.models import ConsentSource, Purpose
from consent.services import consent_grant
from tests.factories import CustomerFactory


def grant(customer, purpose=Purpose.EMAIL_MARKETING, topic=None, **fields):
    """Record a yes the way the shop's backend would, through the API's service."""
    return consent_grant(
        customer=customer,
        purpose=purpose,
        topic=topic,
        source=fields.pop("source", ConsentSource.API),
        actor=fields.pop("actor", "api-key:tests"),
        policy_version=fields.pop("policy_version", "1"),
        wording=fields.pop("wording", "Yes, email me."),
        **fields,
    )


@pytest.fixture
def customer(db):
    return CustomerFactory(email="ada@example.com", external_id="shop-ada")


@pytest.fixture
def subscribed(customer):
    """A customer who said yes to marketing email, the newsletter and offers."""
    grant(customer)
    grant(customer, topic="newsletter")
    grant(customer, topic="offers")
    return customer


def _staff(username: str, group: str | None):
    user = get_user_model().objects.create_user(username, password="pw-123456789", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def privacy_officer(db):
    return _staff("priya", "Privacy officers")


@pytest.fixture
def marketer(db):
    return _staff("mark", "Marketers")


def aged_token(*, scope: str, payload: dict, days: int) -> str:
    """A genuine token as core.signing makes it, but issued `days` ago."""
    import time

    from django.core import signing

    class SignerInThePast(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - days * 86400)

    return SignerInThePast(salt=f"tailor.{scope}").sign_object(payload, compress=True)
