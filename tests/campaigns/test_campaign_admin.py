"""Campaigns in the admin, through the test client as staff: the list, the change form
(variants of marketing versions, refusals on their fields, read-only once sent), "Save
and send" and the actions (pause, resume, cancel with its confirmation) through the
campaign services with their refusals as messages, the progress box, and the results
page per variant and holdout worked out by hand."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.utils import timezone
from django.utils.html import escape

from campaigns.campaign_admin import EN_DASH, MINUS
from campaigns.models import Campaign, CampaignState, Message, MessageKind, MessageStatus, Variant
from campaigns.services import campaign_send, campaign_start
from consent.models import ConsentSource, Purpose
from consent.services import consent_grant, consent_withdraw
from tests.factories import CustomerFactory, EventFactory, SegmentFactory, SegmentMembershipFactory
from tests.templates.support import version_of
from tracking.models import EventType

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/campaigns/campaign/"
ADD = "/admin/campaigns/campaign/add/"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _sending_now(settings):
    """Sent at once (no quiet hours, no rate), to the test outbox."""
    settings.QUIET_HOURS = (0, 0)
    settings.CAMPAIGN_SEND_RATE = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def change_url(campaign: Campaign, page: str = "change") -> str:
    return f"/admin/campaigns/campaign/{campaign.pk}/{page}/"


def subscribers(count: int, **fields) -> list:
    people = []
    for _ in range(count):
        customer = CustomerFactory(**fields)
        consent_grant(customer=customer, purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.ADMIN, actor="tests")
        people.append(customer)
    return people


def segment_of(customers, **fields):
    segment = SegmentFactory(member_count=len(customers), **fields)
    for customer in customers:
        SegmentMembershipFactory(segment=segment, customer=customer)
    return segment


@pytest.fixture
def version():
    return version_of("<p>Spring picks</p>", name="Spring picks")


@pytest.fixture
def segment():
    return segment_of(subscribers(6), name="Spring audience")


def draft(segment, version, *, variants=("A", "B"), **fields) -> Campaign:
    campaign = Campaign.objects.create(name=fields.pop("name", "Spring sale"), **fields)
    campaign.segments.set([segment])
    for position, name in enumerate(variants):
        Variant.objects.create(campaign=campaign, name=name, template_version=version, is_control=position == 0)
    return campaign


def planned(campaign: Campaign, django_capture_on_commit_callbacks) -> Campaign:
    """Sent and started (the planning a worker does), with its senders held back: sending,
    its rows planned, none sent."""
    with django_capture_on_commit_callbacks(execute=False):
        campaign_send(campaign=campaign)
        campaign_start(campaign=campaign, now=timezone.now())
    campaign.refresh_from_db()
    return campaign


def campaign_left_out(campaign: Campaign) -> dict:
    campaign.refresh_from_db()
    return campaign.left_out


def shown_messages(response) -> list[str]:
    """The messages of a request (follow its redirect: messages stay until a page shows them)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def form_data(segment, variants=(), **fields) -> dict:
    data = {
        "name": "Spring sale", "topic": "", "segments": [segment.pk], "from_name": "", "from_email": "",
        "schedule_mode": "now", "send_at_0": "", "send_at_1": "", "local_hour": "", "experiment_mode": "split",
        "holdout_percent": "10", "test_percent": "20", "test_hours": "4", "winner_metric": "clicks",
        "min_sample": "500", "alpha": "0.05", "attribution_hours": "120",
        "variants-TOTAL_FORMS": str(len(variants)), "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0", "variants-MAX_NUM_FORMS": "1000",
    }  # fmt: skip
    for index, variant in enumerate(variants):
        for key, value in variant.items():
            if key == "is_control":
                if value:
                    data[f"variants-{index}-is_control"] = "on"
            else:
                data[f"variants-{index}-{key}"] = value
    data.update(fields)
    return data


def variant(name, version, *, control=False, subject="", weight="1") -> dict:
    return {"name": name, "template_version": str(version.pk), "subject": subject, "weight": weight,
            "is_control": control}  # fmt: skip


