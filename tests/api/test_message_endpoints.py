from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.vocabulary import Channel, EventType
from messaging.models import MessageEvent
from messaging.sending import message_discard
from messaging.status import MILESTONES
from tests import factories
from tests.api.helpers import create_action, create_campaign, create_people, send
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db

MESSAGE_FIELDS = {
    "id",
    "campaign",
    "action",
    "channel",
    "person",
    "address",
    "status",
    "provider",
    "provider_message_id",
    "created_at",
    *(f"{name}_at" for name in MILESTONES),
    "bounce_type",
    "failure_reason",
    "open_count",
    "click_count",
    "attempt",
}
CONTRACT_MILESTONES = {
    "queued_at",
    "attempted_at",
    "sent_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "converted_at",
    "bounced_at",
    "spammed_at",
    "unsubscribed_at",
    "failed_at",
}
EVENT_FIELDS = {
    "type",
    "occurred_at",
    "received_at",
    "source",
    "machine",
    "link",
    "attempt",
    "detail",
}


def test_a_message_shows_the_contract_fields(api):
    message = factories.message(Channel.EMAIL)
    body = api.get("/api/v1/messages/").json()["results"][0]
    assert set(body) == MESSAGE_FIELDS
    assert set(body) >= CONTRACT_MILESTONES
    assert body["id"] == message.id
    assert body["campaign"] == message.campaign_id
    assert body["action"] == message.action_id
    assert body["person"] == message.person.external_id
    assert body["status"] == "queued"
    assert body["bounce_type"] is None
    assert body["open_count"] == 0


def test_the_log_lists_newest_first_with_a_cursor(api):
    messages = [factories.message(Channel.SMS) for _ in range(3)]
    page = api.get("/api/v1/messages/?limit=2").json()
    assert [m["id"] for m in page["results"]] == [messages[2].id, messages[1].id]
    rest = api.get(page["next"]).json()
    assert [m["id"] for m in rest["results"]] == [messages[0].id]


def test_listing_messages_takes_the_same_number_of_queries_for_any_page_size(api):
    factories.message(Channel.EMAIL)
    with CaptureQueriesContext(connection) as few:
        assert len(api.get("/api/v1/messages/").json()["results"]) == 1
    for _ in range(5):
        factories.message(Channel.SMS)
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/api/v1/messages/").json()["results"]) == 6
    assert len(few) == len(many)
    assert not [q["sql"] for q in many if "COUNT(" in q["sql"].upper()]


def test_listing_messages_is_two_queries(api, token, django_assert_num_queries):
    for channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH):
        factories.message(channel)
    # The token lookup, then one page of messages joined with their people.
    with django_assert_num_queries(2):
        api.get("/api/v1/messages/?campaign=1&status=queued")


@pytest.fixture
def log():
    email_campaign = factories.campaign()
    email_action = factories.action(Channel.EMAIL, campaign_obj=email_campaign)
    ann = factories.person(external_id="ann", email="Ann@Example.com")
    bob = factories.person(external_id="bob")
    ann_email = factories.message(action_obj=email_action, person_obj=ann)
    bob_email = factories.message(action_obj=email_action, person_obj=bob)
    bob_sms = factories.message(Channel.SMS, person_obj=bob)
    apply(factories.event(bob_email, EventType.SENT, 1))
    return {"ann_email": ann_email, "bob_email": bob_email, "bob_sms": bob_sms}


def ids(api, query: str) -> set[int]:
    response = api.get(f"/api/v1/messages/?{query}")
    assert response.status_code == 200, response.json()
    return {m["id"] for m in response.json()["results"]}


