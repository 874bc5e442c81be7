"""POST /webhooks/sendgrid/ with the stored SendGrid payloads, signed with a
generated P-256 key: every documented event lands as DESIGN.md says."""

import json
import logging

import pytest

from messaging.models import Person, Suppression, WebhookRequest
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_json
from .kits import CLICK_URL, PROVIDER_IDS, assert_milestones, history, sent_message

pytestmark = pytest.mark.django_db

# fixture → (status, stored history type, bounce type, suppression reason or None)
EXPECTED = {
    "processed": ("sent", "accepted", None, None),
    "deferred": ("sent", "deferred", None, None),
    "delivered": ("delivered", "delivered", None, None),
    "bounce_hard": ("bounced", "bounced", "hard", "hard_bounce"),
    "bounce_blocked": ("bounced", "bounced", "soft", None),
    "dropped_bounced_address": ("suppressed", "suppressed", None, "hard_bounce"),
    "dropped_spam_reporting_address": ("suppressed", "suppressed", None, "spam_complaint"),
    "dropped_unsubscribed_address": ("suppressed", "suppressed", None, None),
    "dropped_invalid": ("failed", "failed", None, None),
    "open": ("opened", "opened", None, None),
    "open_machine": ("sent", "opened", None, None),
    "click": ("clicked", "clicked", None, None),
    "spamreport": ("spammed", "spammed", None, "spam_complaint"),
    "unsubscribe": ("unsubscribed", "unsubscribed", None, None),
    "group_unsubscribe": ("unsubscribed", "unsubscribed", None, None),
    "group_resubscribe": ("sent", "unknown", None, None),
    "unknown_event": ("sent", "unknown", None, None),
}


