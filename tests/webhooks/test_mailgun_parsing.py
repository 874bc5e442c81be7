import json
from datetime import UTC, datetime

import pytest

from messaging.webhooks.providers import mailgun
from messaging.webhooks.providers.base import MalformedPayload

from .helpers import RECEIVED_AT, fixture_bytes, fixture_json, fixture_names

MESSAGE_ID = "20240601101500.1.DF5966851B4BAA99@mg.example.org"

# fixture → (type, bounce_type, suppression, machine)
EXPECTED = {
    "accepted": ("accepted", "", "", False),
    "delivered": ("delivered", "", "", False),
    "delivered_empty_variables": ("delivered", "", "", False),
    "failed_temporary": ("deferred", "", "", False),
    "failed_permanent_bounce": ("bounced", "hard", "hard_bounce", False),
    "failed_permanent_soft": ("bounced", "soft", "", False),
    "failed_permanent_old": ("bounced", "soft", "", False),
    "failed_suppress_bounce": ("suppressed", "", "hard_bounce", False),
    "failed_suppress_complaint": ("suppressed", "", "spam_complaint", False),
    "failed_suppress_unsubscribe": ("suppressed", "", "unsubscribed", False),
    "failed_generic_5xx": ("bounced", "hard", "hard_bounce", False),
    "failed_generic_no_smtp": ("failed", "", "", False),
    "rejected": ("failed", "", "", False),
    "opened": ("opened", "", "", False),
    "opened_by_bot": ("opened", "", "", True),
    "clicked": ("clicked", "", "", False),
    "clicked_by_bot": ("clicked", "", "", True),
    "unsubscribed": ("unsubscribed", "", "unsubscribed", False),
    "complained": ("spammed", "", "spam_complaint", False),
    "unknown_event": ("unknown", "", "", False),
}


def parse_one(name: str):
    events = mailgun.parse(fixture_bytes("mailgun", name), received_at=RECEIVED_AT)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expected_mapping():
    assert fixture_names("mailgun") == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_maps_each_documented_event(name):
    event = parse_one(name)
    data = fixture_json("mailgun", name)["event-data"]
    assert (event.type, event.bounce_type, event.suppression, event.machine) == EXPECTED[name]
    assert event.source == "provider"
    assert event.provider == "mailgun"
    assert event.provider_message_id == MESSAGE_ID
    assert event.detail == data
    assert event.occurred_at == datetime.fromtimestamp(data["timestamp"], tz=UTC)
    natural = (data["id"], data["event"], int(data["timestamp"]))
    assert event.idempotency_key == "mailgun:" + ":".join(map(str, natural))


def test_it_maps_a_hard_bounce_with_the_smtp_reply():
    event = parse_one("failed_permanent_bounce")
    assert (event.type, event.bounce_type, event.suppression) == ("bounced", "hard", "hard_bounce")
    assert event.reason.startswith("550 5.1.1")


def test_a_temporary_failure_is_a_deferral():
    event = parse_one("failed_temporary")
    assert event.type == "deferred"
    assert "over quota" in event.reason


def test_a_suppression_verdict_keeps_mailguns_description():
    assert parse_one("failed_suppress_bounce").reason == (
        "605 Not delivering to previously bounced address"
    )


def test_a_rejection_keeps_its_reason():
    assert parse_one("rejected").reason == "Sandbox subdomains are for test purposes only."


def test_it_reads_our_message_id_from_the_user_variables():
    assert parse_one("delivered").message_id == 101


def test_empty_user_variables_serialised_as_a_list_mean_no_id():
    event = parse_one("delivered_empty_variables")
    assert event.message_id is None
    assert event.provider_message_id == MESSAGE_ID


def test_the_provider_message_id_loses_its_angle_brackets():
    payload = fixture_json("mailgun", "delivered")
    payload["event-data"]["message"]["headers"]["message-id"] = f"<{MESSAGE_ID}>"
    event = mailgun.parse(json.dumps(payload).encode(), received_at=RECEIVED_AT)[0]
    assert event.provider_message_id == MESSAGE_ID


def test_a_click_carries_the_clicked_url():
    assert parse_one("clicked").link_url == "https://shop.example.com/spring?utm_source=tidings"


def test_a_bot_open_is_flagged_as_machine_traffic():
    event = parse_one("opened_by_bot")
    assert (event.type, event.machine) == ("opened", True)


def test_the_occurred_at_keeps_sub_second_precision():
    assert parse_one("delivered").occurred_at == datetime(2024, 6, 1, 10, 15, 2, 153125, tzinfo=UTC)


def test_redelivery_gives_the_same_idempotency_key():
    body = fixture_bytes("mailgun", "opened")
    first = mailgun.parse(body, received_at=RECEIVED_AT)[0]
    again = mailgun.parse(body, received_at=datetime(2024, 6, 3, tzinfo=UTC))[0]
    assert first.idempotency_key == again.idempotency_key
    assert first.idempotency_key == ("mailgun:Op3nEd1kQ9Wm2Xc4Vb6Ng:opened:1717240800")


def test_a_key_too_long_to_store_is_hashed_and_stays_stable():
    data = fixture_json("mailgun", "delivered")
    data["event-data"]["id"] = "a" * 250  # ids have no stated length
    body = json.dumps(data).encode()
    keys = {mailgun.parse(body, received_at=RECEIVED_AT)[0].idempotency_key for _ in range(2)}
    [key] = keys
    assert key.startswith("mailgun:sha256:") and len(key) <= 255


def test_signature_of_returns_the_signature_itself():
    body = fixture_bytes("mailgun", "delivered")
    signature = mailgun.signature_of(body, ["fixture-signing-key"])
    assert signature == json.loads(body)["signature"]["signature"]


def test_the_event_fingerprint_is_stable_and_tells_events_apart():
    delivered = fixture_bytes("mailgun", "delivered")
    reformatted = json.dumps(json.loads(delivered), indent=None).encode()
    assert mailgun.event_fingerprint(delivered) == mailgun.event_fingerprint(reformatted)
    assert mailgun.event_fingerprint(delivered) != mailgun.event_fingerprint(
        fixture_bytes("mailgun", "opened")
    )


def test_signature_of_refuses_a_body_without_a_signature():
    with pytest.raises(MalformedPayload):
        mailgun.signature_of(b'{"event-data": {}}', ["fixture-signing-key"])


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"signature": {}}',
        b'{"event-data": {"event": "delivered"}}',
        b'{"event-data": {"timestamp": 1717236900}}',
        b"event=delivered&recipient=ada%40example.com",
    ],
)
def test_it_refuses_a_body_that_is_not_a_mailgun_event(body):
    with pytest.raises(MalformedPayload):
        mailgun.parse(body, received_at=RECEIVED_AT)
