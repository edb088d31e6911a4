"""Ranking metrics at 10 against values worked out by hand, precision@10 as implicit defines
it, and evaluate_recommender's reading of interaction logs (RecBole TSV with a typed
header, CSV without one) with errors that name the line."""

import random
from io import StringIO

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.management import CommandError, call_command

from personalization.management.commands.evaluate_recommender import interactions_read
from personalization.recommendations.metrics import ranking_metrics
from personalization.recommendations.training import als_fit, als_top, holdout_split
from tests.recommendations.support import shop_build

RECBOLE_HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float"

# Held-out items of three users over six products; user 2 has none and is not judged.
HELD_OUT = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=np.float32))
SHOWN = {0: [0, 2, 1], 1: [2, 4], 2: [5]}


@pytest.fixture
def tiny() -> dict:
    return ranking_metrics(SHOWN.__getitem__, HELD_OUT, products=6)


def test_precision_is_hits_over_the_held_out_items_that_fit_in_ten(tiny):
    # user 0: 2 hits of 2 held out; user 1: 1 hit of 3 -> (2 + 1) / (2 + 3)
    assert tiny["precision@10"] == 0.6


def test_recall_is_averaged_over_users_with_held_out_items(tiny):
    # (2/2 + 1/3) / 2
    assert tiny["recall@10"] == 0.6667


def test_ndcg_discounts_hits_by_rank_against_the_ideal_ranking(tiny):
    # user 0: hits at ranks 1 and 3 -> (1 + 1/log2 4) / (1 + 1/log2 3) = 0.91972
    # user 1: a hit at rank 2 -> (1/log2 3) / (1 + 1/log2 3 + 1/log2 4) = 0.29609
    assert tiny["ndcg@10"] == 0.6079


def test_map_averages_the_precision_at_each_hit(tiny):
    # user 0: (1/1 + 2/3) / 2 = 0.8333; user 1: (1/2) / 3 = 0.1667
    assert tiny["map@10"] == 0.5


def test_coverage_is_the_share_of_products_shown_to_judged_users(tiny):
    # products 0, 1, 2 and 4 of 6 (user 2's product 5 is not counted: user 2 is not judged)
    assert tiny["coverage"] == 0.6667


def test_only_users_with_held_out_items_are_judged(tiny):
    assert tiny["users"] == 2


def test_precision_caps_each_users_share_at_ten():
    held_out = sp.csr_matrix(np.ones((1, 30), dtype=np.float32))

    metrics = ranking_metrics(lambda user: list(range(10)), held_out, products=30)

    assert (metrics["precision@10"], metrics["recall@10"]) == (1.0, 0.3333)


def test_nothing_held_out_gives_zeros():
    metrics = ranking_metrics(lambda user: [0], sp.csr_matrix((2, 3), dtype=np.float32), products=3)

    assert metrics == {"precision@10": 0.0, "recall@10": 0.0, "ndcg@10": 0.0, "map@10": 0.0, "coverage": 0.0,
                       "users": 0}  # fmt: skip


def test_precision_ndcg_and_map_equal_implicits_own_on_a_real_model():
    from implicit.evaluation import ranking_metrics_at_k

    rng = np.random.default_rng(3)
    interactions = sp.csr_matrix((rng.random((80, 50)) < 0.15).astype(np.float32))
    train, test = holdout_split(interactions, seed=3)
    model = als_fit(train, {"factors": 8, "iterations": 5, "random_state": 3})

    ours = ranking_metrics(als_top(model, train), test, products=50)
    theirs = ranking_metrics_at_k(model, train, test, K=10, show_progress=False)

    assert ours["precision@10"] == round(theirs["precision"], 4)
    assert ours["ndcg@10"] == round(theirs["ndcg"], 4)
    assert ours["map@10"] == round(theirs["map"], 4)


# --- evaluate_recommender ----------------------------------------------------------------------


def planted_log(*, users: int = 40, seed: int = 1) -> list[tuple[str, str, float, int]]:
    """(user, item, rating, timestamp): two tastes of 20 items each, 8 items per user."""
    rng = random.Random(seed)
    rows = []
    for user in range(users):
        taste = range(20) if user % 2 else range(20, 40)
        for item in rng.sample(list(taste), 8):
            rows.append((f"{user + 1}", f"{item + 1}", float(rng.randint(1, 5)), 1_700_000_000 + rng.randint(0, 10**6)))
    return rows