# --- the list -------------------------------------------------------------------------------


def ledger_set(campaign: Campaign, **counts: int) -> None:
    """Move some of a planned campaign's rows to other states: sent=1, held_out=2…"""
    for status, count in counts.items():
        ids = Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED).values_list("pk", flat=True)
        fields = {"status": status, **({"sent_at": timezone.now()} if status == MessageStatus.SENT else {})}
        Message.objects.filter(pk__in=list(ids[:count])).update(**fields)


def test_the_list_shows_state_schedule_audience_counts_and_winner(admin_client, segment, version,
                                                                   django_capture_on_commit_callbacks):  # fmt: skip
    sending = planned(draft(segment, version), django_capture_on_commit_callbacks)
    ledger_set(sending, sent=1, held_out=2)
    other = segment_of(subscribers(1), name="VIPs")
    later = draft(other, version, name="Autumn", schedule_mode="local_time", local_hour=9)
    later.excluded_segments.set([segment])
    later.winner = later.variants.get(name="B")
    later.save()

    html = admin_client.get(CHANGELIST).content.decode()

    row = _row(html, "Spring sale")
    assert ">Sending</strong>" in row
    assert '<td class="field-schedule">when sent</td>' in row
    assert '<td class="field-audience">Spring audience</td>' in row
    assert '<td class="field-sent">1 of 4</td>' in row
    assert '<td class="field-planned">6 (2 held out)</td>' in row
    autumn = _row(html, "Autumn")
    assert ">Draft</strong>" in autumn
    assert "09:00 recipients&#x27; time" in autumn
    assert "VIPs (not Spring audience)" in autumn
    assert '<td class="field-sent">—</td>' in autumn
    assert '<td class="field-winner_shown">B</td>' in autumn


def _row(html: str, name: str) -> str:
    start = html.index(f">{name}</a>")
    return html[start : html.index("</tr>", start)]


def test_the_list_filters_by_state_and_searches_names_and_segments(admin_client, segment, version,
                                                                   django_capture_on_commit_callbacks):  # fmt: skip
    planned(draft(segment, version, name="Spring sale"), django_capture_on_commit_callbacks)
    draft(segment_of([], name="Lapsed buyers"), version, name="Win back")

    def names(query: str) -> set[str]:
        html = admin_client.get(f"{CHANGELIST}?{query}").content.decode()
        return set(re.findall(r'<th class="field-name"><a href="[^"]+">([^<]+)</a>', html))

    assert names("") == {"Spring sale", "Win back"}
    assert names("state__exact=draft") == {"Win back"}
    assert names("state__exact=sending") == {"Spring sale"}
    assert names("q=spring") == {"Spring sale"}
    assert names("q=lapsed") == {"Win back"}


# --- the change form -------------------------------------------------------------------------


def test_variants_choose_among_marketing_versions_shown_as_template_and_number(admin_client, version):
    version_of("<p>Spring picks, again</p>", name="Spring picks 2")
    transactional = version_of("<p>Confirm</p>", name="Opt-in", kind=MessageKind.TRANSACTIONAL)

    html = admin_client.get(ADD).content.decode()

    select = html[html.index('name="variants-0-template_version"') :]
    select = select[: select.index("</select>")]
    assert f'<option value="{version.pk}">Spring picks v1</option>' in select
    assert ">Spring picks 2 v1</option>" in select
    assert str(transactional.pk) not in re.findall(r'value="(\d+)"', select)
    for label in ("Subject override", "Weight", "Control"):
        assert label in html


