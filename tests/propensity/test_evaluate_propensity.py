"""evaluate_propensity: XGBoost on Tailor's features against the recency-frequency baseline,
on an order log in CDNOW's whitespace format or in CSV; bad input is refused clearly."""

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.propensity.support import order_log

LOG = order_log(start=datetime(1997, 1, 1, tzinfo=UTC), end=datetime(1998, 1, 1, tzinfo=UTC), customers=150)
CUTOFF = "1997-10-01"
ROW = re.compile(r"^\| (?P<model>[^|]+) \| (?P<auc>\d\.\d{3}) \| (?P<log_loss>\d\.\d{4}) \| (?P<brier>\d\.\d{4}) \|$")


def cdnow_lines(log=LOG) -> list[str]:
    """As in CDNOW_master.txt: customer, YYYYMMDD, number of items, amount."""
    return [f"{customer:>5} {at:%Y%m%d} {n % 3 + 1:>2} {amount:>7.2f}" for n, (customer, at, amount) in enumerate(log)]


def csv_lines(log=LOG) -> list[str]:
    return ["customer,date,amount", *(f"{customer},{at:%Y-%m-%d},{amount:.2f}" for customer, at, amount in log)]


@pytest.fixture
def orders_file(tmp_path):
    def write(lines: list[str], name: str = "orders.txt"):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


def evaluate(path, cutoff=CUTOFF, *more) -> str:
    out = StringIO()
    call_command("evaluate_propensity", "--orders", str(path), "--cutoff", cutoff, *more, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def cdnow_output(tmp_path_factory) -> str:
    """The command's output on the CDNOW-format log (run once: it reads no database)."""
    path = tmp_path_factory.mktemp("cdnow") / "orders.txt"
    path.write_text("\n".join(cdnow_lines()) + "\n")
    return evaluate(path)


def table(output: str) -> dict[str, dict]:
    """{model: {"auc": ..., "log_loss": ..., "brier": ...}} from the printed table."""
    rows = (ROW.match(line) for line in output.splitlines())
    return {m["model"]: {k: float(m[k]) for k in ("auc", "log_loss", "brier")} for m in rows if m}


def test_a_cdnow_log_gives_a_table_with_both_models_and_their_auc(cdnow_output):
    results = table(cdnow_output)

    assert set(results) == {"XGBoost (Tailor's features)", "recency-frequency baseline"}
    assert all(0.5 < r["auc"] <= 1 for r in results.values())


def test_a_csv_log_with_a_header_gives_the_same_table(orders_file, cdnow_output):
    from_csv = table(evaluate(orders_file(csv_lines(), "orders.csv")))

    assert from_csv == table(cdnow_output)


def test_the_summary_counts_orders_and_customers(cdnow_output):
    assert cdnow_output.startswith(f"orders.txt: {len(LOG):,} orders;")
    assert "predict at 1997-10-01" in cdnow_output


def test_calibration_is_printed_for_both_models(cdnow_output):
    calibration = cdnow_output.split("calibration by predicted decile")[1]
    assert "XGBoost (Tailor's features): 0." in calibration and "recency-frequency baseline: 0." in calibration


def test_blank_lines_are_skipped(orders_file, cdnow_output):
    lines = cdnow_lines()

    assert table(evaluate(orders_file([lines[0], "", *lines[1:], "   "]))) == table(cdnow_output)


def test_the_horizon_can_be_chosen(orders_file):
    output = evaluate(orders_file(cdnow_lines()), CUTOFF, "--horizon-days", "60")

    assert "bought within 60 days" in output
    assert len(table(output)) == 2


@pytest.mark.parametrize("bad", ["00007 19970230  1   10.00", "00007 19970301  1   ten", "00007"])
def test_a_bad_line_is_refused_naming_its_number(orders_file, bad):
    lines = cdnow_lines()
    lines.insert(4, bad)

    with pytest.raises(CommandError, match=r"orders\.txt, line 5: .*Expected customer, date, amount"):
        evaluate(orders_file(lines))


def test_a_bad_csv_line_is_refused_naming_its_number(orders_file):
    lines = csv_lines()
    lines.insert(9, "00007,1997-03-01")

    with pytest.raises(CommandError, match=r"line 10: "):
        evaluate(orders_file(lines, "orders.csv"))


def test_a_cutoff_after_the_last_order_is_refused_as_a_window_with_no_buyers(orders_file):
    with pytest.raises(CommandError, match="only buyers or only non-buyers: choose another cutoff"):
        evaluate(orders_file(cdnow_lines()), "1998-03-01")


def test_a_cutoff_before_the_first_order_is_refused_too(orders_file):
    with pytest.raises(CommandError, match="choose another cutoff"):
        evaluate(orders_file(cdnow_lines()), "1996-06-01")


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        evaluate(tmp_path / "nowhere.txt")


def test_a_file_without_orders_is_refused(orders_file):
    with pytest.raises(CommandError, match="holds no orders"):
        evaluate(orders_file(["customer,date,amount"], "orders.csv"))


def test_a_cutoff_that_is_not_a_date_is_refused_naming_the_accepted_forms(orders_file):
    with pytest.raises(CommandError, match=r"--cutoff: '30/09/1997' is not a date \(YYYY-MM-DD or YYYYMMDD\)"):
        evaluate(orders_file(cdnow_lines()), "30/09/1997")


@pytest.mark.parametrize("days", ["0", "-30"])
def test_a_horizon_of_less_than_a_day_is_refused(orders_file, days):
    with pytest.raises(CommandError, match="--horizon-days must be at least 1"):
        evaluate(orders_file(cdnow_lines()), CUTOFF, "--horizon-days", days)


DIFFERENCE = re.compile(r"AUC difference, XGBoost minus the baseline: (?P<d>[+-]\d\.\d{4}) \(95% paired bootstrap "
                        r"interval (?P<low>[+-]\d\.\d{4}) to (?P<high>[+-]\d\.\d{4}), [\d,]+ resamples")  # fmt: skip


def test_the_auc_difference_is_printed_with_its_interval_around_it(cdnow_output):
    found = DIFFERENCE.search(cdnow_output)
    results = table(cdnow_output)

    assert found, cdnow_output
    difference = results["XGBoost (Tailor's features)"]["auc"] - results["recency-frequency baseline"]["auc"]
    assert float(found["d"]) == pytest.approx(difference, abs=0.001)  # the table rounds to 3 places
    assert float(found["low"]) <= float(found["d"]) <= float(found["high"])
