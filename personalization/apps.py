from django.apps import AppConfig


class PersonalizationConfig(AppConfig):
    name = "personalization"
    verbose_name = "Customers and personalization"
