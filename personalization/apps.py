from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PersonalizationConfig(AppConfig):
    name = "personalization"
    verbose_name = "Customers and personalization"

    def ready(self):
        from personalization import receivers  # noqa: F401  (segments follow events and consent)
        from personalization.propensity.conditions import score_condition_register
        from personalization.segments.builtins import segments_builtin_ensure
        from personalization.segments.conditions import conditions_register

        conditions_register()
        score_condition_register()
        post_migrate.connect(segments_builtin_ensure, sender=self)
