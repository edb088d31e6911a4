"""The staff roles Tailor ships, as Django groups kept in step with the models.

Marketers work with customers, segments, templates and campaigns, and can see
(not change) consent. Privacy officers manage consent and handle data subject
requests; only they can export or erase a person.
"""

from django.contrib.auth.models import Group, Permission

ROLES: dict[str, list[str]] = {
    "Marketers": [
        "personalization.view_customer",
        "personalization.view_product",
        "personalization.change_product",
        "personalization.view_segment",
        "personalization.add_segment",
        "personalization.change_segment",
        "personalization.delete_segment",
        "personalization.view_clustering",
        "personalization.add_clustering",
        "personalization.view_modelversion",
        "personalization.view_traitsrun",
        "tracking.view_event",
        "consent.view_consentrecord",
        "consent.view_preferencechange",
        "consent.view_topic",
        "campaigns.view_emailtemplate",
        "campaigns.add_emailtemplate",
        "campaigns.change_emailtemplate",
        "campaigns.view_templateversion",
        "campaigns.view_contentblock",
        "campaigns.add_contentblock",
        "campaigns.change_contentblock",
        "campaigns.view_campaign",
        "campaigns.add_campaign",
        "campaigns.change_campaign",
        "campaigns.view_variant",
        "campaigns.add_variant",
        "campaigns.change_variant",
        "campaigns.delete_variant",
        "campaigns.view_message",
    ],
    "Privacy officers": [
        "personalization.view_customer",
        "personalization.view_identity",
        "tracking.view_event",
        "consent.view_consentrecord",
        "consent.add_consentrecord",
        "consent.import_consents",
        "consent.view_preferencechange",
        "consent.view_topic",
        "consent.add_topic",
        "consent.change_topic",
        "consent.view_suppression",
        "consent.add_suppression",
        "consent.delete_suppression",
        "consent.view_optinrequest",
        "consent.view_datasubjectrequest",
        "consent.export_subject_data",
        "consent.erase_subject",
        "consent.view_retentionpolicy",
        "consent.change_retentionpolicy",
        "consent.view_retentionrun",
    ],
}


def roles_ensure(**kwargs) -> None:
    """Create the role groups and give them exactly their permissions (run after every migrate)."""
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            wanted += Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        group.permissions.set(wanted)
