from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from campaigns.templating.starters import starter_templates_install
from personalization.demo_store import DemoConfig, demo_store_seed
from personalization.selectors import customers_exist


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise CommandError(f"--until {value!r} is not a date like 2026-11-01.") from exc


class Command(BaseCommand):
    help = "Fill a demo store: products, customers with hidden tastes, and their events (seeded, reproducible)."

    def add_arguments(self, parser):
        defaults = DemoConfig()
        parser.add_argument("--customers", type=int, default=defaults.customers)
        parser.add_argument("--products", type=int, default=defaults.products)
        parser.add_argument("--categories", type=int, default=defaults.categories)
        parser.add_argument("--events", type=int, default=defaults.events, help="About how many events to write.")
        parser.add_argument("--days", type=int, default=defaults.days, help="How many days of history.")
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--until", type=_date, default=None, help="Last day of history (default: today, UTC).")
        parser.add_argument(
            "--ground-truth",
            type=Path,
            default=settings.VAR_DIR / "demo" / "ground-truth.json",
            help="Where to write the tastes and future purchases the simulation planted.",
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if there are customers already.")

    def handle(self, *args, **options):
        if options["if_empty"] and customers_exist():
            self.stdout.write("The database has customers already; leaving it as it is.")
            return
        for name in ("customers", "products", "categories", "events", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        config = DemoConfig(
            customers=options["customers"],
            products=options["products"],
            categories=options["categories"],
            events=options["events"],
            days=options["days"],
            seed=options["seed"],
            **({"until": options["until"]} if options["until"] else {}),
        )
        seeded = demo_store_seed(config=config, ground_truth_path=options["ground_truth"])
        self.stdout.write(
            f"Demo store (seed {config.seed}): {seeded.products} products in {config.categories} categories, "
            f"{seeded.customers} customers, {seeded.consent_records} consent decisions, "
            f"{seeded.events_stored} events stored"
            f" ({seeded.events_duplicate} already there). Ground truth: {seeded.ground_truth_path}"
        )
        added = starter_templates_install()
        self.stdout.write(f"Starter email templates and content blocks: {added} added.")