def test_a_campaign_is_created_with_its_segments_and_variants(admin_client, segment, version):
    data = form_data(segment, [variant("A", version, control=True), variant("B", version, subject="{{ shop.name }}!")])

    response = admin_client.post(ADD, data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    campaign = Campaign.objects.get(name="Spring sale")
    assert campaign.state == CampaignState.DRAFT
    assert list(campaign.segments.all()) == [segment]
    assert campaign.holdout_percent == 10
    assert [(v.name, v.template_version, v.subject, v.is_control) for v in campaign.variants.all()] == [
        ("A", version, "", True), ("B", version, "{{ shop.name }}!", False)
    ]  # fmt: skip
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"holdout_percent": "60"}, "holdout_percent", "Ensure this value is less than or equal to 50."),
        ({"test_percent": "0"}, "test_percent", "Ensure this value is greater than or equal to 1."),
        ({"schedule_mode": "at"}, "send_at", "Give the time to send at."),
        ({"schedule_mode": "local_time"}, "local_hour", "Give the hour of each recipient's day to send at (0-23)."),
        ({"schedule_mode": "local_time", "local_hour": "24"}, "local_hour",
         "Ensure this value is less than or equal to 23."),
        ({"alpha": "1.5"}, "alpha", "The significance level is between 0 and 1, e.g. 0.05."),
    ],
)  # fmt: skip
def test_a_campaign_the_model_would_refuse_is_refused_on_its_field(admin_client, segment, version, fields, field,
                                                                   message):  # fmt: skip
    response = admin_client.post(ADD, form_data(segment, [variant("A", version, control=True)], **fields))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert not Campaign.objects.exists()


def test_two_controls_are_refused(admin_client, segment, version):
    data = form_data(segment, [variant("A", version, control=True), variant("B", version, control=True)])

    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    [formset] = response.context["inline_admin_formsets"]
    assert formset.formset.non_form_errors() == ["Mark only one variant as control: results are measured against it."]
    assert not Campaign.objects.exists()


def test_a_variant_cannot_be_named_like_the_holdout(admin_client, segment, version):
    response = admin_client.post(
        ADD, form_data(segment, [variant("A", version, control=True), variant("Holdout", version)])
    )

    [formset] = response.context["inline_admin_formsets"]
    assert formset.formset.errors[1]["name"] == [
        "“holdout” is the results' name for the people who get nothing; choose another name."
    ]
    assert not Campaign.objects.exists()


def test_a_segment_cannot_be_both_included_and_excluded(admin_client, segment, version):
    data = form_data(segment, [variant("A", version)], excluded_segments=[segment.pk])

    response = admin_client.post(ADD, data)

    assert response.context["adminform"].form.errors["excluded_segments"] == [
        "A segment cannot be both the audience and excluded: Spring audience."
    ]


def test_a_drafts_page_says_what_it_still_needs_before_it_can_be_sent(admin_client, version):
    campaign = Campaign.objects.create(name="Bare", schedule_mode="at")
    Variant.objects.create(campaign=campaign, name="A", template_version=version)
    Variant.objects.create(campaign=campaign, name="B", template_version=version)

    html = admin_client.get(change_url(campaign)).content.decode()

    assert "Before it can be sent:" in html
    for problem in ("Choose at least one segment as the audience.",
                    "Mark one variant as control: results and winners are measured against it.",
                    "Give the time to send at (send_at)."):  # fmt: skip
        assert f"<li>{problem}</li>" in html
    assert 'name="_send"' in html
    assert "data-socket" not in html  # nothing to follow live yet


# --- save and send -----------------------------------------------------------------------------


def test_save_and_send_sends_to_the_segment_and_shows_how_many(admin_client, segment, version,
                                                               django_capture_on_commit_callbacks):  # fmt: skip
    outsider = CustomerFactory()  # in the segment, no consent
    SegmentMembershipFactory(segment=segment, customer=outsider)
    data = form_data(segment, [variant("A", version, control=True), variant("B", version)], _send="Save and send")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD, data)

    campaign = Campaign.objects.get(name="Spring sale")
    assert response.status_code == 302
    assert response["Location"] == change_url(campaign)
    assert shown_messages(response) == [
        "“Spring sale” was saved and is starting: a worker plans its audience now (consent, frequency, the cap) "
        "and sends it; the progress box follows it."
    ]
    held = Message.objects.filter(campaign=campaign, status=MessageStatus.HELD_OUT).count()
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.SENT).count() == 6 - held
    assert campaign_left_out(campaign) == {"no_consent": 1}
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENT  # the senders ran on commit (tasks are eager here)
    assert campaign.left_out == {"no_consent": 1}
    assert len(mail.outbox) == 6 - held
    assert outsider.email not in {address for message in mail.outbox for address in message.to}


