from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = "Tracking"

    def ready(self):
        from tracking import receivers  # noqa: F401  (connects the ESP webhook receiver)
