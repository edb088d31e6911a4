"""Signed tokens (core.signing): Django's signed objects, made with the key derived once per
scope and secret, so they are read by Django's own code and follow the secret's rotation."""

from datetime import timedelta

import pytest
from django.core import signing
from django.test import override_settings

from core.signing import ExpiredToken, InvalidToken, token_make, token_read

DAY = timedelta(days=1)


def test_a_token_is_what_djangos_signing_makes_of_the_same_payload():
    made = token_make(scope="unsubscribe", payload={"c": 42, "t": None})

    assert made == signing.dumps({"c": 42, "t": None}, salt="tailor.unsubscribe")


def test_a_token_reads_back_as_its_payload():
    token = token_make(scope="click", payload={"m": 7, "l": 3})

    assert token_read(scope="click", token=token, max_age=DAY) == {"m": 7, "l": 3}


def test_a_token_made_for_one_scope_is_refused_for_another():
    token = token_make(scope="preferences", payload={"c": 42})

    with pytest.raises(InvalidToken):
        token_read(scope="unsubscribe", token=token, max_age=DAY)


def test_a_changed_token_is_refused():
    token = token_make(scope="preferences", payload={"c": 42})
    forged = signing.b64_encode(b'{"c":43}').decode() + token[token.index(":") :]

    with pytest.raises(InvalidToken):
        token_read(scope="preferences", token=forged, max_age=DAY)


def test_a_token_past_its_age_is_expired():
    token = token_make(scope="open", payload={"m": 7})

    with pytest.raises(ExpiredToken):
        token_read(scope="open", token=token, max_age=timedelta(seconds=-1))


def test_tokens_follow_a_new_secret_and_old_ones_read_while_it_is_a_fallback():
    with override_settings(SECRET_KEY="the-old-secret-of-at-least-fifty-characters-for-django-checks"):
        old = token_make(scope="preferences", payload={"c": 42})

    rotated = {"SECRET_KEY": "the-new-secret-of-at-least-fifty-characters-for-django-checks",
               "SECRET_KEY_FALLBACKS": ["the-old-secret-of-at-least-fifty-characters-for-django-checks"]}  # fmt: skip
    with override_settings(**rotated):
        new = token_make(scope="preferences", payload={"c": 42})
        assert new == signing.dumps({"c": 42}, salt="tailor.preferences")
        assert token_read(scope="preferences", token=old, max_age=DAY) == {"c": 42}

    with override_settings(SECRET_KEY=rotated["SECRET_KEY"]), pytest.raises(InvalidToken):
        token_read(scope="preferences", token=old, max_age=DAY)
