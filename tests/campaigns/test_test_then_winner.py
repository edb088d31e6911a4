"""Test-then-winner: a share of the audience gets the variants first, the rest waits; when
the test time is over, the variant shown to do better than control goes to the rest, and
when that is not shown (too few people, no significant difference) control goes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from campaigns.experiments.winner import winner_choose
from campaigns.models import AudienceGroup, CampaignState, ExperimentMode, Message, MessageStatus, WinnerMetric
from campaigns.results import Arm, CampaignResults, arm_compare
from campaigns.services import campaign_winner_decide, campaigns_due_run
from tests.campaigns.support import SHOP_LINK, at, campaign_to, on_commit_run, send, subscribers, variant_of
from tests.factories import EventFactory
from tracking.models import Event, EventType

pytestmark = pytest.mark.django_db

PEOPLE = 240


def experiment(timezone: str = "Europe/Paris", **fields):
    """240 subscribers, half of them tested on A (control) and B, the other half waiting."""
    fields = {"experiment_mode": ExperimentMode.TEST_THEN_WINNER, "test_percent": 50, "min_sample": 30,
              "winner_metric": WinnerMetric.CLICKS, **fields}  # fmt: skip
    campaign = send(campaign_to(subscribers(PEOPLE, timezone=timezone), variants={"A": 1, "B": 1}, **fields))
    assert campaign.state == CampaignState.SENDING, "the rest waits for the winner"
    return campaign


def sent_in_test(campaign, variant: str) -> list[Message]:
    return list(
        Message.objects.filter(campaign=campaign, audience_group=AudienceGroup.TEST, variant__name=variant)
        .select_related("customer")
        .order_by("id")
    )


def waiting(campaign):
    return Message.objects.filter(campaign=campaign, audience_group=AudienceGroup.MAIN)


def clicked(messages: list[Message], *, every: int, **flags) -> None:
    """One recipient in `every` clicked the shop's link an hour after it was sent."""
    Event.objects.bulk_create(
        EventFactory.build(customer=m.customer, type=EventType.EMAIL_LINK_CLICKED, email_message=m,
                           occurred_at=m.sent_at + timedelta(hours=1),
                           properties={"url": SHOP_LINK, "link_index": 0, **flags})
        for m in messages[::every]
    )  # fmt: skip


def decided(campaign):
    mail.outbox = []
    with on_commit_run():
        decision = campaign_winner_decide(campaign=campaign)
    campaign.refresh_from_db()
    return decision, campaign


def test_the_test_group_is_sent_and_the_rest_waits_for_the_winner():
    campaign = experiment()

    rest = waiting(campaign)
    assert rest.exists() and set(rest.values_list("status", flat=True)) == {MessageStatus.WAITING}
    assert set(rest.values_list("variant", flat=True)) == {None}
    test_rows = Message.objects.filter(campaign=campaign, audience_group=AudienceGroup.TEST)
    assert set(test_rows.values_list("status", flat=True)) == {MessageStatus.SENT}
    assert len(mail.outbox) == test_rows.count()


def test_the_variant_that_gets_more_clicks_wins_and_goes_to_the_rest():
    campaign = experiment()
    clicked(sent_in_test(campaign, "A"), every=20)
    clicked(sent_in_test(campaign, "B"), every=2)
    rest = list(waiting(campaign).values_list("pk", flat=True))

    decision, campaign = decided(campaign)

    assert (decision.winner, decision.conclusive) == ("B", True)
    assert campaign.winner.name == "B"
    assert campaign.winner_decision.startswith("B wins on clicks by two-proportion z-test")
    rows = Message.objects.filter(pk__in=rest)
    assert set(rows.values_list("status", "variant__name")) == {(MessageStatus.SENT, "B")}
    assert len(mail.outbox) == len(rest)
    assert {variant_of(m) for m in mail.outbox} == {"B"}
    assert campaign.state == CampaignState.SENT


def test_with_fewer_recipients_than_the_minimum_sample_it_is_inconclusive_and_control_goes_out():
    campaign = experiment(min_sample=1000)
    clicked(sent_in_test(campaign, "B"), every=2)

    decision, campaign = decided(campaign)

    assert (decision.winner, decision.conclusive) == ("A", False)
    assert decision.reason.startswith("Inconclusive: too few recipients to judge")
    assert "each variant needs 1000" in decision.reason
    assert {variant_of(m) for m in mail.outbox} == {"A"}
    assert set(waiting(campaign).values_list("status", "variant__name")) == {(MessageStatus.SENT, "A")}


def test_a_difference_that_is_not_significant_is_inconclusive_and_control_goes_out():
    campaign = experiment()
    clicked(sent_in_test(campaign, "A"), every=5)
    clicked(sent_in_test(campaign, "B"), every=5)

    decision, campaign = decided(campaign)

    assert (decision.winner, decision.conclusive) == ("A", False)
    assert decision.reason.startswith("Inconclusive by two-proportion z-test at alpha 0.05")
    assert campaign.winner.name == "A"
    assert {variant_of(m) for m in mail.outbox} == {"A"}
    assert campaign.state == CampaignState.SENT


