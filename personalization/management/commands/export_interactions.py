"""Write the product interactions in the database as TSV (customer, product, timestamp,
weight by event type), for evaluate_recommender.

    manage.py export_interactions --out var/interactions.tsv
"""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand

from personalization.recommendations.interactions import interactions_rows


class Command(BaseCommand):
    help = "Export product interactions as TSV for evaluate_recommender."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args, out: Path, **options):
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as file:
            writer = csv.writer(file, delimiter="\t")
            writer.writerow(["user_id", "item_id", "timestamp", "weight"])
            count = 0
            for customer_id, sku, occurred_at, weight in interactions_rows():
                writer.writerow([customer_id, sku, int(occurred_at.timestamp()), weight])
                count += 1
        self.stdout.write(f"Wrote {count:,} interactions to {out}.")
