"""Evaluate Tailor's recommender (ALS with its shipped defaults) against the popularity
baseline on any interaction log, with two protocols:

- random: implicit.evaluation.train_test_split(0.8), averaged over three seeds (the
  protocol of the published MovieLens-100k figures);
- time: the oldest 80% of interactions to learn from, the newest 20% to predict.

    manage.py evaluate_recommender --interactions FILE [--use-weights]

FILE is CSV or TSV of user, item, timestamp and an optional weight, with or without a
header (a header names its columns: user…, item…, time…, rating… or weight…).
Nothing is read from or written to the database.
"""

import csv
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from django.core.management.base import BaseCommand, CommandError

from personalization.recommendations.metrics import ranking_metrics
from personalization.recommendations.training import (
    als_fit,
    als_top,
    holdout_split,
    hyperparameters_for,
    popularity_top,
)

SEEDS = (0, 1, 2)
METRICS = ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage")


def interactions_read(path: Path, *, use_weights: bool) -> tuple[list, list, np.ndarray, np.ndarray]:
    """(users, items, timestamps, weights) from a CSV or TSV file, with clear errors."""
    text = path.read_text()
    if not text.strip():
        raise CommandError(f"{path} is empty.")
    sample, separator = text[:4096], {}
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;")
    except csv.Error:  # lines that disagree (one short line in a small file): the first line decides
        first_line = sample.lstrip().splitlines()[0]
        dialect, separator = "excel", {"delimiter": max(",\t;", key=first_line.count)}
        if separator["delimiter"] not in first_line:
            raise CommandError(f"{path}: no comma, tab or semicolon separates its columns.") from None
    rows = list(csv.reader(text.splitlines(), dialect, **separator))
    header = [cell.split(":")[0].strip().lower() for cell in rows[0]]
    columns = {"user": 0, "item": 1, "time": 2, "weight": 3}
    first = 1  # the line number of rows[0]
    # Ids may be words ("u42,book-7,…") but a line of data has its timestamp: a header has no number.
    if not any(_numeric(cell) for cell in rows[0]):
        found = {role: i for i, name in enumerate(header) for role, words in
                 (("user", ("user",)), ("item", ("item", "product", "movie")), ("time", ("time", "date")),
                  ("weight", ("weight", "rating", "value"))) if name.startswith(words)}  # fmt: skip
        if "user" not in found or "item" not in found:
            raise CommandError(f"{path}: the header {rows[0]} names no user and item columns.")
        columns, rows, first = {"time": None, "weight": None, **found}, rows[1:], 2
    users, items, times, weights = [], [], [], []
    for number, row in enumerate(rows, start=first):
        try:
            users.append(row[columns["user"]].strip())
            items.append(row[columns["item"]].strip())
            times.append(float(row[columns["time"]]) if columns.get("time") is not None else 0.0)
            has_weight = use_weights and columns.get("weight") is not None and len(row) > columns["weight"]
            weights.append(float(row[columns["weight"]]) if has_weight else 1.0)
        except (IndexError, ValueError) as error:
            raise CommandError(f"{path}, line {number}: {error}. Expected user, item, timestamp[, weight].") from None
    return users, items, np.array(times), np.array(weights, dtype=np.float32)


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def matrix_of(users, items, weights) -> sp.csr_matrix:
    user_index, item_index = {}, {}
    rows = [user_index.setdefault(u, len(user_index)) for u in users]
    cols = [item_index.setdefault(i, len(item_index)) for i in items]
    matrix = sp.csr_matrix((weights, (rows, cols)), shape=(len(user_index), len(item_index)))
    matrix.sum_duplicates()
    return matrix, rows, cols


def compare(train: sp.csr_matrix, test: sp.csr_matrix) -> dict[str, dict]:
    products = train.shape[1]
    model = als_fit(train, hyperparameters_for(train))
    return {
        "ALS (Tailor's defaults)": ranking_metrics(als_top(model, train), test, products=products),
        "popularity": ranking_metrics(popularity_top(train), test, products=products),
    }


def time_split(matrix_rows, matrix_cols, times, weights, shape) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    cutoff = np.quantile(times, 0.8)
    old = times <= cutoff
    rows, cols = np.array(matrix_rows), np.array(matrix_cols)

    def part(mask):
        m = sp.csr_matrix((weights[mask], (rows[mask], cols[mask])), shape=shape)
        m.sum_duplicates()
        return m

    train, test = part(old), part(~old)
    test = test - test.multiply(train.astype(bool))  # predicting again what was already seen says nothing
    test.eliminate_zeros()
    return train, test.tocsr()


class Command(BaseCommand):
    help = "Evaluate ALS against popularity on an interaction log (random 80/20 and time-based splits)."

    def add_arguments(self, parser):
        parser.add_argument("--interactions", required=True, type=Path)
        parser.add_argument("--use-weights", action="store_true", help="Use the weight column (default: 1 each).")

    def handle(self, *args, interactions: Path, use_weights: bool, **options):
        if not interactions.is_file():
            raise CommandError(f"{interactions} is not a file.")
        users, items, times, weights = interactions_read(interactions, use_weights=use_weights)
        matrix, rows, cols = matrix_of(users, items, weights)
        self.stdout.write(f"{interactions.name}: {len(users):,} interactions, {matrix.shape[0]:,} users, "
                          f"{matrix.shape[1]:,} items; ALS {hyperparameters_for(matrix)}")  # fmt: skip
        runs = [compare(*holdout_split(matrix, seed=seed)) for seed in SEEDS]
        self._table(f"random 80/20 (implicit train_test_split, seeds {SEEDS}, mean ± sd)", runs)
        if times.any():
            self._table("time-based: oldest 80% to learn, newest 20% to predict",
                        [compare(*time_split(rows, cols, times, weights, matrix.shape))])  # fmt: skip

    def _table(self, title: str, runs: list[dict]) -> None:
        self.stdout.write(f"\n{title}")
        self.stdout.write("| model | " + " | ".join(METRICS) + " |")
        self.stdout.write("| --- |" + " ---: |" * len(METRICS))
        for name in runs[0]:
            cells = []
            for metric in METRICS:
                values = [run[name][metric] for run in runs]
                spread = f" ± {np.std(values):.3f}" if len(values) > 1 else ""
                cells.append(f"{np.mean(values):.3f}{spread}")
            self.stdout.write(f"| {name} | " + " | ".join(cells) + " |")
