import json
from datetime import UTC, datetime

import pytest

from messaging.webhooks.providers import sendgrid
from messaging.webhooks.providers.base import MalformedPayload

from .helpers import RECEIVED_AT, fixture_bytes, fixture_names

# fixture → (type, bounce_type, suppression, machine)
EXPECTED = {
    "processed": ("accepted", "", "", False),
    "deferred": ("deferred", "", "", False),
    "delivered": ("delivered", "", "", False),
    "delivered_without_custom_args": ("delivered", "", "", False),
    "bounce_hard": ("bounced", "hard", "hard_bounce", False),
    "bounce_blocked": ("bounced", "soft", "", False),
    "dropped_bounced_address": ("suppressed", "", "hard_bounce", False),
    "dropped_spam_reporting_address": ("suppressed", "", "spam_complaint", False),
    "dropped_unsubscribed_address": ("suppressed", "", "unsubscribed", False),
    "dropped_invalid": ("failed", "", "", False),
    "open": ("opened", "", "", False),
    "open_machine": ("opened", "", "", True),
    "click": ("clicked", "", "", False),
    "spamreport": ("spammed", "", "spam_complaint", False),
    "unsubscribe": ("unsubscribed", "", "unsubscribed", False),
    "group_unsubscribe": ("unsubscribed", "", "unsubscribed", False),
    "group_resubscribe": ("unknown", "", "resubscribed", False),
    "unknown_event": ("unknown", "", "", False),
}


def parse(name: str):
    return sendgrid.parse(fixture_bytes("sendgrid", name), received_at=RECEIVED_AT)


def parse_one(name: str):
    events = parse(name)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expected_mapping():
    skipped_or_batches = {"account_status_change", "batch"}
    assert fixture_names("sendgrid") - skipped_or_batches == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_maps_each_documented_event(name):
    event = parse_one(name)
    raw = json.loads(fixture_bytes("sendgrid", name))[0]
    assert (event.type, event.bounce_type, event.suppression, event.machine) == EXPECTED[name]
    assert event.source == "provider"
    assert event.provider == "sendgrid"
    assert event.detail == raw
    assert event.occurred_at == datetime.fromtimestamp(raw["timestamp"], tz=UTC)
    assert event.idempotency_key == f"sendgrid:{raw['sg_event_id']}"


def test_it_maps_a_hard_bounce_with_its_reason():
    event = parse_one("bounce_hard")
    assert event.type == "bounced"
    assert event.bounce_type == "hard"
    assert event.suppression == "hard_bounce"
    assert "550 5.1.1" in event.reason
    assert "Invalid Address" in event.reason


def test_it_treats_a_blocked_bounce_as_soft_and_suppresses_nothing():
    event = parse_one("bounce_blocked")
    assert (event.bounce_type, event.suppression) == ("soft", "")


def test_it_keeps_the_drop_reason_of_a_failure():
    assert parse_one("dropped_invalid").reason == "Invalid SMTPAPI header"


def test_it_keeps_the_deferral_response():
    assert parse_one("deferred").reason == "400 try again later"


def test_it_reads_our_message_id_from_the_custom_args():
    assert parse_one("delivered").message_id == 101


def test_it_correlates_by_the_send_calls_message_id_without_custom_args():
    event = parse_one("delivered_without_custom_args")
    assert event.message_id is None
    assert event.provider_message_id == "X9kQ2mTrRyOnZ0b1cPfJ"


def test_the_provider_message_id_is_the_sg_message_id_up_to_the_first_dot():
    assert parse_one("delivered").provider_message_id == "14c5d75ce93"


def test_a_click_carries_the_clicked_url():
    assert parse_one("click").link_url == "https://shop.example.com/spring?utm_source=tidings"


def test_a_machine_open_is_flagged_but_still_an_open():
    event = parse_one("open_machine")
    assert (event.type, event.machine) == ("opened", True)


def test_it_skips_account_events():
    assert parse("account_status_change") == []


def test_a_batch_yields_one_event_per_message_event_in_arrival_order():
    events = parse("batch")
    assert [(e.type, e.message_id) for e in events] == [
        ("clicked", 101),
        ("delivered", 101),
        ("opened", 102),
        ("accepted", 102),
    ]


def test_redelivery_gives_the_same_idempotency_keys():
    body = fixture_bytes("sendgrid", "batch")
    first = sendgrid.parse(body, received_at=RECEIVED_AT)
    again = sendgrid.parse(body, received_at=datetime(2024, 6, 3, tzinfo=UTC))
    assert [e.idempotency_key for e in first] == [e.idempotency_key for e in again]
    assert len({e.idempotency_key for e in first}) == len(first)


def test_an_event_without_sg_event_id_gets_a_stable_content_key():
    raw = json.loads(fixture_bytes("sendgrid", "delivered"))[0]
    del raw["sg_event_id"]
    body = json.dumps([raw]).encode()
    keys = {sendgrid.parse(body, received_at=RECEIVED_AT)[0].idempotency_key for _ in range(2)}
    assert len(keys) == 1
    assert keys.pop().startswith("sendgrid:sha256:")


def test_a_non_integer_message_id_is_ignored():
    raw = json.loads(fixture_bytes("sendgrid", "delivered"))[0]
    raw["tidings_message_id"] = "not-a-number"
    event = sendgrid.parse(json.dumps([raw]).encode(), received_at=RECEIVED_AT)[0]
    assert event.message_id is None
    assert event.provider_message_id == "14c5d75ce93"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("9223372036854775807", 9223372036854775807), ("9223372036854775808", None), (2**64, None)],
)
def test_a_message_id_beyond_postgresqls_bigint_is_not_ours(value, expected):
    raw = json.loads(fixture_bytes("sendgrid", "delivered"))[0]
    raw["tidings_message_id"] = value
    event = sendgrid.parse(json.dumps([raw]).encode(), received_at=RECEIVED_AT)[0]
    assert event.message_id == expected


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"event": "delivered"}', b'["delivered"]', b'[{"timestamp": 1}]'],
)
def test_it_refuses_a_body_that_is_not_a_sendgrid_batch(body):
    with pytest.raises(MalformedPayload):
        sendgrid.parse(body, received_at=RECEIVED_AT)


def test_it_refuses_a_message_event_without_a_timestamp():
    raw = json.loads(fixture_bytes("sendgrid", "delivered"))[0]
    del raw["timestamp"]
    with pytest.raises(MalformedPayload):
        sendgrid.parse(json.dumps([raw]).encode(), received_at=RECEIVED_AT)
