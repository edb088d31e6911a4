"""Segments in the admin: the rule builder with its vocabulary and live preview, saving
through the service, "why", the refresh action, cluster segments, the customer page's
traits and segments, and attacker-controlled values shown escaped."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from core.roles import ROLES
from personalization.models import RefreshStatus, Segment, SegmentKind, SegmentMembership
from personalization.segments.selectors import segment_member_ids
from tests.factories import (
    ClusteringFactory,
    CustomerFactory,
    EventFactory,
    SegmentFactory,
    SegmentMembershipFactory,
    TraitsFactory,
)

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('owned')</script>"
ESCAPED = "&lt;script&gt;alert("
REPEAT_BUYERS = {"type": "trait", "trait": "order_count", "op": ">=", "value": 2}
LOYAL = {"type": "trait", "trait": "order_count", "op": ">=", "value": 5}
BIG_SPENDERS = {"type": "trait", "trait": "lifetime_value", "op": ">=", "value": 100}
BOGUS_SECOND = {"type": "all", "rules": [REPEAT_BUYERS, {"type": "bogus"}]}
ADD = "/admin/personalization/segment/add/"
CHANGELIST = "/admin/personalization/segment/"


@pytest.fixture
def admin_client(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(root)
    return client


@pytest.fixture
def repeat_buyers():
    return SegmentFactory(name="Repeat buyers", rules=REPEAT_BUYERS)


@pytest.fixture
def cluster():
    return SegmentFactory(name="Cluster 1", kind=SegmentKind.CLUSTER, clustering=ClusteringFactory(), rules={},
                          description="Big baskets, rare visits")  # fmt: skip


def buyer(orders: int, **fields):
    return TraitsFactory(order_count=orders, **fields).customer


def change_url(segment) -> str:
    return f"/admin/personalization/segment/{segment.pk}/change/"


def why_url(segment, customer) -> str:
    return reverse("admin:personalization_segment_why", args=[segment.pk, customer.pk])


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def vocabulary(html: str) -> dict:
    found = re.search(r'<script id="rb-vocabulary" type="application/json">(.*?)</script>', html, re.S)
    assert found, "no rb-vocabulary on the page"
    return json.loads(found.group(1))


def form(name: str, rules, **fields) -> dict:
    rules = rules if isinstance(rules, str) else json.dumps(rules)
    return {"name": name, "description": "", "is_active": "on", "rules": rules, **fields}


def preview(client, body):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(reverse("admin:personalization_segment_preview"), data, content_type="application/json")


# --- the rule builder -------------------------------------------------------------


def test_the_add_page_renders_the_rule_builder(admin_client):
    html = page(admin_client, ADD)

    assert 'id="rule-builder"' in html
    assert "segment_builder.js" in html
    assert f'window.RB_PREVIEW_URL = "{reverse("admin:personalization_segment_preview")}"' in html


def test_the_builders_vocabulary_offers_the_traits_and_event_names(admin_client):
    words = vocabulary(page(admin_client, ADD))

    traits = {trait["name"]: trait for trait in words["traits"]}
    assert {"order_count", "lifetime_value", "days_since_last_order", "favorite_categories"} <= set(traits)
    assert ">=" in traits["order_count"]["ops"]
    assert {"Product Viewed", "Product Added", "Order Completed"} <= set(words["events"])


def test_the_builders_vocabulary_offers_custom_event_names_the_shop_sent(admin_client):
    EventFactory(type="Wishlist Shared", occurred_at=timezone.now() - timedelta(days=1))

    assert "Wishlist Shared" in vocabulary(page(admin_client, ADD))["events"]


def test_the_builders_vocabulary_offers_the_other_segments(admin_client, repeat_buyers):
    segments = vocabulary(page(admin_client, ADD))["segments"]

    assert {"id": repeat_buyers.pk, "name": "Repeat buyers"} in segments


def test_a_rule_based_segments_change_page_renders_the_builder_and_its_state(admin_client, repeat_buyers):
    html = page(admin_client, change_url(repeat_buyers))

    assert 'id="rule-builder"' in html
    assert 'id="rb-vocabulary"' in html
    assert "Number of orders &gt;= 2" in html
    assert "Never refreshed" in html


# --- saving -----------------------------------------------------------------------


def test_saving_valid_rules_creates_the_segment_and_its_membership_follows(
    admin_client, django_capture_on_commit_callbacks
):
    regulars = {buyer(2).pk, buyer(3).pk}
    buyer(1)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD, form("Repeat buyers", REPEAT_BUYERS))

    assert response.status_code == 302
    segment = Segment.objects.get(name="Repeat buyers")
    assert (segment.kind, segment.rules, segment.is_active) == (SegmentKind.RULES, REPEAT_BUYERS, True)
    assert set(segment_member_ids(segment=segment)) == regulars
    assert (segment.member_count, segment.refresh_status) == (2, RefreshStatus.FRESH)


def test_invalid_rules_show_the_error_naming_the_path_and_save_nothing(admin_client):
    before = Segment.objects.count()

    response = admin_client.post(ADD, form("Broken", BOGUS_SECOND))

    assert response.status_code == 200
    assert "The rule at rules.rules[1].type is not valid" in response.content.decode()
    assert Segment.objects.count() == before
    assert not Segment.objects.filter(name="Broken").exists()


def test_rules_that_are_not_json_show_an_error_and_save_nothing(admin_client):
    response = admin_client.post(ADD, form("Broken", "order_count >= 2"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rules"]
    assert not Segment.objects.filter(name="Broken").exists()


def test_a_name_already_taken_shows_an_error_and_saves_nothing(admin_client, repeat_buyers):
    response = admin_client.post(ADD, form("Repeat buyers", LOYAL))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    assert Segment.objects.get(name="Repeat buyers").rules == REPEAT_BUYERS


def test_changing_the_rules_in_the_admin_changes_them_and_the_membership_follows(
    admin_client, repeat_buyers, django_capture_on_commit_callbacks
):
    buyer(2)
    loyal = buyer(6)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(change_url(repeat_buyers), form("Repeat buyers", LOYAL))

    assert response.status_code == 302
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == LOYAL
    assert segment_member_ids(segment=repeat_buyers) == [loyal.pk]


def test_rules_depending_on_the_segments_own_membership_are_refused_on_its_page(admin_client, repeat_buyers):
    rules = {"type": "any", "rules": [LOYAL, {"type": "segment", "segment": repeat_buyers.pk}]}

    response = admin_client.post(change_url(repeat_buyers), form("Repeat buyers", rules))

    assert response.status_code == 200
    assert "rules.rules[1].segment" in response.content.decode()
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == REPEAT_BUYERS


# --- the live preview -------------------------------------------------------------


def test_the_preview_returns_the_size_and_a_sample_with_links(admin_client):
    regular = buyer(2)
    buyer(1)
    segments = Segment.objects.count()

    response = preview(admin_client, {"rules": REPEAT_BUYERS})

    assert response.status_code == 200
    url = reverse("admin:personalization_customer_change", args=[regular.pk])
    assert response.json() == {"size": 1, "sample": [{"id": regular.pk, "label": str(regular), "url": url}]}
    assert Segment.objects.count() == segments


def test_the_preview_of_invalid_rules_returns_the_error_with_its_path(admin_client):
    response = preview(admin_client, {"rules": BOGUS_SECOND})

    assert response.status_code == 400
    error = response.json()["error"]
    assert "rules.rules[1].type" in error["message"]
    assert list(error["details"]["rules"]) == ["rules.rules[1].type"]


@pytest.mark.parametrize("body", ["order_count >= 2", "[1, 2]"])
def test_the_preview_of_a_body_that_is_not_a_json_object_is_refused(admin_client, body):
    response = preview(admin_client, body)

    assert response.status_code == 400
    assert "JSON object" in response.json()["error"]["message"]


def test_the_preview_answers_only_posts(admin_client):
    assert admin_client.get(reverse("admin:personalization_segment_preview")).status_code == 405


def test_the_preview_is_refused_to_staff_who_may_not_view_segments(client):
    client.force_login(get_user_model().objects.create_user("sam", password="pw-123456789", is_staff=True))
    buyer(2)

    response = preview(client, {"rules": REPEAT_BUYERS})

    assert response.status_code == 403
    assert "size" not in response.json()


def test_the_preview_sends_anyone_signed_out_to_the_login_page(client):
    response = preview(client, {"rules": REPEAT_BUYERS})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- why --------------------------------------------------------------------------


def test_the_why_page_shows_which_conditions_hold_and_what_was_observed(admin_client):
    segment = SegmentFactory(name="Big repeat buyers", rules={"type": "all", "rules": [REPEAT_BUYERS, BIG_SPENDERS]})
    customer = buyer(3, revenue=Decimal("60.00"))

    html = page(admin_client, why_url(segment, customer))

    assert "does not match" in html
    assert "Big repeat buyers" in html
    rows = re.findall(r"<tr><td[^>]*>(.*?)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td></tr>", html, re.S)
    cells = [(text, "yes" if ">yes<" in holds else "no", observed) for text, holds, observed in rows]
    assert cells == [
        ("All of these hold", "no", ""),
        ("Number of orders &gt;= 2", "yes", "is 3"),
        ("Lifetime value (revenue) &gt;= 100", "no", "is 60.00"),
    ]


def test_the_why_page_says_when_the_customer_matches(admin_client, repeat_buyers):
    html = page(admin_client, why_url(repeat_buyers, buyer(2)))

    assert "matches" in html
    assert "does not match" not in html


def test_the_why_page_of_an_unknown_segment_is_404(admin_client):
    url = reverse("admin:personalization_segment_why", args=[987654321, CustomerFactory().pk])

    assert admin_client.get(url).status_code == 404


def test_the_why_page_of_an_unknown_customer_is_404(admin_client, repeat_buyers):
    url = reverse("admin:personalization_segment_why", args=[repeat_buyers.pk, 987654321])

    assert admin_client.get(url).status_code == 404


def test_the_why_page_is_refused_to_staff_who_may_not_view_segments(client, repeat_buyers):
    client.force_login(get_user_model().objects.create_user("sam", password="pw-123456789", is_staff=True))

    assert client.get(why_url(repeat_buyers, buyer(2))).status_code == 403


def test_the_segments_page_links_some_members_to_their_why(admin_client, repeat_buyers):
    member = SegmentMembershipFactory(segment=repeat_buyers).customer

    html = page(admin_client, change_url(repeat_buyers))

    assert f'href="{why_url(repeat_buyers, member)}"' in html


# --- the refresh action -----------------------------------------------------------


def test_the_refresh_action_marks_the_segment_fresh_with_its_exact_size(admin_client, repeat_buyers):
    buyer(2), buyer(3), buyer(1)

    response = admin_client.post(CHANGELIST, {"action": "refresh", "_selected_action": [repeat_buyers.pk]}, follow=True)

    assert response.status_code == 200
    repeat_buyers.refresh_from_db()
    assert (repeat_buyers.refresh_status, repeat_buyers.member_count) == (RefreshStatus.FRESH, 2)
    assert repeat_buyers.refreshed_at is not None
    assert "Repeat buyers: Fresh, 2 members." in response.content.decode()


def test_the_refresh_action_is_offered_as_refresh_membership_now(admin_client, repeat_buyers):
    assert "Refresh membership now" in page(admin_client, CHANGELIST)


def test_the_refresh_action_leaves_cluster_segments_to_their_clustering(admin_client, cluster):
    Segment.objects.filter(pk=cluster.pk).update(refresh_status=RefreshStatus.FRESH, member_count=7)

    admin_client.post(CHANGELIST, {"action": "refresh", "_selected_action": [cluster.pk]})

    cluster.refresh_from_db()
    assert (cluster.refresh_status, cluster.member_count) == (RefreshStatus.FRESH, 7)


# --- cluster segments -------------------------------------------------------------


def test_a_cluster_segments_change_page_has_no_builder_and_no_save_button(admin_client, cluster):
    html = page(admin_client, change_url(cluster))

    assert 'name="_save"' not in html
    assert 'id="rule-builder"' not in html
    assert 'id="rb-vocabulary"' not in html
    assert "segment_builder.js" not in html
    assert "Big baskets, rare visits" in html


def test_a_cluster_segment_cannot_be_changed_in_the_admin(admin_client, cluster):
    response = admin_client.post(change_url(cluster), form("Renamed", LOYAL))

    assert response.status_code == 403
    cluster.refresh_from_db()
    assert (cluster.name, cluster.rules, cluster.kind) == ("Cluster 1", {}, SegmentKind.CLUSTER)


# --- deleting ---------------------------------------------------------------------


def test_a_segment_used_by_another_cannot_be_deleted_in_the_admin(admin_client, repeat_buyers):
    SegmentFactory(name="Loyal repeat buyers", rules={"type": "all", "rules": [
        LOYAL, {"type": "segment", "segment": repeat_buyers.pk}]})  # fmt: skip
    url = f"/admin/personalization/segment/{repeat_buyers.pk}/delete/"

    assert "Loyal repeat buyers" in page(admin_client, url)
    admin_client.post(url, {"post": "yes"})

    assert Segment.objects.filter(pk=repeat_buyers.pk).exists()


def test_a_segment_used_by_another_is_not_deleted_by_the_delete_action(admin_client, repeat_buyers):
    SegmentFactory(name="Loyal repeat buyers", rules={"type": "segment", "segment": repeat_buyers.pk})

    admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [repeat_buyers.pk], "post": "yes"})

    assert Segment.objects.filter(pk=repeat_buyers.pk).exists()


def test_a_segment_no_one_uses_is_deleted_in_the_admin_with_its_membership(admin_client, repeat_buyers):
    SegmentMembershipFactory(segment=repeat_buyers)

    response = admin_client.post(f"/admin/personalization/segment/{repeat_buyers.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Segment.objects.filter(pk=repeat_buyers.pk).exists()
    assert not SegmentMembership.objects.filter(segment_id=repeat_buyers.pk).exists()


def test_a_cluster_segment_cannot_be_deleted_in_the_admin(admin_client, cluster):
    url = f"/admin/personalization/segment/{cluster.pk}/delete/"

    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [cluster.pk], "post": "yes"})

    assert Segment.objects.filter(pk=cluster.pk).exists()


# --- the customer page ------------------------------------------------------------


def customer_page(client, customer) -> str:
    return page(client, f"/admin/personalization/customer/{customer.pk}/change/")


def test_the_customer_page_shows_the_customers_traits(admin_client):
    customer = buyer(3, revenue=Decimal("120.00"), favorite_categories=["Shoes", "Bags"])

    html = customer_page(admin_client, customer)

    assert "<tr><th>orders</th><td>3</td></tr>" in html
    assert "<tr><th>lifetime value</th><td>120.00</td></tr>" in html
    assert "<tr><th>favorite categories</th><td>Shoes, Bags</td></tr>" in html


def test_the_customer_page_says_when_there_is_no_activity_yet(admin_client):
    html = customer_page(admin_client, CustomerFactory())

    assert "no activity yet" in html
    assert "in no segment" in html


def test_the_customer_page_shows_the_current_segments_with_when_and_why(admin_client, repeat_buyers):
    customer = CustomerFactory()
    gone = SegmentFactory(name="Left long ago")
    SegmentMembershipFactory(
        segment=repeat_buyers, customer=customer, entered_at=datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
    )
    SegmentMembershipFactory(segment=gone, customer=customer, entered_at=datetime(2026, 9, 1, tzinfo=UTC),
                             exited_at=datetime(2026, 9, 2, tzinfo=UTC))  # fmt: skip

    html = customer_page(admin_client, customer)

    assert f'<a href="{change_url(repeat_buyers)}">Repeat buyers</a>' in html
    assert "since 2026-10-05 09:30" in html
    assert f'<a href="{why_url(repeat_buyers, customer)}">why</a>' in html
    assert "Left long ago" not in html


# --- attacker-controlled values are escaped ----------------------------------------


def assert_escaped(html: str) -> None:
    assert SCRIPT not in html
    assert ESCAPED in html


def test_a_segment_name_with_script_is_escaped_on_its_pages(admin_client, django_capture_on_commit_callbacks):
    customer = buyer(2)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(ADD, form(SCRIPT, REPEAT_BUYERS))
    segment = Segment.objects.get(name=SCRIPT)

    for url in (CHANGELIST, change_url(segment), why_url(segment, customer)):
        assert_escaped(page(admin_client, url))
    assert_escaped(customer_page(admin_client, customer))


def test_a_segment_name_with_script_is_escaped_in_the_builders_vocabulary(admin_client):
    SegmentFactory(name=SCRIPT)

    html = page(admin_client, ADD)

    assert SCRIPT not in html
    assert SCRIPT in {segment["name"] for segment in vocabulary(html)["segments"]}


def test_a_segment_name_with_script_is_escaped_in_the_refresh_message(admin_client):
    segment = SegmentFactory(name=SCRIPT)

    response = admin_client.post(CHANGELIST, {"action": "refresh", "_selected_action": [segment.pk]}, follow=True)

    assert_escaped(response.content.decode())


def test_a_segment_name_with_script_is_escaped_in_the_rules_of_a_segment_using_it(admin_client):
    evil = SegmentFactory(name=SCRIPT)
    user = SegmentFactory(name="Uses it", rules={"type": "segment", "segment": evil.pk})
    member = SegmentMembershipFactory(segment=evil).customer

    assert_escaped(page(admin_client, change_url(user)))
    assert_escaped(page(admin_client, why_url(user, member)))


def test_a_customer_email_with_script_is_escaped_on_the_segment_and_why_pages(admin_client, repeat_buyers):
    customer = CustomerFactory(email=f"{SCRIPT}@example.com")
    SegmentMembershipFactory(segment=repeat_buyers, customer=customer)

    assert_escaped(page(admin_client, change_url(repeat_buyers)))
    assert_escaped(page(admin_client, why_url(repeat_buyers, customer)))


def test_a_customer_email_with_script_is_plain_text_in_the_preview(admin_client):
    customer = TraitsFactory(order_count=2, customer=CustomerFactory(email=f"{SCRIPT}@example.com")).customer

    response = preview(admin_client, {"rules": REPEAT_BUYERS})

    assert response["Content-Type"] == "application/json"
    assert response.json()["sample"][0]["label"] == str(customer)


def test_customer_attributes_and_traits_with_script_are_escaped_on_the_customer_page(admin_client, repeat_buyers):
    customer = CustomerFactory(attributes={"nickname": SCRIPT})
    TraitsFactory(customer=customer, order_count=2, favorite_categories=[SCRIPT])
    SegmentMembershipFactory(segment=repeat_buyers, customer=customer)

    assert_escaped(customer_page(admin_client, customer))


def test_an_attribute_rule_with_script_is_escaped_in_words_and_on_the_why_page(admin_client):
    segment = SegmentFactory(name="Nicknamed", rules={"type": "trait", "trait": "attributes.nickname", "op": "=",
                                                      "value": SCRIPT})  # fmt: skip
    customer = CustomerFactory(attributes={"nickname": SCRIPT})

    assert_escaped(page(admin_client, change_url(segment)))
    assert_escaped(page(admin_client, why_url(segment, customer)))


# --- marketers --------------------------------------------------------------------


@pytest.fixture
def marketer_client(client):
    marketer = get_user_model().objects.create_user("mark", password="pw-123456789", is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketers"))
    client.force_login(marketer)
    return client


SEGMENT_PERMISSIONS = {f"personalization.{action}_segment" for action in ("view", "add", "change", "delete")}


def test_marketers_have_the_segment_permissions():
    assert set(ROLES["Marketers"]) >= SEGMENT_PERMISSIONS


def test_marketers_may_build_and_preview_segments(marketer_client, django_capture_on_commit_callbacks):
    assert 'id="rule-builder"' in page(marketer_client, ADD)
    assert preview(marketer_client, {"rules": REPEAT_BUYERS}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert marketer_client.post(ADD, form("Repeat buyers", REPEAT_BUYERS)).status_code == 302


def test_a_staff_member_given_the_segment_permissions_may_build_segments(client, django_capture_on_commit_callbacks):
    user = get_user_model().objects.create_user("sam", password="pw-123456789", is_staff=True)
    codenames = [p.split(".")[1] for p in SEGMENT_PERMISSIONS] + ["view_customer"]
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="personalization",
                                                        codename__in=codenames))  # fmt: skip
    client.force_login(user)

    assert 'id="rule-builder"' in page(client, ADD)
    assert preview(client, {"rules": REPEAT_BUYERS}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(ADD, form("Repeat buyers", REPEAT_BUYERS)).status_code == 302
    assert Segment.objects.filter(name="Repeat buyers").exists()
