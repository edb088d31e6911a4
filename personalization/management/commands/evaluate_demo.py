"""Score Tailor's recommendations and purchase propensity against what the demo store planted:

    manage.py seed_demo
    manage.py evaluate_demo --ground-truth var/demo/ground-truth.json --catch-up

On a database seeded by seed_demo and caught up (events processed, traits recomputed,
models trained; --catch-up does it first, as `manage.py demo` does before serving).
What is measured, and how: personalization/evaluation.py.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from personalization.demo_store import demo_store_catch_up
from personalization.evaluation import (
    GroundTruthError,
    K,
    PropensityEvaluation,
    RecommendationEvaluation,
    TasteFit,
    ground_truth_read,
    not_active,
    propensity_evaluate,
    recommendations_evaluate,
)
from personalization.models import ModelKind
from personalization.recommendations.serving import Source


class Command(BaseCommand):
    help = "Score recommendations and purchase propensity against the demo store's planted ground truth."

    def add_arguments(self, parser):
        parser.add_argument("--ground-truth", type=Path, default=settings.VAR_DIR / "demo" / "ground-truth.json",
                            help="The file seed_demo wrote (default: var/demo/ground-truth.json).")  # fmt: skip
        parser.add_argument("--catch-up", action="store_true", help="First process waiting events, recompute "
                            "traits and segments, and train the models.")  # fmt: skip
        parser.add_argument("--seed", type=int, default=0, help="Seed of the random-products baseline.")

    def handle(self, *args, ground_truth: Path, catch_up: bool, seed: int, **options):
        try:
            truth = ground_truth_read(ground_truth)
            if catch_up:
                self._catch_up()
            recommendations = recommendations_evaluate(truth=truth, seed=seed)
            propensity = propensity_evaluate(truth=truth)
        except GroundTruthError as error:
            raise CommandError(str(error)) from None
        seed_text = f"seed {truth.seed}, " if truth.seed is not None else ""
        self.stdout.write(f"{truth.path}: {seed_text}data until {truth.until:%Y-%m-%d}, "
                          f"{len(truth.customers):,} customers.")  # fmt: skip
        self._recommendations(recommendations)
        self._propensity(propensity)

    def _catch_up(self) -> None:
        caught_up = demo_store_catch_up()
        if not caught_up.events_processed:
            self.stdout.write("Catch-up: no events waiting, nothing to do.")
            return
        self.stdout.write(f"Catch-up: {caught_up.events_processed:,} events processed, traits, segments and "
                          f"models in {caught_up.seconds:.0f} s.")  # fmt: skip
        for version in caught_up.versions:
            self.stdout.write(f"  {version}: {version.get_status_display()}. {version.decision}")

    def _recommendations(self, result: RecommendationEvaluation) -> None:
        self.stdout.write(f"\nRecommendations, top {K}: {result.customers:,} customers whose consent allows "
                          f"personalization ({result.without_consent:,} others without that consent, "
                          f"{result.in_truth - result.in_database:,} of the ground truth not in the database, "
                          f"{result.without_preferences:,} without preferred categories).")  # fmt: skip
        model = result.sources.get(Source.MODEL, 0)
        share = model / result.customers if result.customers else 0.0
        others = ", ".join(f"{source} {n:,}" for source, n in result.sources.most_common() if source != Source.MODEL)
        self.stdout.write(f"Lists from the model: {model:,} of {result.customers:,} ({share:.1%})"
                          + (f"; the others: {others}." if others else "."))  # fmt: skip
        self._fit_table(result.everyone)
        if not model and (note := not_active(ModelKind.RECOMMENDER)):
            self.stdout.write(note)
        if result.model_ranked:
            mine = next(iter(result.model_ranked.values()))
            status = result.model.get_status_display().lower()
            self.stdout.write(f"\nThe {mine.lists:,} customers the recommender #{result.model.pk} ({status}) ranks: "
                              "its own lists, and the others' for the same customers.")  # fmt: skip
            self._fit_table(result.model_ranked)

    def _fit_table(self, rows: dict[str, TasteFit]) -> None:
        self.stdout.write("| list | in preferred categories | taste weight captured | products per list |")
        self.stdout.write("| --- | ---: | ---: | ---: |")
        for name, fit in rows.items():
            self.stdout.write(f"| {name} | {fit.preferred_share:.3f} | {fit.taste_captured:.3f} | {fit.items:.2f} |")

    def _propensity(self, result: PropensityEvaluation) -> None:
        self.stdout.write(f"\nPurchase in the {result.horizon_days} days after {result.cutoff:%Y-%m-%d}: "
                          f"{result.customers:,} customers Tailor scores, {result.buyers:,} of them buy "
                          f"({result.not_scored:,} of the ground truth not scored: no consent to "
                          "personalization, or no activity).")  # fmt: skip
        self.stdout.write("| model | AUC | log loss | Brier |\n| --- | ---: | ---: | ---: |")
        for name, metrics in result.rows.items():
            auc = f"{metrics['auc']:.3f}" if metrics["auc"] is not None else "—"
            self.stdout.write(f"| {name} | {auc} | {metrics['log_loss']:.4f} | {metrics['brier']:.4f} |")
        for note in result.notes:
            self.stdout.write(note)
