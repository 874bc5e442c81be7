import json
from datetime import UTC, datetime

import pytest

from messaging.webhooks.providers import ses
from messaging.webhooks.providers.base import MalformedPayload

from .helpers import RECEIVED_AT, fixture_bytes, fixture_json, fixture_names

SES_ID = "010001901e4a3b2c-5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f-000000"

# fixture → (type, bounce_type, suppression)
EXPECTED = {
    "send": ("accepted", "", ""),
    "delivery": ("delivered", "", ""),
    "delivery_identity_notification": ("delivered", "", ""),
    "bounce_permanent_general": ("bounced", "hard", "hard_bounce"),
    "bounce_permanent_on_account_suppression_list": ("suppressed", "", "hard_bounce"),
    "bounce_transient_mailbox_full": ("bounced", "soft", ""),
    "bounce_undetermined": ("bounced", "soft", ""),
    "complaint": ("spammed", "", "spam_complaint"),
    "complaint_on_account_suppression_list": ("suppressed", "", "spam_complaint"),
    "complaint_not_spam": ("unknown", "", ""),
    "open": ("opened", "", ""),
    "click": ("clicked", "", ""),
    "reject": ("failed", "", ""),
    "rendering_failure": ("failed", "", ""),
    "delivery_delay": ("deferred", "", ""),
    "subscription_unsubscribe_all": ("unsubscribed", "", "unsubscribed"),
    "unknown_event_type": ("unknown", "", ""),
}
NO_EVENTS = {"topic_validation", "subscription_confirmation"}


def parse(name: str):
    return ses.parse(fixture_bytes("ses", name), received_at=RECEIVED_AT)


def parse_one(name: str):
    events = parse(name)
    assert len(events) == 1
    return events[0]


def test_every_fixture_has_an_expected_mapping():
    assert fixture_names("ses") - NO_EVENTS == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_maps_each_documented_event(name):
    event = parse_one(name)
    inner = json.loads(fixture_json("ses", name)["Message"])
    assert (event.type, event.bounce_type, event.suppression) == EXPECTED[name]
    assert event.machine is False
    assert event.source == "provider"
    assert event.provider == "ses"
    assert event.provider_message_id == inner["mail"]["messageId"]
    assert event.detail == inner
    event_type = inner.get("eventType") or inner.get("notificationType")
    assert event.idempotency_key.startswith(f"ses:{event_type}:{inner['mail']['messageId']}:")


def test_it_maps_a_hard_bounce_with_the_diagnostic():
    event = parse_one("bounce_permanent_general")
    assert (event.type, event.bounce_type, event.suppression) == ("bounced", "hard", "hard_bounce")
    assert event.reason == "Permanent/General: smtp; 550 5.1.1 user unknown"


def test_an_address_on_the_account_suppression_list_is_suppressed():
    event = parse_one("bounce_permanent_on_account_suppression_list")
    assert (event.type, event.bounce_type) == ("suppressed", "")


def test_it_reads_our_message_id_from_the_message_tags():
    assert parse_one("delivery").message_id == 101


def test_an_identity_notification_without_tags_correlates_by_ses_message_id():
    event = parse_one("delivery_identity_notification")
    assert event.message_id is None
    assert event.provider_message_id == "0100018f2222aaaa-1111-2222-3333-444444444444-000000"


def test_the_event_time_is_the_ses_events_own_timestamp():
    assert parse_one("bounce_permanent_general").occurred_at == datetime(
        2024, 6, 1, 10, 15, 3, 101000, tzinfo=UTC
    )
    assert parse_one("open").occurred_at == datetime(2024, 6, 1, 11, 0, 19, 652000, tzinfo=UTC)


def test_an_event_without_its_own_timestamp_uses_the_send_time():
    assert parse_one("send").occurred_at == datetime(2024, 6, 1, 10, 15, 0, 237000, tzinfo=UTC)


def test_a_click_carries_the_link():
    assert parse_one("click").link_url == "https://shop.example.com/spring?utm_source=tidings"


def test_failures_keep_their_reasons():
    assert parse_one("reject").reason == "Bad content"
    assert parse_one("rendering_failure").reason.startswith("Attribute 'attributeName'")
    assert parse_one("delivery_delay").reason == (
        "TransientCommunicationFailure: smtp; 421 4.4.1 Unable to connect to remote host"
    )


def test_the_idempotency_key_is_a_natural_key_stable_across_sns_redelivery():
    envelope = fixture_json("ses", "bounce_permanent_general")
    redelivered = {**envelope, "MessageId": "another-sns-id", "Timestamp": "2024-06-01T11:00:00Z"}
    first = parse_one("bounce_permanent_general")
    again = ses.parse(
        json.dumps(redelivered).encode(), received_at=datetime(2024, 6, 3, tzinfo=UTC)
    )[0]
    assert (
        first.idempotency_key
        == again.idempotency_key
        == (
            f"ses:Bounce:{SES_ID}:2024-06-01T10:15:03.101Z:"
            "0100018f1b2c3d4e-aaaa-bbbb-cccc-dddddddddddd-000000"
        )
    )


def test_the_topic_validation_message_yields_no_event():
    assert parse("topic_validation") == []


def test_a_subscription_confirmation_yields_no_event():
    assert parse("subscription_confirmation") == []


def test_subscribe_url_is_given_for_a_confirmation_only():
    url = ses.subscribe_url(fixture_bytes("ses", "subscription_confirmation"))
    assert url.startswith("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription")
    assert ses.subscribe_url(fixture_bytes("ses", "delivery")) is None


def test_subscribe_url_refuses_a_url_outside_sns():
    envelope = fixture_json("ses", "subscription_confirmation")
    envelope["SubscribeURL"] = "https://evil.example.com/?Action=ConfirmSubscription"
    with pytest.raises(MalformedPayload):
        ses.subscribe_url(json.dumps(envelope).encode())


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"Type": "Notification", "Message": "not an event"}',
        b'{"Type": "Notification", "Message": "[1, 2]"}',
        b'{"Type": "Notification", "Message": {"eventType": "Send"}}',
        b'{"Type": "Notification", "Message": "{\\"eventType\\": \\"Send\\", \\"mail\\": {}}"}',
        b'{"Type": "Rumour", "Message": "{}"}',
    ],
)
def test_it_refuses_a_body_that_is_not_an_sns_envelope_of_an_ses_event(body):
    with pytest.raises(MalformedPayload):
        ses.parse(body, received_at=RECEIVED_AT)
