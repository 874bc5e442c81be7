from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from messaging.webhooks.providers import twilio
from messaging.webhooks.providers.base import MalformedPayload

from .helpers import RECEIVED_AT, fixture_bytes, fixture_names

URL = "https://tidings.example.com/webhooks/twilio/?tidings_message_id=101"
SID = "SM1f0e8ae6ade43cb3c0ce4525424e404f"

# fixture → (type, bounce_type, reason)
EXPECTED = {
    "queued": ("accepted", "", ""),
    "sending": ("accepted", "", ""),
    "sent": ("accepted", "", ""),
    "delivered": ("delivered", "", ""),
    "undelivered_30005": ("bounced", "hard", "30005 unknown destination handset"),
    "undelivered_30006": ("bounced", "hard", "30006 landline or unreachable carrier"),
    "undelivered_30003": ("bounced", "soft", "30003 unreachable destination handset"),
    "undelivered_30007": ("bounced", "soft", "30007 message filtered by carrier"),
    "failed_30034": ("failed", "", "30034 message from an unregistered 10DLC number"),
    "failed_21610": ("failed", "", "recipient opted out"),
    "canceled": ("failed", "", "canceled"),
    "partially_delivered": ("delivered", "", "partially delivered"),
    "read_whatsapp": ("opened", "", ""),
    "unknown_status": ("unknown", "", "Twilio status 'receiving'"),
}


def parse_one(name: str, url: str = URL):
    events = twilio.parse(fixture_bytes("twilio", name), url=url, received_at=RECEIVED_AT)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expected_mapping():
    assert fixture_names("twilio") == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_maps_each_status(name):
    event = parse_one(name)
    params = parse_qs(fixture_bytes("twilio", name).decode())
    assert (event.type, event.bounce_type, event.reason) == EXPECTED[name]
    assert event.source == "provider"
    assert event.provider == "twilio"
    assert event.provider_message_id == SID
    assert event.message_id == 101
    assert event.detail["MessageSid"] == SID
    assert event.idempotency_key == f"twilio:{SID}:{params['MessageStatus'][0]}"


def test_it_maps_an_unknown_handset_as_a_hard_bounce_without_suppression():
    event = parse_one("undelivered_30005")
    assert (event.type, event.bounce_type, event.suppression) == ("bounced", "hard", "")


def test_an_opt_out_is_a_failure_with_that_reason():
    event = parse_one("failed_21610")
    assert (event.type, event.reason) == ("failed", "recipient opted out")


def test_a_read_receipt_is_mapped_to_an_open_for_ingest_to_refuse():
    assert parse_one("read_whatsapp").type == "opened"


def test_the_event_time_is_the_receive_time():
    assert parse_one("delivered").occurred_at == RECEIVED_AT


def test_our_message_id_comes_from_the_callback_url_query():
    url = "https://tidings.example.com/webhooks/twilio/?a=1&tidings_message_id=4242"
    assert parse_one("delivered", url=url).message_id == 4242


def test_without_our_id_in_the_url_the_message_sid_correlates():
    event = parse_one("delivered", url="https://tidings.example.com/webhooks/twilio/")
    assert event.message_id is None
    assert event.provider_message_id == SID


def test_a_retry_with_a_new_idempotency_header_dedupes():
    body = fixture_bytes("twilio", "delivered")
    first = twilio.parse(
        body, headers={"I-Twilio-Idempotency-Token": "a"}, url=URL, received_at=RECEIVED_AT
    )
    again = twilio.parse(
        body,
        headers={"I-Twilio-Idempotency-Token": "b"},
        url=URL,
        received_at=datetime(2024, 6, 3, tzinfo=UTC),
    )
    assert first[0].idempotency_key == again[0].idempotency_key


@pytest.mark.parametrize("body", [b"", b"MessageStatus=sent", b"MessageSid=SM1", b"\xff\xfe"])
def test_it_refuses_a_body_without_sid_and_status(body):
    with pytest.raises(MalformedPayload):
        twilio.parse(body, url=URL, received_at=RECEIVED_AT)


def test_callback_url_appends_our_message_id():
    assert twilio.callback_url("https://t.example.com/webhooks/twilio/", 7) == (
        "https://t.example.com/webhooks/twilio/?tidings_message_id=7"
    )
