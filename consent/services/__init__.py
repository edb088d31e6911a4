"""Writes of the consent app. Other apps import from here only."""

from consent.services.data_requests import data_request_create, data_request_run, subject_erase
from consent.services.imports import ConsentRow, ConsentsImported, consents_import, consents_import_csv
from consent.services.ledger import (
    consent_carry_over,
    consent_grant,
    consent_record,
    consent_record_check,
    consent_withdraw,
    email_marketing_stop,
    preferences_change,
    suppression_add,
    suppression_lift,
    tracking_stop_for_gpc,
)
from consent.services.retention import retention_purge
from consent.services.subscriptions import (
    PreferenceChoices,
    preference_center_save,
    subscribe_wording,
    subscription_confirm,
    subscription_confirmation_send,
    subscription_request,
    unsubscribe,
)

__all__ = [
    "ConsentRow",
    "ConsentsImported",
    "PreferenceChoices",
    "consent_carry_over",
    "consent_grant",
    "consent_record",
    "consent_record_check",
    "consent_withdraw",
    "consents_import",
    "consents_import_csv",
    "data_request_create",
    "data_request_run",
    "email_marketing_stop",
    "preference_center_save",
    "preferences_change",
    "retention_purge",
    "subject_erase",
    "subscribe_wording",
    "subscription_confirm",
    "subscription_confirmation_send",
    "subscription_request",
    "suppression_add",
    "suppression_lift",
    "tracking_stop_for_gpc",
    "unsubscribe",
]