def test_the_log_filters_like_the_delivery_page(api, log):
    ann_email, bob_email, bob_sms = log["ann_email"], log["bob_email"], log["bob_sms"]
    assert ids(api, f"campaign={ann_email.campaign_id}") == {ann_email.id, bob_email.id}
    assert ids(api, f"action={bob_sms.action_id}") == {bob_sms.id}
    assert ids(api, "channel=sms") == {bob_sms.id}
    assert ids(api, "status=sent") == {bob_email.id}
    assert ids(api, "status=queued&channel=email") == {ann_email.id}
    assert ids(api, "q=bob") == {bob_email.id, bob_sms.id}
    assert ids(api, "q=ann@example.com") == {ann_email.id}
    # A phone number is the SMS's address and also names its person.
    assert ids(api, f"q={bob_sms.address.replace('+', '%2B')}") == {bob_email.id, bob_sms.id}
    assert ids(api, "q=nobody") == set()
    # The factory's messages are created at factories.T0.
    hour_ago = (factories.T0 - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(api, f"since={hour_ago}") == {ann_email.id, bob_email.id, bob_sms.id}
    assert ids(api, f"until={hour_ago}") == set()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("channel=fax", "channel"),
        ("campaign=first", "campaign"),
        ("action=1.5", "action"),
        ("since=yesterday", "since"),
        ("since=2026-11-01T12:00:00", "since"),
        ("until=2026-11-01T12:00:00", "until"),
    ],
)
def test_invalid_filters_are_a_400_naming_the_filter(api, query, field):
    response = api.get(f"/api/v1/messages/?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_discarded_draft_leaves_the_log(api):
    draft = factories.message(action_obj=factories.action(send_as_draft=True))
    message_discard(message=draft)
    assert ids(api, "") == set()
    assert api.get(f"/api/v1/messages/{draft.id}/").status_code == 404


def test_a_message_shows_its_events_oldest_first_with_the_implied_ones(api):
    message = factories.message(Channel.EMAIL)
    link = message.action.links.first()
    apply(
        # Received in another order than they happened.
        factories.event(message, EventType.CLICKED, 5, link_id=link.id),
        factories.event(message, EventType.SENT, 1),
        factories.event(message, EventType.ACCEPTED, 2),
        factories.event(message, EventType.OPENED, 9, machine=True),
    )
    apply(factories.event(message, EventType.DELIVERED, 3))
    response = api.get(f"/api/v1/messages/{message.id}/")
    assert response.status_code == 200
    body = response.json()
    # "conversions": issue 11 (CONTRACT.md "Conversions"); "headers": one-click unsubscribe.
    assert set(body) == MESSAGE_FIELDS | {
        "subject",
        "body",
        "headers",
        "events",
        "tracking",
        "conversions",
    }
    events = body["events"]
    assert all(set(event) == EVENT_FIELDS for event in events)
    assert [(e["type"], e["source"]) for e in events] == [
        ("queued", "pipeline"),
        ("sent", "provider"),
        ("accepted", "provider"),
        ("delivered", "provider"),
        # Click implies open: shown at the click's instant, just before it.
        ("opened", "implied"),
        ("clicked", "provider"),
        ("opened", "provider"),
    ]
    assert events[4]["occurred_at"] == events[5]["occurred_at"] == body["opened_at"]
    assert events[5]["link"] == link.id
    assert events[6]["machine"] is True
    assert body["status"] == "clicked"
    assert body["open_count"] == 1 and body["click_count"] == 1


def test_events_at_the_same_instant_follow_their_arrival(api):
    message = factories.message(Channel.SMS)
    apply(factories.event(message, EventType.SENT, 1))
    apply(factories.event(message, EventType.DELIVERED, 1))
    events = api.get(f"/api/v1/messages/{message.id}/").json()["events"]
    assert [e["type"] for e in events] == ["queued", "sent", "delivered"]
    assert events[1]["received_at"] <= events[2]["received_at"]


def test_a_failure_shows_its_reason_in_the_event_detail(api):
    message = factories.message(Channel.SMS)
    apply(factories.event(message, EventType.FAILED, 1, reason="carrier said no"))
    body = api.get(f"/api/v1/messages/{message.id}/").json()
    assert body["failure_reason"] == "carrier said no"
    assert body["events"][-1]["detail"]["reason"] == "carrier said no"


def test_a_message_shows_the_tracking_urls_it_carries(api):
    campaign = create_campaign(api)
    action = create_action(api, campaign["id"])
    create_people(api, "ann")
    [sent] = send(api, action["id"], "ann")
    body = api.get(f"/api/v1/messages/{sent['id']}/").json()
    tracking = body["tracking"]
    assert set(tracking) == {"open_pixel", "links", "unsubscribe_url"}
    assert "/t/o/" in tracking["open_pixel"] and tracking["open_pixel"] in body["body"]
    assert [link["url"] for link in tracking["links"]] == [
        "https://example.com/spring",
        "https://example.com/faq",
    ]
    for tracked, link in zip(tracking["links"], action["links"], strict=True):
        assert set(tracked) == {"link", "url", "tracked_url"}
        assert tracked["link"] == link["id"]
        assert "/t/c/" in tracked["tracked_url"] and tracked["tracked_url"] in body["body"]


def test_an_sms_has_no_open_pixel(api):
    campaign = create_campaign(api)
    action = create_action(api, campaign["id"], channel="sms", body="Go https://example.com/s")
    create_people(api, "ann", phone="+15550001234")
    [sent] = send(api, action["id"], "ann")
    tracking = api.get(f"/api/v1/messages/{sent['id']}/").json()["tracking"]
    assert tracking["open_pixel"] is None
    assert [link["url"] for link in tracking["links"]] == ["https://example.com/s"]


def test_an_unknown_message_is_a_404(api):
    assert api.get("/api/v1/messages/999999/").status_code == 404
    assert api.get("/api/v1/messages/not-a-number/").status_code == 404


# --- Reported opens -------------------------------------------------------------


def test_a_reported_open_is_applied_before_the_answer(api):
    message = factories.message(Channel.PUSH)
    apply(factories.event(message, EventType.SENT, 1))
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {})
    assert response.status_code == 202
    assert response.json()["status"] == "opened"
    assert response.json()["open_count"] == 1
    event = MessageEvent.objects.get(message=message, type=EventType.OPENED)
    assert event.source == "api"