def test_save_and_send_of_a_campaign_that_is_not_ready_saves_it_and_lists_the_problems(admin_client, segment,
                                                                                       version):  # fmt: skip
    data = form_data(segment, [variant("A", version, subject="{{ customer.first_name | shout }}")],
                     experiment_mode="test_then_winner", _send="Save and send")  # fmt: skip

    response = admin_client.post(ADD, data, follow=True)

    campaign = Campaign.objects.get()
    assert campaign.state == CampaignState.DRAFT
    [message] = shown_messages(response)
    assert message.startswith(
        "“Spring sale” was saved, but cannot be sent yet: <ul>"
        "<li>A test-then-winner campaign needs at least two variants.</li><li>Variant A&#x27;s subject: "
    )
    html = response.content.decode()
    assert "<li>A test-then-winner campaign needs at least two variants.</li>" in html  # a list, not its markup
    assert "unknown filter" in html
    assert not Message.objects.exists()


def test_save_and_send_with_a_time_to_come_schedules_it(admin_client, segment, version):
    when = timezone.localtime() + timedelta(days=2)
    data = form_data(segment, [variant("A", version, control=True)], schedule_mode="at", _send="Save and send",
                     send_at_0=f"{when:%Y-%m-%d}", send_at_1=f"{when:%H:%M:00}")  # fmt: skip

    response = admin_client.post(ADD, data)

    campaign = Campaign.objects.get()
    assert campaign.state == CampaignState.SCHEDULED
    assert shown_messages(response) == [f"“Spring sale” was saved and is scheduled to send at {when:%Y-%m-%d %H:%M}."]
    assert not Message.objects.exists()


# --- once it left draft -------------------------------------------------------------------------


def test_a_campaign_that_left_draft_is_shown_read_only(admin_client, segment, version,
                                                       django_capture_on_commit_callbacks):  # fmt: skip
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)

    response = admin_client.get(change_url(campaign))

    html = response.content.decode()
    assert response.context["title"] == "View campaign"
    assert 'name="name"' not in html
    assert 'name="variants-0-name"' not in html
    assert 'name="_send"' not in html
    assert "Spring picks v1" in html  # the variant's version, shown
    refused = admin_client.post(change_url(campaign), form_data(segment, name="Changed"))
    assert refused.status_code == 403
    campaign.refresh_from_db()
    assert campaign.name == "Spring sale"


def test_a_campaign_with_a_ledger_cannot_be_deleted(admin_client, segment, version,
                                                    django_capture_on_commit_callbacks):  # fmt: skip
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)
    spare = draft(segment, version, name="Spare")

    assert admin_client.get(change_url(campaign, "delete")).status_code == 403
    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [campaign.pk, spare.pk]})
    assert "Spring sale: it has a sending ledger (who was sent what); cancel it instead" in response.content.decode()
    assert Campaign.objects.count() == 2


def test_the_change_page_shows_the_progress_box_with_the_ledgers_counts(
    admin_client, segment, version, django_capture_on_commit_callbacks
):
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)
    ledger_set(campaign, sent=1, held_out=2)

    html = admin_client.get(change_url(campaign)).content.decode()

    assert f'data-socket="/ws/campaigns/{campaign.pk}/progress"' in html
    assert '<strong data-cp="state" style="color:#1565c0">Sending</strong>' in html
    assert '<span data-cp="sent">1</span> of <span data-cp="to_send">4</span> sent' in html
    assert '(<span data-cp="percent">25</span>%)' in html
    assert 'max="4" value="1"' in html
    assert '<dd data-cp-count="planned">3</dd>' in html
    assert '<dd data-cp-count="held_out">2</dd>' in html
    assert '<dd data-cp-count="failed">0</dd>' in html
    assert '<dd data-cp="planned">6</dd>' in html
    assert "/static/campaigns/progress.js" in html
    assert 'id="cp-labels"' in html
    # What the state allows: pause and cancel, not resume.
    assert re.search(r'<form method="post" action="[^"]+/pause/" data-cp-when="sending">', html)
    assert re.search(r'<form method="post" action="[^"]+/resume/" data-cp-when="paused" hidden>', html)
    assert re.search(r'<a class="button cp-cancel" href="[^"]+/cancel/" data-cp-when="scheduled sending paused">', html)


