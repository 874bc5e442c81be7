"""POST /webhooks/postmark/ with the stored Postmark records, authenticated
with generated basic-auth credentials (Postmark signs nothing)."""

import json

import pytest

from messaging.models import Person, Suppression, WebhookRequest
from messaging.webhooks.inbox import request_events, webhook_requests_replay
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_json
from .kits import CLICK_URL, PROVIDER_IDS, assert_milestones, history, sent_message

pytestmark = pytest.mark.django_db

# fixture → (status, stored history type, bounce type, suppression reason or None)
EXPECTED = {
    "delivery": ("delivered", "delivered", None, None),
    "bounce_hard": ("bounced", "bounced", "hard", "hard_bounce"),
    "bounce_soft": ("bounced", "bounced", "soft", None),
    "bounce_dns_error": ("bounced", "bounced", "soft", None),
    "bounce_blocked": ("bounced", "bounced", "soft", None),
    "bounce_dmarc_policy": ("bounced", "bounced", "soft", None),
    "bounce_transient": ("sent", "deferred", None, None),
    "bounce_bad_email_address": ("failed", "failed", None, None),
    "bounce_virus_notification": ("failed", "failed", None, None),
    "bounce_manually_deactivated": ("suppressed", "suppressed", None, "manual"),
    "bounce_unsubscribe": ("unsubscribed", "unsubscribed", None, None),
    "bounce_auto_responder": ("sent", "unknown", None, None),
    "spam_complaint": ("spammed", "spammed", None, "spam_complaint"),
    "open": ("opened", "opened", None, None),
    "click": ("clicked", "clicked", None, None),
    "subscription_change_unsubscribe": ("unsubscribed", "unsubscribed", None, None),
    # The Bounce record bears the status; this one only adds the address.
    "subscription_change_hard_bounce": ("sent", "unknown", None, "hard_bounce"),
    "subscription_change_reactivated": ("sent", "unknown", None, None),
    "unknown_record_type": ("sent", "unknown", None, None),
}


@pytest.fixture
def message(kits):
    return sent_message(101)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_applies_each_record_type(client, kits, message, name):
    status, stored_type, bounce_type, suppression = EXPECTED[name]

    response = kits["postmark"].request(name).post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == status
    assert message.bounce_type == bounce_type
    [event] = history(message)
    assert event.type == stored_type
    assert event.detail == fixture_json("postmark", name)
    assert_milestones(message, event)
    entry = Suppression.objects.filter(address=message.address.lower()).first()
    assert (entry.reason if entry else None) == suppression
    [row] = WebhookRequest.objects.all()
    assert row.status == "applied"
    # The basic-auth credentials are never stored with the request.
    assert "Authorization" not in row.headers
    assert_no_drift(message.campaign_id)


def test_a_click_counts_for_the_actions_link(client, kits, message):
    kits["postmark"].request("click").post(client)
    assert history(message)[0].link.url == CLICK_URL


@pytest.mark.parametrize("name", ["bounce_unsubscribe", "subscription_change_unsubscribe"])
def test_an_unsubscribe_marks_the_person(client, kits, message, name):
    kits["postmark"].request(name).post(client)
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is not None


def test_a_record_without_metadata_is_matched_by_postmarks_message_id(client, kits):
    message = sent_message(provider_message_id=PROVIDER_IDS["postmark_without_metadata"])
    assert kits["postmark"].request("delivery_without_metadata").post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_suppression_naming_no_message_is_accepted_and_applies_nothing(client, kits, message):
    request = kits["postmark"].request("subscription_change_admin_without_message")
    assert request.post(client).status_code == 200
    [row] = WebhookRequest.objects.all()
    assert (row.status, row.event_count) == ("applied", 0)


def test_a_missing_basic_auth_asks_for_it(client, kits):
    response = kits["postmark"].request("delivery").post(client, headers={})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_a_record_without_a_record_type_is_a_400(client, kits):
    response = kits["postmark"].request(body=b'{"MessageID": "x"}').post(client)
    assert response.status_code == 400
    assert WebhookRequest.objects.count() == 0


TRACE_HEADER = "X-PM-Webhook-Trace-Id"


def traced(kit, record: dict, trace_id: str, **dumps):
    request = kit.request(body=json.dumps(record, **dumps).encode())
    return request.but(headers={**request.headers, TRACE_HEADER: trace_id})


def test_two_opens_at_the_same_time_are_told_apart_by_their_trace_ids(client, kits, message):
    # PROVIDERS.md §5.4: dedup on the retry-stable X-PM-Webhook-Trace-Id.
    kit = kits["postmark"]
    record = fixture_json("postmark", "open")
    phone = {**record, "UserAgent": "Mozilla/5.0 (iPhone) Mobile/15E148", "FirstOpen": False}

    assert traced(kit, record, "trace-0001").post(client).status_code == 200
    assert traced(kit, phone, "trace-0002").post(client).status_code == 200
    # A retry of the first delivery (the same trace id), its bytes laid out anew.
    assert traced(kit, record, "trace-0001", indent=2).post(client).status_code == 200

    assert [e.type for e in history(message)] == ["opened", "opened"]
    message.refresh_from_db()
    assert message.open_count == 2
    stored = {e.idempotency_key for e in history(message)}
    # A replay from the inbox re-parses the stored requests to the same keys.
    for row in WebhookRequest.objects.all():
        assert {e.idempotency_key for e in request_events(row)} <= stored
    assert webhook_requests_replay().failed == []
    assert len(history(message)) == 2
    assert_no_drift(message.campaign_id)