def test_a_variant_doing_significantly_worse_than_control_does_not_win():
    campaign = experiment()
    clicked(sent_in_test(campaign, "A"), every=2)
    clicked(sent_in_test(campaign, "B"), every=20)

    decision, _ = decided(campaign)

    assert (decision.winner, decision.conclusive) == ("A", False)


def test_clicks_by_link_scanners_do_not_make_a_winner():
    campaign = experiment()
    clicked(sent_in_test(campaign, "A"), every=20)
    clicked(sent_in_test(campaign, "B"), every=2, bot="link-scanner")

    decision, _ = decided(campaign)

    assert (decision.winner, decision.conclusive) == ("A", False)


def test_the_beat_decides_once_the_test_time_is_over_and_not_before():
    campaign = experiment(test_hours=4)
    clicked(sent_in_test(campaign, "B"), every=2)

    with on_commit_run():
        campaigns_due_run(now=campaign.started_at + timedelta(hours=3, minutes=59))
    campaign.refresh_from_db()
    assert campaign.winner is None
    assert set(waiting(campaign).values_list("status", flat=True)) == {MessageStatus.WAITING}

    with on_commit_run():
        campaigns_due_run(now=campaign.started_at + timedelta(hours=4))
    campaign.refresh_from_db()
    assert campaign.winner.name == "B"
    assert set(waiting(campaign).values_list("status", "variant__name")) == {(MessageStatus.SENT, "B")}
    assert campaign.state == CampaignState.SENT


# --- Bonferroni ----------------------------------------------------------------------------


def results_of(clicks: dict[str, int], recipients: int = 1000) -> CampaignResults:
    """Test-group results: clicks of `recipients` each; the first arm is control."""
    arms = [Arm(name, variant_id=i, is_control=not i, recipients=recipients, clicks=count)
            for i, (name, count) in enumerate(clicks.items())]  # fmt: skip
    control = arms[0]
    return CampaignResults(arms=arms, against_control={a.name: arm_compare(control, a) for a in arms[1:]},
                           against_holdout={})  # fmt: skip


def choose(results: CampaignResults, alpha: float = 0.05):
    return winner_choose(results=results, metric=WinnerMetric.CLICKS, control="A", min_sample=500, alpha=alpha)


def p_value(results: CampaignResults, name: str) -> float:
    return next(c.test.p_value for c in results.against_control[name] if c.metric == "clicks")


def test_one_challenger_with_p_under_alpha_wins():
    results = results_of({"A": 100, "B": 130})

    decision = choose(results)

    assert p_value(results, "B") < 0.05
    assert (decision.winner, decision.conclusive) == ("B", True)


def test_with_three_challengers_a_p_under_alpha_but_over_a_third_of_it_is_inconclusive():
    results = results_of({"A": 100, "B": 130, "C": 100, "D": 104})

    decision = choose(results)

    assert 0.05 / 3 < p_value(results, "B") < 0.05
    assert (decision.winner, decision.conclusive) == ("A", False)
    assert "at alpha 0.01667" in decision.reason


def test_with_three_challengers_a_p_under_a_third_of_alpha_wins():
    results = results_of({"A": 100, "B": 150, "C": 100, "D": 104})

    decision = choose(results)

    assert p_value(results, "B") < 0.05 / 3
    assert (decision.winner, decision.conclusive) == ("B", True)


def test_of_several_significant_challengers_the_one_with_the_largest_difference_wins():
    results = results_of({"A": 100, "B": 160, "C": 190})

    assert choose(results).winner == "C"


def test_the_rest_waits_out_quiet_hours_that_began_during_the_test(settings):
    settings.QUIET_HOURS = (21, 8)
    evening = datetime(2030, 3, 12, 17, 0, tzinfo=UTC)  # 17:00 where they live (UTC): not quiet
    with at(evening):
        campaign = experiment(test_hours=4, timezone="UTC")
    clicked(sent_in_test(campaign, "B"), every=2)

    mail.outbox = []
    with at(evening + timedelta(hours=4)), on_commit_run():  # 21:00: the winner is known, but it is late
        campaigns_due_run()
    campaign.refresh_from_db()
    assert campaign.winner.name == "B"
    assert mail.outbox == []
    rest = waiting(campaign)
    morning = datetime(2030, 3, 13, 8, 0, tzinfo=UTC)
    assert set(rest.values_list("status", "send_after")) == {(MessageStatus.PLANNED, morning)}

    with at(morning + timedelta(seconds=15)), on_commit_run():  # the beat's next round after 08:00
        campaigns_due_run()
    assert len(mail.outbox) == rest.count()
    assert set(rest.values_list("status", flat=True)) == {MessageStatus.SENT}
