from django.db import migrations

from core.append_only import append_only_trigger

TOPICS = [
    ("newsletter", "Newsletter", "Stories, guides and what is new in the shop."),
    ("offers", "Offers", "Sales, discounts and offers picked for you."),
    ("product-updates", "Product updates", "Back in stock, price drops and new arrivals you follow."),
]
# Days raw events are kept; "" covers every type without its own policy.
RETENTION = [("", 730), ("Page Viewed", 395), ("Product Viewed", 395)]


def create_defaults(apps, schema_editor):
    Topic = apps.get_model("consent", "Topic")
    RetentionPolicy = apps.get_model("consent", "RetentionPolicy")
    for slug, name, description in TOPICS:
        Topic.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for event_type, keep_days in RETENTION:
        RetentionPolicy.objects.get_or_create(event_type=event_type, defaults={"keep_days": keep_days})


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [
        append_only_trigger("consent_consentrecord"),
        append_only_trigger("consent_preferencechange"),
        migrations.RunPython(create_defaults, migrations.RunPython.noop),
    ]
