from django.core.management.base import BaseCommand

from core.services import api_key_create


class Command(BaseCommand):
    help = "Create a management API key and print its secret (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'crm-sync'.")

    def handle(self, *args, name, **options):
        issued = api_key_create(name=name)
        self.stdout.write(issued.secret)
