"""Model versions in the admin: a Train button per kind, on a row of its own above the list,
and pressing one trains that kind (the task runs eagerly in tests) and says so."""

import pytest
from django.urls import reverse

from personalization.models import ModelKind, ModelVersion

pytestmark = pytest.mark.django_db


def test_the_list_offers_a_train_button_for_each_kind(admin_client):
    page = admin_client.get(reverse("admin:personalization_modelversion_changelist")).content.decode()

    for _, label in ModelKind.choices:
        assert f"Train: {label}</button>" in page
    assert "personalization/model_versions.css" in page  # what keeps the buttons off the title


def test_pressing_train_trains_that_kind_and_says_so(admin_client):
    response = admin_client.post(reverse("admin:personalization_modelversion_train"),
                                 {"kind": ModelKind.PURCHASE}, follow=True)  # fmt: skip

    assert [version.kind for version in ModelVersion.objects.all()] == [ModelKind.PURCHASE]
    assert "Training started; its version appears here with its progress." in response.content.decode()
