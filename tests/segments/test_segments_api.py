"""The segments API under /api/v1/: list, create, change, delete, refresh, members,
preview and "why", and a customer's segments. Errors share the one shape of DESIGN.md,
{"error": {"code", "message", "details"}}, and only a secret key or a staff session may call it."""

import base64
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from personalization.models import RefreshStatus, Segment, SegmentKind, SegmentMembership
from personalization.segments.services import segment_refresh
from tests.factories import ClusteringFactory, CustomerFactory, SegmentFactory, SegmentMembershipFactory, TraitsFactory
from tracking.models import Source

pytestmark = pytest.mark.django_db

LIST = "/api/v1/segments/"
PREVIEW = "/api/v1/segments/preview/"
REPEAT_BUYERS = {"type": "trait", "trait": "order_count", "op": ">=", "value": 2}
LOYAL = {"type": "trait", "trait": "order_count", "op": ">=", "value": 5}
BIG_SPENDERS = {"type": "trait", "trait": "lifetime_value", "op": ">=", "value": 100}
BOGUS_SECOND = {"type": "all", "rules": [REPEAT_BUYERS, {"type": "bogus"}]}
ENTERED = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
EXITED = datetime(2026, 10, 6, 9, 30, tzinfo=UTC)


def buyer(orders: int, **traits):
    return TraitsFactory(order_count=orders, **traits).customer


def detail(segment) -> str:
    return f"{LIST}{segment.pk}/"


def error_of(response, status: int) -> dict:
    """The error of a reply, checked against the one shape every error of the API has."""
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def listed(api_client, segment) -> dict:
    rows = api_client.get(LIST, {"page_size": 500}).json()["results"]
    return next(row for row in rows if row["id"] == segment.pk)


def member_ids(api_client, segment) -> set[int]:
    body = api_client.get(f"{detail(segment)}members/", {"page_size": 500}).json()
    return {customer["id"] for customer in body["results"]}


@pytest.fixture
def repeat_buyers():
    return SegmentFactory(name="Repeat buyers", rules=REPEAT_BUYERS)


@pytest.fixture
def cluster():
    clustering = ClusteringFactory()
    return SegmentFactory(name="Cluster 1", kind=SegmentKind.CLUSTER, clustering=clustering, rules={},
                          description="Big baskets, rare visits")  # fmt: skip


# --- the list ---------------------------------------------------------------------


def test_the_list_shows_each_segments_size_freshness_and_rules_in_words(api_client, repeat_buyers):
    buyer(2), buyer(3), buyer(1)
    segment_refresh(segment=repeat_buyers)

    row = listed(api_client, repeat_buyers)

    assert row["name"] == "Repeat buyers"
    assert row["kind"] == "rules"
    assert row["rules"] == REPEAT_BUYERS
    assert row["size"] == 2
    assert row["refresh_status"] == "fresh"
    assert row["refreshed_at"] is not None
    assert row["rules_text"] == "Number of orders >= 2"


def test_a_segment_never_refreshed_is_listed_as_such_with_no_members(api_client, repeat_buyers):
    row = listed(api_client, repeat_buyers)

    assert (row["size"], row["refresh_status"], row["refreshed_at"]) == (0, "never", None)


def test_the_list_includes_the_built_in_segments_alongside_ours(api_client, repeat_buyers):
    rows = api_client.get(LIST, {"page_size": 500}).json()["results"]

    assert repeat_buyers.pk in {row["id"] for row in rows}
    assert {row["built_in"] for row in rows} >= {"cart_abandoners", "lapsing"}


def test_the_list_is_paginated(api_client):
    SegmentFactory.create_batch(3)
    body = api_client.get(LIST, {"page_size": 2}).json()

    assert body["count"] == Segment.objects.count()
    assert len(body["results"]) == 2
    assert body["next"]


def test_a_cluster_segment_describes_its_rules_with_its_description(api_client, cluster):
    row = listed(api_client, cluster)

    assert (row["kind"], row["rules_text"]) == ("cluster", "Big baskets, rare visits")


# --- creating ---------------------------------------------------------------------


