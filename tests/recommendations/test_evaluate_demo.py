"""evaluate_demo, recommendations: on a store whose planted tastes make the answer known, the
share of top-10 products in the preferred categories and the taste weight captured, for
Tailor's lists, the popular list and random products; the share of lists from the model;
who is left out; and a ground truth file that is missing, malformed or of another store
is refused clearly."""

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from personalization.models import Customer, ModelKind, ModelStatus, ModelVersion
from tests.recommendations.support import BOOKS, GAMES, personalization_withdraw, shop_build

ROW = re.compile(r"^\| (?P<list>[^|]+) \| (?P<share>\d\.\d{3}) \| (?P<captured>\d\.\d{3}) \| (?P<items>[\d.]+) \|$")
TAILOR, POPULAR, RANDOM = "Tailor (as served)", "popularity (the list for everyone)", "random products"
TINY = ["--customers=60", "--products=48", "--events=2000", "--days=60", "--seed=3"]


def planted(preferred, weights, *, probability=0.5, buys=False) -> dict:
    return {"preferred_categories": preferred, "category_weights": weights, "purchase_probability_30d": probability,
            "will_buy_next_30d": buys}  # fmt: skip


def truth_write(path, customers: dict, *, until="2026-11-01T00:00:00+00:00"):
    path.write_text(json.dumps({"seed": 1, "until": until, "horizon_days": 30, "customers": customers}))
    return path


def evaluate(path, *more) -> str:
    out = StringIO()
    call_command("evaluate_demo", "--ground-truth", str(path), *more, stdout=out)
    return out.getvalue()


def tables(output: str) -> list[dict[str, dict]]:
    """The taste tables in order (everyone, then the model's lists): {list: {share, captured, items}}."""
    found, current = [], None
    for line in output.splitlines():
        if line.startswith("| list |"):
            current = {}
            found.append(current)
        elif (row := ROW.match(line)) and current is not None:
            current[row["list"]] = {k: float(row[k]) for k in ("share", "captured", "items")}
    return found


def seeded(tmp_path, *more) -> dict:
    """A tiny demo store, seeded and caught up; its ground truth."""
    path = tmp_path / "truth.json"
    call_command("seed_demo", *TINY, *more, f"--ground-truth={path}", stdout=StringIO())
    from personalization.demo_store import demo_store_catch_up

    demo_store_catch_up()
    return json.loads(path.read_text())


@pytest.fixture
def shop(db):
    """Books fans and games fans (tests/recommendations/support), with an active model."""
    from personalization.recommendations.training import recommender_train

    shop = shop_build()
    assert recommender_train().status == "active"
    return shop


def shop_truth(tmp_path, shop) -> str:
    """The shop's tastes as planted: A customers like books only, B customers games only."""
    customers = {c.external_id: planted([BOOKS], {BOOKS: 1.0, GAMES: 0.0}) for c in shop.taste_a}
    customers |= {c.external_id: planted([GAMES], {BOOKS: 0.0, GAMES: 1.0}) for c in shop.taste_b}
    return truth_write(tmp_path / "truth.json", customers, until=timezone.now().isoformat())


# --- figures on planted worlds --------------------------------------------------------------


@pytest.mark.django_db
def test_in_a_one_category_store_every_list_is_all_in_the_preferred_category(tmp_path):
    path = tmp_path / "truth.json"
    call_command("seed_demo", *TINY, "--categories=1", f"--ground-truth={path}", stdout=StringIO())

    output = evaluate(path, "--catch-up")

    assert "Catch-up: " in output and "events processed" in output
    assert tables(output)[0] == {name: {"share": 1.0, "captured": 1.0, "items": 10.0}
                                 for name in (TAILOR, POPULAR, RANDOM)}  # fmt: skip


@pytest.mark.django_db
def test_equal_tastes_for_every_category_make_every_product_count_one_twelfth(tmp_path):
    truth = seeded(tmp_path)
    categories = sorted({c for entry in truth["customers"].values() for c in entry["category_weights"]})
    assert len(categories) == 12
    everyone = planted(categories, dict.fromkeys(categories, 1 / 12))
    path = truth_write(tmp_path / "equal.json", dict.fromkeys(truth["customers"], everyone), until=truth["until"])

    rows = tables(evaluate(path))[0]

    # Every product listed is of a preferred category and weighs 1/12; an empty slot is a miss
    # (Tailor's lists can be short here: a favorite category holds 4 products).
    assert rows[POPULAR] == rows[RANDOM] == {"share": 1.0, "captured": 0.083, "items": 10.0}
    assert rows[TAILOR]["share"] == pytest.approx(rows[TAILOR]["items"] / 10, abs=0.001)
    assert rows[TAILOR]["captured"] == pytest.approx(rows[TAILOR]["items"] / 120, abs=0.001)


@pytest.mark.django_db
def test_a_taste_for_a_category_the_shop_does_not_sell_is_never_served(tmp_path):
    truth = seeded(tmp_path)
    nowhere = planted(["Antiques"], {"Antiques": 1.0})
    path = truth_write(tmp_path / "nowhere.json", dict.fromkeys(truth["customers"], nowhere), until=truth["until"])

    rows = tables(evaluate(path))[0]

    assert all(row["share"] == 0.0 and row["captured"] == 0.0 for row in rows.values())


def test_when_the_active_model_serves_every_list_tailors_lists_are_the_models_own(shop, tmp_path):
    output = evaluate(shop_truth(tmp_path, shop))

    assert "Lists from the model: 60 of 60 (100.0%)." in output
    everyone, ranked = tables(output)
    [alone] = [name for name in ranked if name.endswith(" alone")]
    assert everyone[TAILOR] == ranked[TAILOR] == ranked[alone]