def test_the_same_reported_open_sent_twice_counts_once(api):
    message = factories.message(Channel.PUSH)
    apply(factories.event(message, EventType.SENT, 1))
    at = (timezone.now() - timedelta(minutes=1)).isoformat()
    api.post(f"/api/v1/messages/{message.id}/opened/", {"timestamp": at})
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {"timestamp": at})
    assert response.status_code == 202
    assert response.json()["open_count"] == 1


def test_a_reported_open_on_a_channel_without_opens_is_a_422_and_stores_nothing(api):
    message = factories.message(Channel.SMS)
    apply(factories.event(message, EventType.SENT, 1))
    before = MessageEvent.objects.filter(message=message).count()
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {})
    assert response.status_code == 422
    assert "sms" in response.json()["detail"]
    assert MessageEvent.objects.filter(message=message).count() == before


def test_a_reported_open_up_to_five_minutes_ahead_is_accepted(api):
    message = factories.message(Channel.PUSH)
    ahead = (timezone.now() + timedelta(minutes=4)).isoformat()
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {"timestamp": ahead})
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("2026-11-01T12:00:00", "time zone"),
        ("last tuesday", "format"),
        ("in 6 minutes", "future"),
        ("9999-12-31T23:59:59-14:00", "range"),
    ],
)
def test_a_reported_open_needs_a_zoned_timestamp_not_far_ahead(api, timestamp, reason):
    if timestamp == "in 6 minutes":  # computed now, not when the tests were collected
        timestamp = (timezone.now() + timedelta(minutes=6)).isoformat()
    message = factories.message(Channel.PUSH)
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {"timestamp": timestamp})
    assert response.status_code == 400
    assert list(response.json()) == ["timestamp"]
    assert reason in response.json()["timestamp"][0]


def test_a_reported_open_rejects_unknown_fields(api):
    message = factories.message(Channel.PUSH)
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {"device": "x"})
    assert response.status_code == 400
    assert response.json() == {"device": ["Unknown field."]}


def test_filter_times_with_any_offset_python_accepts_are_answered(api):
    # PostgreSQL takes offsets up to ±15:59; Python up to ±23:59.
    response = api.get("/api/v1/messages/?until=2026-11-28T14:13:31-18:28")
    assert response.status_code == 200
    assert api.get("/api/v1/messages/?since=0001-01-01T00:00:00%2B01:00").status_code == 400
