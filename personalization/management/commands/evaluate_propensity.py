"""Evaluate purchase propensity (Tailor's XGBoost and features) against a recency-frequency
logistic regression on any order log, at a chosen cutoff:

    manage.py evaluate_propensity --orders FILE --cutoff 1997-09-30 [--horizon-days 30]

Both models learn from six monthly cutoffs before it (features then, labelled by who
ordered in the horizon after each, all horizons ending by the cutoff), and predict who
orders in the horizon after the cutoff.
FILE: CSV of customer, date, amount (a header is skipped), or whitespace-separated
columns as in CDNOW_master.txt (customer, date, number of items, amount); dates as
YYYY-MM-DD or YYYYMMDD. Nothing is read from or written to the database.
"""

import argparse
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from personalization.propensity.features import features_from_orders
from personalization.propensity.training import (
    auc_difference,
    baseline_fit,
    baseline_predict,
    classification_metrics,
    stacked,
    training_cutoffs,
    xgboost_fit,
)


def _date(text: str) -> datetime:
    for form in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text.strip(), form).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)")


def _cutoff(text: str) -> datetime:
    # argparse shows the message of an ArgumentTypeError only, not of a ValueError.
    try:
        return _date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def orders_read(path: Path) -> list[tuple[str, datetime, float]]:
    lines = path.read_text().splitlines()
    comma = "," in (lines[0] if lines else "")
    orders = []
    for number, line in enumerate(lines, start=1):
        cells = next(csv.reader([line])) if comma else line.split()
        if not cells:
            continue
        try:
            amount = cells[2] if comma else cells[-1]
            orders.append((cells[0].strip(), _date(cells[1]), float(amount)))
        except (IndexError, ValueError) as error:
            if number == 1:
                continue  # a header
            raise CommandError(f"{path}, line {number}: {error}. Expected customer, date, amount.") from None
    if not orders:
        raise CommandError(f"{path} holds no orders.")
    return orders


class Command(BaseCommand):
    help = "Evaluate purchase propensity against a recency-frequency baseline on an order log."

    def add_arguments(self, parser):
        parser.add_argument("--orders", required=True, type=Path)
        parser.add_argument("--cutoff", required=True, type=_cutoff)
        parser.add_argument("--horizon-days", type=int, default=30)

    def handle(self, *args, orders: Path, cutoff: datetime, horizon_days: int, **options):
        if not orders.is_file():
            raise CommandError(f"{orders} is not a file.")
        if horizon_days < 1:  # a horizon going backwards would train on windows after the cutoff
            raise CommandError("--horizon-days must be at least 1.")
        log, horizon = orders_read(orders), timedelta(days=horizon_days)
        x_train, y_train = stacked(features_from_orders(log, at, horizon) for at in training_cutoffs(cutoff, horizon))
        _, x_test, y_test = features_from_orders(log, cutoff, horizon)
        if not (0 < y_train.sum() < len(y_train)) or not (0 < y_test.sum() < len(y_test)):
            raise CommandError("One of the windows has only buyers or only non-buyers: choose another cutoff.")
        self.stdout.write(f"{orders.name}: {len(log):,} orders; learn from {len(y_train):,} customer-months "
                          f"({int(y_train.sum()):,} bought within {horizon_days} days); predict at {cutoff:%Y-%m-%d} "
                          f"for {len(y_test):,} customers ({int(y_test.sum()):,} bought)")  # fmt: skip
        ours = xgboost_fit(x_train, y_train).predict_proba(x_test)[:, 1]
        theirs = baseline_predict(baseline_fit(x_train, y_train), x_test)
        results = {
            "XGBoost (Tailor's features)": classification_metrics(y_test, ours),
            "recency-frequency baseline": classification_metrics(y_test, theirs),
        }
        self.stdout.write("\n| model | AUC | log loss | Brier |\n| --- | ---: | ---: | ---: |")
        for name, metrics in results.items():
            self.stdout.write(f"| {name} | {metrics['auc']:.3f} | {metrics['log_loss']:.4f} | {metrics['brier']:.4f} |")
        gap = auc_difference(y_test, ours, theirs)
        self.stdout.write(f"\nAUC difference, XGBoost minus the baseline: {gap['difference']:+.4f} (95% paired "
                          f"bootstrap interval {gap['low']:+.4f} to {gap['high']:+.4f}, {gap['resamples']:,} "
                          "resamples of the customers)")  # fmt: skip
        self.stdout.write("\ncalibration by predicted decile (predicted / observed):")
        for name, metrics in results.items():
            cells = "  ".join(f"{c['predicted']:.3f}/{c['observed']:.3f}" for c in metrics["calibration"])
            self.stdout.write(f"  {name}: {cells}")