def test_the_model_fills_the_lists_of_fans_with_their_category(shop, tmp_path):
    served = tables(evaluate(shop_truth(tmp_path, shop)))[0][TAILOR]

    # Each fan's taste weighs 1 for their category and 0 for the other: captured equals the share.
    assert served["share"] >= 0.95 and served["items"] == 10.0
    assert served["captured"] == served["share"]


def test_a_model_that_was_not_activated_is_judged_on_its_own_next_to_the_served_lists(shop, tmp_path):
    version = ModelVersion.objects.get(kind=ModelKind.RECOMMENDER)
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelStatus.KEPT, decision="Not activated: a test.")

    output = evaluate(shop_truth(tmp_path, shop))

    assert "Lists from the model: 0 of 60 (0.0%); the others: popular 60." in output
    assert f"No recommender model is active. The newest, #{version.pk}: Not activated: a test." in output
    assert f"The 60 customers the recommender #{version.pk} (kept, not activated) ranks" in output
    assert tables(output)[1][f"ALS #{version.pk} alone"]["share"] >= 0.95


def test_the_popular_list_and_random_products_are_about_half_in_taste_when_half_the_catalog_is(shop, tmp_path):
    rows = tables(evaluate(shop_truth(tmp_path, shop)))[0]

    # Books and games are half of the catalog each; everyone likes one of them.
    assert 0.35 <= rows[POPULAR]["share"] <= 0.65
    assert 0.4 <= rows[RANDOM]["share"] <= 0.6
    assert rows[POPULAR]["share"] == rows[POPULAR]["captured"] and rows[RANDOM]["share"] == rows[RANDOM]["captured"]


def test_the_random_baseline_is_the_same_for_the_same_seed(shop, tmp_path):
    path = shop_truth(tmp_path, shop)

    assert tables(evaluate(path, "--seed=5"))[0][RANDOM] == tables(evaluate(path, "--seed=5"))[0][RANDOM]


def test_customers_without_consent_to_personalization_and_unknown_ones_are_left_out_and_counted(shop, tmp_path):
    for customer in shop.taste_a[:2]:
        personalization_withdraw(customer)
    path = shop_truth(tmp_path, shop)
    truth = json.loads(path.read_text())
    truth["customers"]["nobody-here"] = planted([BOOKS], {BOOKS: 1.0})
    path.write_text(json.dumps(truth))

    output = evaluate(path)

    assert "Recommendations, top 10: 58 customers whose consent allows personalization (2 others without" in output
    assert "consent, 1 of the ground truth not in the database, 0 without preferred categories)." in output
    assert "Lists from the model: 58 of 58 (100.0%)." in output


def test_without_an_active_model_every_list_is_a_cold_start_and_the_output_says_why(db, tmp_path):
    shop = shop_build()
    path = shop_truth(tmp_path, shop)

    output = evaluate(path)

    assert "Lists from the model: 0 of 60 (0.0%); the others: popular 60." in output
    assert "No recommender model is trained yet" in output
    assert len(tables(output)) == 1


# --- the ground truth file --------------------------------------------------------------------


def test_a_missing_ground_truth_file_is_refused_saying_how_to_make_one(tmp_path):
    with pytest.raises(CommandError, match=r"missing\.json is not a file: `manage.py seed_demo --ground-truth"):
        evaluate(tmp_path / "missing.json")


def test_a_file_that_is_not_json_is_refused_with_where_it_breaks(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text('{"customers": {"cust-1": ')

    with pytest.raises(CommandError, match=r"truth\.json is not JSON: Expecting value at line 1, column 26\."):
        evaluate(path)


def test_json_that_is_not_a_ground_truth_is_refused(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text('[{"preferred_categories": []}]')

    with pytest.raises(CommandError, match=r'has no "customers" object: expected the ground truth that seed_demo'):
        evaluate(path)


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"preferred_categories": ["Books"], "category_weights": {"Books": 1}, "purchase_probability_30d": 0.2},
         "will_buy_next_30d missing"),
        (planted("Books", {"Books": 1}), "preferred_categories must be a list of category names"),
        (planted(["Books"], {"Books": "much"}), "category_weights must map category names to weights of 0 or more"),
        (planted(["Books"], {"Books": 1}, probability=1.5), "purchase_probability_30d must be a number from 0 to 1"),
        (planted(["Books"], {"Books": 1}, buys="yes"), "will_buy_next_30d must be true or false"),
    ],
)  # fmt: skip
def test_a_malformed_customer_entry_is_refused_naming_the_customer_and_the_field(tmp_path, entry, problem):
    path = truth_write(tmp_path / "truth.json", {"cust-000007": entry})

    with pytest.raises(CommandError, match=re.escape(f"customer 'cust-000007': {problem}.")):
        evaluate(path)


def test_a_ground_truth_without_its_end_date_is_refused(tmp_path):
    path = truth_write(tmp_path / "truth.json", {"cust-1": planted(["Books"], {"Books": 1})}, until="yesterday")

    with pytest.raises(CommandError, match=r'"until" must be the end of the data as an ISO date and time'):
        evaluate(path)


@pytest.mark.django_db
def test_a_ground_truth_of_another_store_is_refused(tmp_path):
    Customer.objects.create(external_id="someone-else")
    path = truth_write(tmp_path / "truth.json", {"cust-000001": planted(["Books"], {"Books": 1})})

    with pytest.raises(CommandError, match="names none of this database's customers: was it written by seed_demo"):
        evaluate(path)