def test_creating_a_segment_replies_201_with_the_segment(api_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(LIST, {"name": "Repeat buyers", "rules": REPEAT_BUYERS}, format="json")

    assert response.status_code == 201
    body = response.json()
    segment = Segment.objects.get(pk=body["id"])
    assert (segment.name, segment.kind, segment.rules) == ("Repeat buyers", SegmentKind.RULES, REPEAT_BUYERS)
    assert (body["name"], body["kind"], body["built_in"], body["is_active"]) == ("Repeat buyers", "rules", None, True)


def test_the_membership_of_a_created_segment_follows_at_once(api_client, django_capture_on_commit_callbacks):
    regulars = {buyer(2).pk, buyer(4).pk}
    buyer(1)

    with django_capture_on_commit_callbacks(execute=True):
        created = api_client.post(LIST, {"name": "Repeat buyers", "rules": REPEAT_BUYERS}, format="json").json()

    segment = Segment.objects.get(pk=created["id"])
    assert member_ids(api_client, segment) == regulars
    body = api_client.get(detail(segment)).json()
    assert (body["size"], body["refresh_status"]) == (2, "fresh")


def test_creating_with_rules_that_cannot_be_compiled_is_refused_with_the_failing_nodes_path(api_client):
    before = Segment.objects.count()

    error = error_of(api_client.post(LIST, {"name": "Broken", "rules": BOGUS_SECOND}, format="json"), 400)

    assert error["code"] == "invalid"
    assert list(error["details"]) == ["rules"]
    assert list(error["details"]["rules"]) == ["rules.rules[1].type"]
    assert "rules.rules[1].type" in error["message"]
    assert Segment.objects.count() == before
    assert not Segment.objects.filter(name="Broken").exists()


def test_creating_with_an_unknown_trait_points_at_the_trait(api_client):
    rules = {"type": "not", "rule": {"type": "trait", "trait": "shoe_size", "op": ">=", "value": 42}}

    error = error_of(api_client.post(LIST, {"name": "Big feet", "rules": rules}, format="json"), 400)

    assert list(error["details"]["rules"]) == ["rules.rule.trait"]
    assert not Segment.objects.filter(name="Big feet").exists()


def test_creating_with_a_name_already_taken_is_refused(api_client, repeat_buyers):
    error = error_of(api_client.post(LIST, {"name": "Repeat buyers", "rules": LOYAL}, format="json"), 400)

    assert error["code"] == "invalid"
    assert error["details"] == {"name": ["Already taken."]}
    assert Segment.objects.get(name="Repeat buyers").rules == REPEAT_BUYERS


def test_creating_with_a_taken_name_padded_with_spaces_is_refused_too(api_client, repeat_buyers):
    response = api_client.post(LIST, {"name": "  Repeat buyers ", "rules": LOYAL}, format="json")

    assert error_of(response, 400)["details"] == {"name": ["Already taken."]}


def test_creating_without_rules_is_refused_by_field(api_client):
    error = error_of(api_client.post(LIST, {"name": "No rules"}, format="json"), 400)

    assert error["code"] == "invalid"
    assert "rules" in error["details"]
    assert not Segment.objects.filter(name="No rules").exists()


# --- changing ---------------------------------------------------------------------


def test_patching_the_rules_changes_them_and_the_membership_follows(
    api_client, repeat_buyers, django_capture_on_commit_callbacks
):
    buyer(2)
    loyal = buyer(6)
    segment_refresh(segment=repeat_buyers)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.patch(detail(repeat_buyers), {"rules": LOYAL}, format="json")

    assert response.status_code == 200
    assert response.json()["rules"] == LOYAL
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == LOYAL
    assert member_ids(api_client, repeat_buyers) == {loyal.pk}


def test_patching_one_field_keeps_the_others(api_client, repeat_buyers, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = api_client.patch(detail(repeat_buyers), {"description": "Two orders or more"}, format="json").json()

    assert (body["name"], body["rules"], body["description"]) == ("Repeat buyers", REPEAT_BUYERS, "Two orders or more")


def test_patching_with_invalid_rules_is_refused_and_changes_nothing(api_client, repeat_buyers):
    error = error_of(api_client.patch(detail(repeat_buyers), {"rules": BOGUS_SECOND}, format="json"), 400)

    assert list(error["details"]["rules"]) == ["rules.rules[1].type"]
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == REPEAT_BUYERS


def test_patching_a_segment_to_depend_on_its_own_membership_is_refused(api_client, repeat_buyers):
    rules = {"type": "any", "rules": [LOYAL, {"type": "segment", "segment": repeat_buyers.pk}]}

    error = error_of(api_client.patch(detail(repeat_buyers), {"rules": rules}, format="json"), 400)

    assert list(error["details"]["rules"]) == ["rules.rules[1].segment"]
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == REPEAT_BUYERS


def test_patching_a_cluster_segment_is_refused(api_client, cluster):
    error = error_of(api_client.patch(detail(cluster), {"name": "Renamed", "rules": LOYAL}, format="json"), 400)

    assert error["code"] == "invalid"
    assert "Cluster segments" in error["message"]
    cluster.refresh_from_db()
    assert (cluster.name, cluster.rules) == ("Cluster 1", {})


def test_patching_with_a_body_that_is_not_an_object_is_refused(api_client, repeat_buyers):
    error = error_of(api_client.patch(detail(repeat_buyers), [LOYAL], format="json"), 400)

    assert error["code"] == "invalid"
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == REPEAT_BUYERS


# --- deleting ---------------------------------------------------------------------


def test_deleting_a_segment_replies_204_and_removes_it_with_its_membership(api_client, repeat_buyers):
    SegmentMembershipFactory(segment=repeat_buyers)

    response = api_client.delete(detail(repeat_buyers))

    assert response.status_code == 204
    assert not Segment.objects.filter(pk=repeat_buyers.pk).exists()
    assert not SegmentMembership.objects.filter(segment_id=repeat_buyers.pk).exists()


def test_deleting_a_segment_used_by_another_is_refused_naming_the_user(api_client, repeat_buyers):
    SegmentFactory(name="Loyal repeat buyers", rules={"type": "all", "rules": [
        LOYAL, {"type": "segment", "segment": repeat_buyers.pk}]})  # fmt: skip

    error = error_of(api_client.delete(detail(repeat_buyers)), 400)

    assert error["code"] == "invalid"
    assert "Loyal repeat buyers" in error["message"]
    assert Segment.objects.filter(pk=repeat_buyers.pk).exists()


def test_deleting_a_cluster_segment_is_refused(api_client, cluster):
    error_of(api_client.delete(detail(cluster)), 400)

    assert Segment.objects.filter(pk=cluster.pk).exists()


# --- refreshing -------------------------------------------------------------------


def test_refresh_recomputes_the_membership_and_replies_with_the_fresh_segment(api_client, repeat_buyers):
    regulars = {buyer(2).pk, buyer(3).pk}
    buyer(1)

    response = api_client.post(f"{detail(repeat_buyers)}refresh/")

    assert response.status_code == 200
    body = response.json()
    assert (body["size"], body["refresh_status"], body["refresh_error"]) == (2, "fresh", "")
    assert body["refreshed_at"] is not None
    assert member_ids(api_client, repeat_buyers) == regulars


def test_refreshing_a_cluster_segment_is_refused_and_leaves_its_freshness_alone(api_client, cluster):
    Segment.objects.filter(pk=cluster.pk).update(refresh_status=RefreshStatus.FRESH, member_count=7)

    error = error_of(api_client.post(f"{detail(cluster)}refresh/"), 400)

    assert "clustering" in error["message"]
    cluster.refresh_from_db()
    assert (cluster.refresh_status, cluster.member_count) == (RefreshStatus.FRESH, 7)


# --- members ----------------------------------------------------------------------


def test_members_are_the_current_members_paginated_newest_customers_first(api_client, repeat_buyers):
    members = [SegmentMembershipFactory(segment=repeat_buyers).customer for _ in range(3)]

    body = api_client.get(f"{detail(repeat_buyers)}members/", {"page_size": 2}).json()

    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == [members[2].pk, members[1].pk]
    assert body["next"]
    assert {"id", "email", "external_id"} <= set(body["results"][0])


def test_members_leave_out_customers_who_exited(api_client, repeat_buyers):
    stays = SegmentMembershipFactory(segment=repeat_buyers).customer
    SegmentMembershipFactory(segment=repeat_buyers, entered_at=ENTERED, exited_at=EXITED)
    SegmentMembershipFactory()  # in another segment

    body = api_client.get(f"{detail(repeat_buyers)}members/").json()

    assert body["count"] == 1
    assert [c["id"] for c in body["results"]] == [stays.pk]


def test_a_customer_who_left_and_came_back_is_listed_once(api_client, repeat_buyers):
    customer = CustomerFactory()
    SegmentMembershipFactory(segment=repeat_buyers, customer=customer, entered_at=ENTERED, exited_at=EXITED)
    SegmentMembershipFactory(segment=repeat_buyers, customer=customer)

    body = api_client.get(f"{detail(repeat_buyers)}members/").json()

    assert [c["id"] for c in body["results"]] == [customer.pk]


# --- preview ----------------------------------------------------------------------


def test_preview_returns_the_size_and_a_sample_without_saving_anything(api_client):
    regulars = {buyer(2).pk, buyer(3).pk}
    buyer(1)
    segments, memberships = Segment.objects.count(), SegmentMembership.objects.count()

    response = api_client.post(PREVIEW, {"rules": REPEAT_BUYERS}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["size"] == 2
    assert {c["id"] for c in body["sample"]} == regulars
    assert (Segment.objects.count(), SegmentMembership.objects.count()) == (segments, memberships)


def test_the_preview_sample_is_ten_customers_at_most(api_client):
    for _ in range(12):
        buyer(2)

    body = api_client.post(PREVIEW, {"rules": REPEAT_BUYERS}, format="json").json()

    assert (body["size"], len(body["sample"])) == (12, 10)


def test_preview_of_invalid_rules_is_refused_with_the_failing_nodes_path(api_client):
    error = error_of(api_client.post(PREVIEW, {"rules": BOGUS_SECOND}, format="json"), 400)

    assert error["code"] == "invalid"
    assert list(error["details"]["rules"]) == ["rules.rules[1].type"]


def test_preview_without_rules_is_refused(api_client):
    assert "rules" in error_of(api_client.post(PREVIEW, {}, format="json"), 400)["details"]


# --- why --------------------------------------------------------------------------


def test_why_returns_the_rule_tree_with_what_holds_and_what_was_observed(api_client):
    segment = SegmentFactory(rules={"type": "all", "rules": [REPEAT_BUYERS, BIG_SPENDERS]})
    customer = buyer(3, revenue=Decimal("60.00"))

    response = api_client.get(f"{detail(segment)}why/{customer.pk}/")

    assert response.status_code == 200
    tree = response.json()
    assert (tree["text"], tree["holds"], tree["node"]) == ("All of these hold", False, segment.rules)
    orders, spend = tree["children"]
    assert (orders["node"], orders["holds"], orders["observed"]) == (REPEAT_BUYERS, True, "is 3")
    assert (spend["node"], spend["holds"]) == (BIG_SPENDERS, False)
    assert spend["text"] == "Lifetime value (revenue) >= 100"
    assert orders["children"] == spend["children"] == []


def test_why_holds_at_the_root_for_a_customer_who_matches(api_client, repeat_buyers):
    assert api_client.get(f"{detail(repeat_buyers)}why/{buyer(2).pk}/").json()["holds"] is True


def test_why_for_an_unknown_customer_is_404(api_client, repeat_buyers):
    error = error_of(api_client.get(f"{detail(repeat_buyers)}why/987654321/"), 404)

    assert error == {"code": "not_found", "message": "There is no customer with id 987654321.", "details": {}}


# --- a customer's segments --------------------------------------------------------


def test_a_customers_segments_are_the_current_ones_with_when_they_entered(api_client, repeat_buyers):
    customer = CustomerFactory()
    vip = SegmentFactory(name="VIP")
    SegmentMembershipFactory(segment=repeat_buyers, customer=customer, entered_at=ENTERED)
    SegmentMembershipFactory(segment=vip, customer=customer, entered_at=ENTERED, exited_at=EXITED)

    response = api_client.get(f"/api/v1/customers/{customer.pk}/segments/")

    assert response.status_code == 200
    assert response.json() == [{"id": repeat_buyers.pk, "name": "Repeat buyers", "entered_at": "2026-10-05T09:30:00Z"}]


def test_a_customer_in_no_segment_has_an_empty_list(api_client):
    assert api_client.get(f"/api/v1/customers/{CustomerFactory().pk}/segments/").json() == []


# --- unknown ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("patch", ""), ("delete", ""), ("post", "refresh/"), ("get", "members/"), ("get", "why/1/")],
)
def test_an_unknown_segment_is_404_in_the_one_error_shape(api_client, method, suffix):
    response = getattr(api_client, method)(f"{LIST}987654321/{suffix}", {"rules": LOYAL}, format="json")

    error = error_of(response, 404)

    assert error == {"code": "not_found", "message": "There is no segment with id 987654321.", "details": {}}


def test_the_segments_of_an_unknown_customer_are_404(api_client):
    error = error_of(api_client.get("/api/v1/customers/987654321/segments/"), 404)

    assert (error["code"], error["message"]) == ("not_found", "There is no customer with id 987654321.")


# --- who may call -----------------------------------------------------------------

CALLS = [
    ("get", LIST),
    ("post", LIST),
    ("post", PREVIEW),
    ("get", "/api/v1/segments/{segment}/"),
    ("patch", "/api/v1/segments/{segment}/"),
    ("delete", "/api/v1/segments/{segment}/"),
    ("post", "/api/v1/segments/{segment}/refresh/"),
    ("get", "/api/v1/segments/{segment}/members/"),
    ("get", "/api/v1/segments/{segment}/why/{customer}/"),
    ("get", "/api/v1/customers/{customer}/segments/"),
]


def call(client, method: str, path: str, segment, customer):
    url = path.format(segment=segment.pk, customer=customer.pk)
    return getattr(client, method)(url, {"name": "Sneaky", "rules": LOYAL}, format="json")


@pytest.mark.parametrize(("method", "path"), CALLS)
def test_an_unauthenticated_request_is_refused_with_401(anonymous_client, repeat_buyers, method, path):
    response = call(anonymous_client, method, path, repeat_buyers, CustomerFactory())

    assert error_of(response, 401)["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert Segment.objects.get(pk=repeat_buyers.pk).rules == REPEAT_BUYERS
    assert not Segment.objects.filter(name="Sneaky").exists()


@pytest.fixture
def write_key(db) -> str:
    return Source.objects.create(name="Shop").write_key


def test_a_tracking_write_key_sent_as_ingest_sends_it_cannot_read_segments(write_key, repeat_buyers):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{write_key}:".encode()).decode())

    assert error_of(client.get(LIST), 401)["code"] == "not_authenticated"
    assert error_of(client.get(f"{detail(repeat_buyers)}members/"), 401)["code"] == "not_authenticated"


def test_a_tracking_write_key_sent_as_a_bearer_key_cannot_read_segments(write_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_key}")

    error = error_of(client.get(LIST), 401)

    assert error["code"] == "authentication_failed"
    assert "Unknown or revoked API key" in error["message"]


def test_a_staff_session_may_read_segments(repeat_buyers):
    client = APIClient()
    client.force_login(get_user_model().objects.create_user("sam", password="pw-123456789", is_staff=True))

    assert client.get(detail(repeat_buyers)).json()["name"] == "Repeat buyers"


def test_a_signed_in_customer_who_is_not_staff_is_refused_with_403(repeat_buyers):
    client = APIClient()
    client.force_login(get_user_model().objects.create_user("shopper", password="pw-123456789"))

    assert error_of(client.get(LIST), 403)["code"] == "permission_denied"