def evaluate(path) -> str:
    out = StringIO()
    call_command("evaluate_recommender", interactions=path, stdout=out)
    return out.getvalue()


def table_rows(output: str) -> list[str]:
    return [line.split("|")[1].strip() for line in output.splitlines() if line.startswith("| ") and "---" not in line]


def test_a_recbole_tsv_with_a_typed_header_is_evaluated_for_both_models_and_both_splits(tmp_path):
    path = tmp_path / "ml.inter"
    path.write_text(RECBOLE_HEADER + "\n" + "\n".join("\t".join(map(str, row)) for row in planted_log()) + "\n")

    output = evaluate(path)

    assert output.startswith("ml.inter: 320 interactions, 40 users, 40 items; ALS ")
    assert "random 80/20" in output and "time-based" in output
    assert table_rows(output) == ["model", "ALS (Tailor's defaults)", "popularity"] * 2


def test_a_recbole_header_maps_rating_to_the_weight_and_timestamp_to_the_time(tmp_path):
    path = tmp_path / "ml.inter"
    path.write_text(f"{RECBOLE_HEADER}\n7\t42\t4.0\t1700000123\n8\t43\t2.5\t1700000456\n")

    users, items, times, weights = interactions_read(path, use_weights=True)

    assert (users, items) == (["7", "8"], ["42", "43"])
    assert times.tolist() == [1700000123.0, 1700000456.0]
    assert weights.tolist() == [4.0, 2.5]


def test_without_use_weights_every_interaction_weighs_one(tmp_path):
    path = tmp_path / "ml.inter"
    path.write_text(f"{RECBOLE_HEADER}\n7\t42\t4.0\t1700000123\n")

    assert interactions_read(path, use_weights=False)[3].tolist() == [1.0]


def test_a_csv_without_header_is_read_as_user_item_timestamp(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("".join(f"{user},{item},{time}\n" for user, item, _, time in planted_log()))

    output = evaluate(path)

    assert output.startswith("log.csv: 320 interactions, 40 users, 40 items")
    assert table_rows(output) == ["model", "ALS (Tailor's defaults)", "popularity"] * 2


def test_a_csv_without_header_may_name_users_and_items_with_words(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("alice,book-1,1700000000\nbob,book-2,1700000100\n")

    users, items, times, _ = interactions_read(path, use_weights=False)

    assert (users, items, times.tolist()) == (["alice", "bob"], ["book-1", "book-2"], [1700000000.0, 1700000100.0])


def test_a_bad_line_in_a_csv_without_header_names_its_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("1,10,1700000000\n2,11,1700000100\n3,12,1700000200\n4,13,1700000300\n5,14,yesterday\n")

    with pytest.raises(CommandError, match=r"log\.csv, line 5: .*yesterday"):
        evaluate(path)


def test_a_bad_line_after_a_header_names_its_line(tmp_path):
    # export_interactions writes this header: the timestamp is the third column
    path = tmp_path / "export.tsv"
    path.write_text("user_id\titem_id\ttimestamp\tweight\n1\tP01\t1700000000\t1.0\n2\tP02\tsoon\t3.0\n")

    with pytest.raises(CommandError, match=r"export\.tsv, line 3: "):
        evaluate(path)


def test_a_line_missing_its_timestamp_names_its_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("1,10,1700000000\n2,11\n")

    with pytest.raises(CommandError, match=r"line 2: .*Expected user, item, timestamp\[, weight\]"):
        evaluate(path)


def test_a_header_without_user_and_item_columns_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("who,what,when\n1,10,1700000000\n")

    with pytest.raises(CommandError, match="names no user and item columns"):
        evaluate(path)


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(CommandError, match="is empty"):
        evaluate(path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        evaluate(tmp_path / "nowhere.csv")


def test_a_file_of_one_column_is_refused(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("1\n2\n3\n")

    with pytest.raises(CommandError, match="no comma, tab or semicolon separates its columns"):
        evaluate(path)


@pytest.mark.django_db
def test_what_export_interactions_writes_evaluate_recommender_reads_with_its_weights(tmp_path):
    shop = shop_build(customers=4)
    path = tmp_path / "interactions.tsv"
    call_command("export_interactions", out=path, stdout=StringIO())

    users, items, times, weights = interactions_read(path, use_weights=True)

    assert set(users) == {str(c.pk) for c in shop.customers} and len(items) == len(times) == len(weights)
    assert set(weights.tolist()) <= {1.0, 3.0, 5.0} and times.min() > 1_700_000_000
