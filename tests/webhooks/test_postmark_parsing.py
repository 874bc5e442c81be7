import json
from datetime import UTC, datetime

import pytest

from messaging.webhooks.providers import postmark
from messaging.webhooks.providers.base import MalformedPayload

from .helpers import RECEIVED_AT, fixture_bytes, fixture_json, fixture_names

MESSAGE_ID = "883953f4-6105-42a2-a16a-77a8eac79483"

# fixture → (type, bounce_type, suppression)
EXPECTED = {
    "delivery": ("delivered", "", ""),
    "delivery_without_metadata": ("delivered", "", ""),
    "bounce_hard": ("bounced", "hard", "hard_bounce"),
    "bounce_soft": ("bounced", "soft", ""),
    "bounce_transient": ("deferred", "", ""),
    "bounce_dns_error": ("bounced", "soft", ""),
    "bounce_blocked": ("bounced", "soft", ""),
    "bounce_dmarc_policy": ("bounced", "soft", ""),
    "bounce_bad_email_address": ("failed", "", ""),
    "bounce_manually_deactivated": ("suppressed", "", "manual"),
    "bounce_unsubscribe": ("unsubscribed", "", "unsubscribed"),
    "bounce_virus_notification": ("failed", "", ""),
    "bounce_auto_responder": ("unknown", "", ""),
    "spam_complaint": ("spammed", "", "spam_complaint"),
    "open": ("opened", "", ""),
    "click": ("clicked", "", ""),
    "subscription_change_unsubscribe": ("unsubscribed", "", "unsubscribed"),
    "subscription_change_hard_bounce": ("unknown", "", "hard_bounce"),
    "subscription_change_reactivated": ("unknown", "", "resubscribed"),
    "unknown_record_type": ("unknown", "", ""),
}


def parse(name: str):
    return postmark.parse(fixture_bytes("postmark", name), received_at=RECEIVED_AT)


def parse_one(name: str):
    events = parse(name)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expected_mapping():
    skipped = {"subscription_change_admin_without_message"}
    assert fixture_names("postmark") - skipped == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_maps_each_documented_record(name):
    event = parse_one(name)
    record = fixture_json("postmark", name)
    assert (event.type, event.bounce_type, event.suppression) == EXPECTED[name]
    assert event.machine is False
    assert event.source == "provider"
    assert event.provider == "postmark"
    assert event.provider_message_id == record["MessageID"]
    assert event.detail == record
    assert event.idempotency_key.startswith(f"postmark:{record['RecordType']}:")


def test_it_maps_a_hard_bounce_with_its_details():
    event = parse_one("bounce_hard")
    assert (event.type, event.bounce_type, event.suppression) == ("bounced", "hard", "hard_bounce")
    assert event.reason == (
        "HardBounce: smtp;550 5.1.1 The email account that you tried to reach does not exist."
    )


def test_a_bounce_is_keyed_by_its_own_id():
    assert parse_one("bounce_hard").idempotency_key == (
        f"postmark:Bounce:{MESSAGE_ID}:4323372036854775807"
    )


def test_a_delivery_is_keyed_by_its_message_and_time():
    assert parse_one("delivery").idempotency_key == (
        f"postmark:Delivery:{MESSAGE_ID}:2024-06-01T10:15:05.2735393-04:00"
    )


def test_the_event_time_with_an_offset_and_seven_digit_fraction_is_read_as_utc():
    assert parse_one("delivery").occurred_at == datetime(2024, 6, 1, 14, 15, 5, 273539, tzinfo=UTC)


def test_each_record_type_reads_its_own_time_field():
    assert parse_one("bounce_hard").occurred_at == datetime(
        2024, 6, 1, 14, 16, 40, 396393, tzinfo=UTC
    )
    assert parse_one("open").occurred_at == datetime(2024, 6, 1, 15, 20, 41, 249368, tzinfo=UTC)
    assert parse_one("click").occurred_at == datetime(2024, 6, 1, 15, 21, 11, 906561, tzinfo=UTC)
    assert parse_one("subscription_change_unsubscribe").occurred_at == datetime(
        2024, 6, 1, 17, 17, 32, tzinfo=UTC
    )


def test_it_reads_our_message_id_from_the_metadata():
    assert parse_one("delivery").message_id == 101


def test_without_metadata_the_postmark_message_id_correlates():
    event = parse_one("delivery_without_metadata")
    assert event.message_id is None
    assert event.provider_message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"


def test_a_click_carries_the_original_link():
    assert parse_one("click").link_url == "https://shop.example.com/spring?utm_source=tidings"


def test_a_manual_suppression_by_the_recipient_is_an_unsubscribe():
    event = parse_one("subscription_change_unsubscribe")
    assert (event.type, event.suppression) == ("unsubscribed", "unsubscribed")


def test_a_suppression_an_admin_made_without_a_message_is_skipped():
    assert parse("subscription_change_admin_without_message") == []


def test_redelivery_gives_the_same_idempotency_key():
    body = fixture_bytes("postmark", "open")
    first = postmark.parse(body, received_at=RECEIVED_AT)[0]
    again = postmark.parse(body, received_at=datetime(2024, 6, 3, tzinfo=UTC))[0]
    assert first.idempotency_key == again.idempotency_key


def test_two_opens_of_one_message_get_different_keys():
    record = fixture_json("postmark", "open")
    later = {**record, "ReceivedAt": "2024-06-01T12:00:00Z", "FirstOpen": False}
    first = postmark.parse(json.dumps(record).encode(), received_at=RECEIVED_AT)[0]
    second = postmark.parse(json.dumps(later).encode(), received_at=RECEIVED_AT)[0]
    assert first.idempotency_key != second.idempotency_key


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"MessageID": "x"}', b'{"RecordType": 5}'])
def test_it_refuses_a_body_that_is_not_a_postmark_record(body):
    with pytest.raises(MalformedPayload):
        postmark.parse(body, received_at=RECEIVED_AT)