# --- pause, resume, cancel ----------------------------------------------------------------------


def test_pause_resume_and_cancel_from_the_change_page(admin_client, segment, version,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)

    response = admin_client.post(change_url(campaign, "pause"), follow=True)
    assert response.redirect_chain == [(change_url(campaign), 302)]
    assert shown_messages(response) == ["“Spring sale” is paused: what is in flight finishes, the rest waits."]
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.PAUSED

    again = admin_client.post(change_url(campaign, "pause"), follow=True)
    assert shown_messages(again) == ["“Spring sale”: A paused campaign cannot be paused."]

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(change_url(campaign, "resume"), follow=True)
    assert shown_messages(response) == ["“Spring sale” is sending again."]
    assert queued  # its senders, on commit
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING

    unsent = Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED).count()
    confirm = admin_client.get(change_url(campaign, "cancel"))
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert f"<strong>{unsent}</strong> planned messages will not be sent." in html
    assert 'value="Yes, cancel the campaign"' in html
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING  # asking is not cancelling

    response = admin_client.post(change_url(campaign, "cancel"), follow=True)
    assert shown_messages(response) == ["“Spring sale” is cancelled: nothing more will be sent."]
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CANCELLED
    assert not Message.objects.filter(campaign=campaign, status=MessageStatus.PLANNED).exists()
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.CANCELLED).count() == unsent

    refused = admin_client.post(change_url(campaign, "resume"), follow=True)
    assert shown_messages(refused) == ["“Spring sale”: A cancelled campaign cannot be resumed."]
    gone = admin_client.get(change_url(campaign, "cancel"), follow=True)
    assert shown_messages(gone) == ["A cancelled campaign cannot be cancelled."]


def test_the_buttons_on_the_results_page_come_back_to_it(admin_client, segment, version,
                                                         django_capture_on_commit_callbacks):  # fmt: skip
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)

    response = admin_client.post(change_url(campaign, "pause"), {"next": "results"})

    assert response["Location"] == change_url(campaign, "results")


def test_pause_resume_and_cancel_are_posts(admin_client, segment, version, django_capture_on_commit_callbacks):
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)

    assert admin_client.get(change_url(campaign, "pause")).status_code == 405
    assert admin_client.get(change_url(campaign, "resume")).status_code == 405
    assert admin_client.post(f"/admin/campaigns/campaign/{campaign.pk + 1}/pause/").status_code == 404
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING


def test_the_changelist_actions_call_the_services_and_say_what_each_campaign_did(
    admin_client, segment, version, django_capture_on_commit_callbacks
):
    ready = draft(segment, version, name="Ready")
    broken = draft(segment, version, name="Broken", variants=())

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            CHANGELIST, {"action": "send_selected", "_selected_action": [ready.pk, broken.pk]}, follow=True
        )

    found = shown_messages(response)
    assert "“Broken” cannot be sent: <ul><li>Add at least one variant with a template version.</li></ul>" in found
    assert (
        "“Ready” is starting: a worker plans its audience now (consent, frequency, the cap) and sends it; "
        "the progress box follows it."
    ) in found
    ready.refresh_from_db()
    assert ready.state == CampaignState.SCHEDULED  # until a worker starts it
    with django_capture_on_commit_callbacks(execute=False):
        campaign_start(campaign=ready, now=timezone.now())

    response = admin_client.post(
        CHANGELIST, {"action": "pause_selected", "_selected_action": [ready.pk, broken.pk]}, follow=True
    )
    assert set(shown_messages(response)) == {
        "“Ready” is paused: what is in flight finishes, the rest waits.",
        "“Broken”: A draft campaign cannot be paused.",
    }


