from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Tailor core"

    def ready(self):
        from core import db  # noqa: F401  (registers the `any_of` lookup)
        from core.postgres import timestamps_load_fast_connect
        from core.roles import roles_ensure

        timestamps_load_fast_connect()
        # Permissions exist only after migrate has run, so the groups follow it.
        post_migrate.connect(roles_ensure, dispatch_uid="tailor-roles")