@pytest.fixture
def message(kits):
    return sent_message(101, provider_message_id=PROVIDER_IDS["sendgrid"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_applies_each_documented_event(client, kits, message, name):
    status, stored_type, bounce_type, suppression = EXPECTED[name]
    raw = fixture_json("sendgrid", name)[0]

    response = kits["sendgrid"].request(name).post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == status
    assert message.bounce_type == bounce_type
    [event] = history(message)
    assert event.type == stored_type
    assert event.provider == "sendgrid"
    assert event.idempotency_key == f"sendgrid:{raw['sg_event_id']}"
    assert event.detail == raw
    assert event.occurred_at.timestamp() == raw["timestamp"]
    assert event.machine == raw.get("sg_machine_open", False)
    assert_milestones(message, event)
    entry = Suppression.objects.filter(address=message.address.lower()).first()
    assert (entry.reason if entry else None) == suppression
    if entry:
        assert entry.message_id == message.pk
    [row] = WebhookRequest.objects.all()
    assert (row.status, row.event_count, row.attempts) == ("applied", 1, 1)
    assert_no_drift(message.campaign_id)


def test_a_delivery_sets_the_delivered_milestone_at_the_providers_time(client, kits, message):
    kits["sendgrid"].request("delivered").post(client)
    message.refresh_from_db()
    assert message.delivered_at.isoformat() == "2024-06-01T10:02:00+00:00"
    assert message.sent_at.isoformat() == "2024-06-01T09:30:00+00:00"


def test_an_open_implies_delivery_and_counts_once(client, kits, message):
    kits["sendgrid"].request("open").post(client)
    message.refresh_from_db()
    assert (message.status, message.open_count) == ("opened", 1)
    assert message.delivered_at == message.opened_at


def test_a_machine_open_is_stored_flagged_and_moves_nothing(client, kits, message):
    kits["sendgrid"].request("open_machine").post(client)
    message.refresh_from_db()
    assert (message.status, message.open_count, message.opened_at) == ("sent", 0, None)
    assert [e.machine for e in history(message)] == [True]


def test_a_click_counts_for_the_actions_link_with_that_url(client, kits, message):
    kits["sendgrid"].request("click").post(client)
    message.refresh_from_db()
    [event] = history(message)
    assert event.link.url == CLICK_URL
    assert (message.status, message.click_count, message.open_count) == ("clicked", 1, 1)
    assert message.opened_at == message.clicked_at


def test_a_hard_bounce_keeps_its_reason_and_suppresses_the_address(client, kits, message):
    kits["sendgrid"].request("bounce_hard").post(client)
    message.refresh_from_db()
    assert message.bounced_at is not None
    entry = Suppression.objects.get(address=message.address.lower())
    assert "550 5.1.1" in entry.note


def test_a_drop_for_an_invalid_message_fails_it_with_the_reason(client, kits, message):
    kits["sendgrid"].request("dropped_invalid").post(client)
    message.refresh_from_db()
    assert message.failure_reason == "Invalid SMTPAPI header"


@pytest.mark.parametrize(
    "name", ["unsubscribe", "group_unsubscribe", "dropped_unsubscribed_address"]
)
def test_an_unsubscribe_marks_the_person(client, kits, message, name):
    kits["sendgrid"].request(name).post(client)
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is not None


def test_an_event_without_our_id_is_matched_by_the_send_calls_message_id(client, kits):
    message = sent_message(provider_message_id=PROVIDER_IDS["sendgrid_without_custom_args"])
    response = kits["sendgrid"].request("delivered_without_custom_args").post(client)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_an_account_event_is_accepted_and_stored_without_message_events(client, kits, message):
    response = kits["sendgrid"].request("account_status_change").post(client)
    assert response.status_code == 200
    [row] = WebhookRequest.objects.all()
    assert (row.status, row.event_count) == ("applied", 0)
    assert history(message) == []


def test_an_account_event_is_logged_as_a_warning_naming_its_type(client, kits, message, caplog):
    # An account-level alert (PROVIDERS.md §2.6): someone has to hear of it.
    with caplog.at_level(logging.WARNING, logger="messaging.webhooks.providers.sendgrid"):
        response = kits["sendgrid"].request("account_status_change").post(client)

    assert response.status_code == 200
    [record] = [r for r in caplog.records if r.name == "messaging.webhooks.providers.sendgrid"]
    assert record.levelno == logging.WARNING
    assert "compliance_suspend" in record.getMessage()
    assert WebhookRequest.objects.get().event_count == 0
    assert history(message) == []


def test_a_batch_for_two_messages_is_applied_in_one_request(client, kits, message):
    other = sent_message(102)
    response = kits["sendgrid"].request("batch").post(client)
    assert response.status_code == 200
    message.refresh_from_db()
    other.refresh_from_db()
    assert message.status == "clicked"
    assert other.status == "opened"
    assert [e.type for e in history(message)] == ["delivered", "clicked"]
    assert [e.type for e in history(other)] == ["accepted", "opened"]


def test_the_batch_reaches_the_ingestion_core_in_one_call(client, kits, message, monkeypatch):
    # The inbox hands the batch to ingest through the quarantine wrapper.
    from messaging import quarantine

    sent_message(102)
    calls = []
    real = quarantine.apply_events

    def counting(events, **kwargs):
        calls.append(len(events))
        return real(events, **kwargs)

    monkeypatch.setattr(quarantine, "apply_events", counting)
    kits["sendgrid"].request("batch").post(client)
    assert calls == [4]


def test_a_duplicate_event_in_a_later_batch_changes_nothing(client, kits, message):
    kit = kits["sendgrid"]
    kit.request("open").post(client)
    events = fixture_json("sendgrid", "open") + fixture_json("sendgrid", "delivered")
    response = kit.events(events).post(client)
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.open_count) == ("opened", 1)
    assert [e.type for e in history(message)] == ["delivered", "opened"]
    assert WebhookRequest.objects.count() == 2
    assert_no_drift(message.campaign_id)


def test_an_event_for_an_unknown_message_is_kept_waiting(client, kits):
    response = kits["sendgrid"].request("delivered").post(client)
    assert response.status_code == 200
    [row] = WebhookRequest.objects.all()
    assert row.status == "waiting"
    assert row.waiting_for == ["m:101"]


def test_an_id_beyond_bigint_is_not_ours_and_the_rest_of_its_batch_applies(client, kits, message):
    kit = kits["sendgrid"]
    delivered = fixture_json("sendgrid", "delivered")[0]
    stranger = {**delivered, "sg_message_id": "NoSuchSend0001.filter0001.1.0"}
    huge = {**stranger, "sg_event_id": "huge-id", "tidings_message_id": "99999999999999999999999"}
    unknown = {**stranger, "sg_event_id": "unknown-id", "tidings_message_id": "424242"}

    response = kit.events([delivered, huge]).post(client)
    as_for_an_unknown_id = kit.events([unknown]).post(client)

    assert response.status_code == as_for_an_unknown_id.status_code == 200
    answer, expected = response.json(), as_for_an_unknown_id.json()
    assert answer.get("inbox") == expected["inbox"] == "waiting", answer
    assert answer["detail"] == expected["detail"]
    row = WebhookRequest.objects.get(pk=answer["request"])
    assert (row.status, row.error, row.attempts) == ("waiting", "", 1)
    message.refresh_from_db()
    assert message.status == "delivered"
    assert [e.type for e in history(message)] == ["delivered"]
    assert_no_drift(message.campaign_id)


def test_an_event_of_a_kind_never_seen_is_stored_as_unknown_not_a_crash(client, kits, message):
    events = [{**fixture_json("sendgrid", "delivered")[0], "event": "teleported"}]
    response = kits["sendgrid"].events(events).post(client)
    assert response.status_code == 200
    assert [e.type for e in history(message)] == ["unknown"]


def test_a_body_that_is_not_an_array_of_events_is_a_400_and_stores_nothing(client, kits):
    response = kits["sendgrid"].signed(json.dumps({"event": "delivered"}).encode()).post(client)
    assert response.status_code == 400
    assert WebhookRequest.objects.count() == 0


def _queries_for(client, kit, n_messages: int) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.webhooks.kits import sent_message as make

    template = fixture_json("sendgrid", "delivered")[0]
    events = []
    for _ in range(n_messages):
        message = make()
        for k, name in enumerate(("processed", "delivered", "open", "click")):
            events.append(
                {
                    **template,
                    "event": name,
                    "url": CLICK_URL,
                    "sg_event_id": f"q-{message.pk}-{k}",
                    "tidings_message_id": str(message.pk),
                }
            )
    request = kit.events(events)
    with CaptureQueriesContext(connection) as queries:
        assert request.post(client).status_code == 200
    return len(queries)


def test_a_batch_costs_a_handful_of_queries_whatever_its_size(client, kits, outbox_cache_pinned):
    from django.db import connection

    small = _queries_for(client, kits["sendgrid"], 2)
    large = _queries_for(client, kits["sendgrid"], 40)
    if connection.vendor == "postgresql":
        # One statement per write whatever the batch (SQLite's bulk writes
        # are chunked by its parameter limit).
        assert small == large
    assert large <= 25