def test_cancelling_from_the_list_asks_first(admin_client, segment, version, django_capture_on_commit_callbacks):
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)
    selected = {"action": "cancel_selected", "_selected_action": [campaign.pk]}

    confirm = admin_client.post(CHANGELIST, selected)

    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "“Spring sale” (sending)" in html
    assert 'name="post" value="yes"' in html
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING

    done = admin_client.post(CHANGELIST, {**selected, "post": "yes"}, follow=True)
    assert shown_messages(done) == ["“Spring sale” is cancelled: nothing more will be sent."]
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.CANCELLED


# --- who may -----------------------------------------------------------------------------------


@pytest.fixture
def viewer_client(client, db):
    """Staff who may look at campaigns, not change them."""
    viewer = get_user_model().objects.create_user("viewer", password="pw-123456789", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(viewer)
    return client


def test_staff_who_may_only_view_see_results_and_progress_but_cannot_pause(
    viewer_client, segment, version, django_capture_on_commit_callbacks
):
    campaign = planned(draft(segment, version), django_capture_on_commit_callbacks)

    change = viewer_client.get(change_url(campaign)).content.decode()
    assert 'id="cp-progress"' in change
    assert "/pause/" not in change
    assert viewer_client.get(change_url(campaign, "results")).status_code == 200
    assert viewer_client.post(change_url(campaign, "pause")).status_code == 403
    assert viewer_client.get(change_url(campaign, "cancel")).status_code == 403
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.SENDING


def test_people_who_are_not_staff_are_sent_to_the_login_page(client, segment, version):
    campaign = draft(segment, version)
    client.force_login(get_user_model().objects.create_user("shopper", password="pw-123456789"))

    response = client.get(change_url(campaign, "results"))

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- results ------------------------------------------------------------------------------------


@pytest.fixture
def sent_campaign(segment, version):
    """Worked by hand: A (control) and B, four recipients each, a holdout of two.

    A: all delivered; a1 opened and clicked and ordered 50.00 an hour later, a2 opened,
       a3 opened only through a privacy proxy.
    B: three delivered, one bounced; three opened, two clicked, one complained, b4 unsubscribed.
    Holdout: h1 ordered 20.00 within the window.
    """
    campaign = draft(segment, version)
    a, b = campaign.variants.get(name="A"), campaign.variants.get(name="B")
    sent_at = timezone.now() - timedelta(days=1)
    Campaign.objects.filter(pk=campaign.pk).update(
        state=CampaignState.SENT, planned_at=sent_at, started_at=sent_at, finished_at=sent_at,
        left_out={"no_consent": 2, "over_frequency_cap": 1},
        winner_decision="Only one challenger, and it is a split test.",
    )  # fmt: skip
    campaign.refresh_from_db()
    people = {name: CustomerFactory() for name in ("a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "h1", "h2")}
    ledger = {}
    for name, customer in people.items():
        held = name.startswith("h")
        ledger[name] = Message.objects.create(
            campaign=campaign, customer=customer, kind=MessageKind.MARKETING,
            status=MessageStatus.HELD_OUT if held else MessageStatus.SENT, audience_group="holdout" if held else "main",
            variant=None if held else (a if name.startswith("a") else b), sent_at=None if held else sent_at,
        )  # fmt: skip

    def event(name, kind, hours=0.5, **properties):
        EventFactory(customer=people[name], type=kind, email_message=ledger.get(name) if kind.startswith("Email")
                     else None, occurred_at=sent_at + timedelta(hours=hours), properties=properties)  # fmt: skip

    for name in ("a1", "a2", "a3", "a4", "b1", "b2", "b3"):
        event(name, EventType.EMAIL_DELIVERED)
    event("b4", EventType.EMAIL_BOUNCED)
    event("a1", EventType.EMAIL_OPENED)
    event("a1", EventType.EMAIL_OPENED, privacy_proxy=True)
    event("a2", EventType.EMAIL_OPENED)
    event("a3", EventType.EMAIL_OPENED, privacy_proxy=True)
    event("a4", EventType.EMAIL_OPENED, bot=True)
    for name in ("b1", "b2", "b3"):
        event(name, EventType.EMAIL_OPENED)
    event("a1", EventType.EMAIL_LINK_CLICKED, hours=1)
    event("b1", EventType.EMAIL_LINK_CLICKED, hours=1)
    event("b2", EventType.EMAIL_LINK_CLICKED, hours=1)
    event("b3", EventType.EMAIL_MARKED_AS_SPAM, hours=2)
    event("a1", EventType.ORDER_COMPLETED, hours=2, revenue="50.00")
    event("h1", EventType.ORDER_COMPLETED, hours=3, revenue="20.00")
    consent_grant(customer=people["b4"], purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.API, actor="tests")
    consent_withdraw(customer=people["b4"], purpose=Purpose.EMAIL_MARKETING, source=ConsentSource.UNSUBSCRIBE_LINK,
                     actor="tests")  # fmt: skip
    return campaign


def metric_row(html: str, metric: str, table: str = 'id="cr-arms"') -> list[str]:
    """The cells of a metric's row, as text with spaces collapsed."""
    start = html.index(table)
    start = html.index(f'data-metric="{metric}"', start)
    row = html[start : html.index("</tr>", start)]
    cells = re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
    texts = [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]
    return [text.replace(EN_DASH, "-").replace(MINUS, "-") for text in texts]  # typeset dashes, read as "-"


def test_the_results_page_shows_each_arms_counts_rates_and_wilson_intervals(admin_client, sent_campaign):
    response = admin_client.get(change_url(sent_campaign, "results"))

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r"<th scope=\"col\" class=\"cr-arm\">A <span class=\"cr-tag\">control</span></th>", html)
    assert '<th scope="col" class="cr-arm">holdout <span class="cr-tag">got nothing</span></th>' in html
    sent = metric_row(html, "recipients")
    assert sent[1:] == ["4", "4", "2"]
    # 4 of 4: Wilson 51.0-100.0%; 3 of 4: 30.1-95.4%.
    assert metric_row(html, "delivered")[1:] == ["4 100.0% 95% CI 51.0-100.0%", "3 75.0% 95% CI 30.1-95.4%",
                                                 "— got nothing"]  # fmt: skip
    # Opens by people: a1 and a2; a3 only through a privacy proxy (apart), a4's scanner not at all.
    assert metric_row(html, "opens")[1] == (
        "2 50.0% 95% CI 15.0-85.0% + 1 by a privacy proxy only, not counted (25.0%)"
    )
    assert metric_row(html, "opens")[2] == "3 75.0% 95% CI 30.1-95.4%"
    assert metric_row(html, "clicks")[1:3] == ["1 25.0% 95% CI 4.6-69.9%", "2 50.0% 95% CI 15.0-85.0%"]
    assert metric_row(html, "conversions")[1:3] == ["1 25.0% 95% CI 4.6-69.9%", "0 0.0% 95% CI 0.0-49.0%"]
    assert metric_row(html, "revenue")[1:3] == ["50.00 USD 12.50 USD per recipient", "0.00 USD 0.00 USD per recipient"]
    assert metric_row(html, "order_revenue")[3] == "20.00 USD 10.00 USD per recipient"
    assert metric_row(html, "unsubscribes")[1:] == ["0 0.0% 95% CI 0.0-49.0%", "1 25.0% 95% CI 4.6-69.9%",
                                                    "0 0.0% 95% CI 0.0-65.8%"]  # fmt: skip
    assert metric_row(html, "complaints")[2] == "1 25.0% 95% CI 4.6-69.9%"
    assert metric_row(html, "orders")[1:] == ["1 25.0% 95% CI 4.6-69.9%", "0 0.0% 95% CI 0.0-49.0%",
                                              "1 50.0% 95% CI 9.5-90.5%"]  # fmt: skip


def test_the_results_page_compares_with_control_and_the_holdout(admin_client, sent_campaign):
    html = admin_client.get(change_url(sent_campaign, "results")).content.decode()

    against_control = 'data-arm="B"'
    # Clicks, 1 of 4 against 2 of 4: pooled z = 0.730, p = 0.465; unpooled 95% interval of the difference.
    clicks = metric_row(html, "clicks", against_control)
    assert clicks[:6] == ["Unique clicks decides the winner", "25.0%", "50.0%", "+100.0%",
                          "+25.0 pp (95% CI -39.8 pp to +89.8 pp)", "0.465"]  # fmt: skip
    assert 60 <= int(clicks[6].rstrip("%")) <= 80  # Beta(3, 3) against Beta(2, 4)
    # Complaints: lower is better, so B (one complaint, control none) is unlikely to beat control.
    complaints = metric_row(html, "complaints", against_control)
    assert complaints[0] == "Complaints lower is better"
    assert int(complaints[6].rstrip("%")) < 30  # P(Beta(2, 4) < Beta(1, 5)), about 0.22
    revenue = metric_row(html, "revenue", against_control)
    assert revenue[:4] == ["Revenue per recipient", "12.50 USD", "0.00 USD", "-100.0%"]
    assert revenue[6] == "—"

    holdout_of_a = html[html.index("<caption>A against the holdout</caption>") :]
    orders = metric_row(holdout_of_a, "orders", "<tbody>")
    assert orders[:4] == ["Ordered after the send", "50.0%", "25.0%", "-50.0%"]
    order_revenue = metric_row(holdout_of_a, "order_revenue", "<tbody>")
    assert order_revenue[:4] == ["Order revenue per recipient", "10.00 USD", "12.50 USD", "+25.0%"]


def test_the_results_page_lists_who_was_left_out_by_reason_and_the_decision(admin_client, sent_campaign, settings):
    settings.MARKETING_CAP_MESSAGES, settings.MARKETING_CAP_DAYS = 3, 7

    html = admin_client.get(change_url(sent_campaign, "results")).content.decode()

    left_out = html[html.index('id="cr-left-out"') :]
    assert '<tr><th scope="row">No consent to marketing email</th><td class="tp-num">2</td></tr>' in left_out
    assert ("<tr><th scope=\"row\">Over the shop's cap on marketing email (3 in 7 days)</th>"
            '<td class="tp-num">1</td></tr>') in escape_free(left_out)  # fmt: skip
    assert '<th scope="row">in all</th><td class="tp-num">3</td>' in left_out
    assert "Only one challenger, and it is a split test." in html
    assert '<span data-cp="left_out">3</span>' in html


def escape_free(html: str) -> str:
    return html.replace("&#x27;", "'")


def test_the_results_page_of_a_draft_says_nothing_was_sent(admin_client, segment, version):
    campaign = draft(segment, version, experiment_mode="test_then_winner", holdout_percent=0)

    html = admin_client.get(change_url(campaign, "results")).content.decode()

    assert "Nothing was sent yet" in html
    assert "The winner will be chosen on unique clicks by people" in html
    assert "This campaign has no holdout" in html
    assert "The audience is planned when the campaign starts" in html


def test_names_chosen_by_staff_are_shown_as_text(admin_client, segment, version, django_capture_on_commit_callbacks):
    campaign = planned(draft(segment, version, name=f"Sale {SCRIPT}", variants=(f"A{SCRIPT}", "B")),
                       django_capture_on_commit_callbacks)  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(winner_decision=SCRIPT)

    for page in ("change", "results"):
        html = admin_client.get(change_url(campaign, page)).content.decode()
        assert SCRIPT not in html
        assert escape(SCRIPT) in html


def test_revenue_is_shown_in_the_shops_currency(admin_client, sent_campaign, settings):
    settings.SHOP_CURRENCY = "EUR"

    html = admin_client.get(change_url(sent_campaign, "results")).content.decode()

    assert metric_row(html, "revenue")[1] == "50.00 EUR 12.50 EUR per recipient"
