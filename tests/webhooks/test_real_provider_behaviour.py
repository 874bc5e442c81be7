"""Statuses that stay true under real provider behaviour (issue 10), through
the real webhook endpoints with real signatures: the provider's verdict
beats our own "sent" whatever the clocks, attempts are counted, a provider
speaks only for its own messages, and clocks are bounded."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.metrics import campaign_metrics
from campaigns.vocabulary import Channel, EventType
from messaging.models import Message, MessageEvent
from messaging.sending import message_retry
from tests import factories
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_json
from .kits import SEND_AT, sent_message

pytestmark = pytest.mark.django_db


def refused(message: Message) -> list[MessageEvent]:
    return list(MessageEvent.objects.filter(message_id=message.pk, type=EventType.REFUSED))


def test_a_sendgrid_drop_in_the_same_second_as_our_send_makes_the_message_suppressed(client, kits):
    # Our "sent" at 09:30:00.800; SendGrid dates its drop in whole seconds:
    # 09:30:00, before our send.
    message = sent_message(101, sent_at=SEND_AT + timedelta(milliseconds=800))
    [drop] = fixture_json("sendgrid", "dropped_bounced_address")
    drop["timestamp"] = int(SEND_AT.timestamp())
    assert kits["sendgrid"].events([drop]).post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "suppressed"
    # It counts as suppressed, never as sent.
    assert message.sent_at is None
    counts = campaign_metrics(message.campaign)["counts"]
    assert counts["sent"] == 0 and counts["suppressed"] == 1
    assert_no_drift(message.campaign_id)


def test_a_dropped_message_takes_no_conversion(client, kits):
    message = sent_message(101, sent_at=SEND_AT + timedelta(milliseconds=800))
    [drop] = fixture_json("sendgrid", "dropped_bounced_address")
    drop["timestamp"] = int(SEND_AT.timestamp())
    kits["sendgrid"].events([drop]).post(client)
    from messaging.conversions import person_event_record

    _, converted = person_event_record(
        person=message.person,
        name=message.campaign.conversion_event,
        occurred_at=SEND_AT + timedelta(hours=1),
    )
    assert converted == []
    message.refresh_from_db()
    assert message.status == "suppressed" and message.converted_at is None


def test_an_ses_reject_dated_when_ses_took_the_call_beats_our_later_sent(client, kits):
    # SES dates a Reject with the time it accepted the call (10:15:00.237);
    # our own "sent" is recorded after its answer came back.
    message = sent_message(101, sent_at=datetime(2024, 6, 1, 10, 15, 0, 900_000, tzinfo=UTC))
    assert kits["ses"].request("reject").post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.sent_at is None
    assert "Bad content" in message.failure_reason
    assert campaign_metrics(message.campaign)["counts"]["failed"] == 1
    assert_no_drift(message.campaign_id)


def test_a_twilio_failure_beats_our_sent_even_when_our_clock_reads_later(client, kits):
    # Our clock runs a minute ahead of the server that receives Twilio's
    # callback (dated on receipt).
    message = sent_message(101, channel=Channel.SMS, sent_at=timezone.now() + timedelta(minutes=1))
    assert kits["twilio"].request("failed_30034").post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "failed"
    assert "30034" in message.failure_reason
    assert_no_drift(message.campaign_id)


def test_a_retry_after_a_failure_dated_ahead_of_our_clock_reads_sent(
    client, kits, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_PROVIDERS = "capture"
    settings.TIDINGS_PROVIDER_BY_CHANNEL = {}
    now = timezone.now()
    message = sent_message(101, sent_at=now)
    [drop] = fixture_json("sendgrid", "dropped_invalid")
    # The provider's clock reads four minutes ahead of ours.
    drop["timestamp"] = int((now + timedelta(minutes=4)).timestamp())
    drop["tidings_attempt"] = "1"
    kits["sendgrid"].events([drop]).post(client)
    message.refresh_from_db()
    assert message.status == "failed"

    with django_capture_on_commit_callbacks(execute=True):
        message_retry(message=message)
    retried = Message.objects.get(pk=message.pk)
    assert retried.attempt == 2
    assert retried.status == "sent"  # not held back as queued or attempted
    assert retried.failure_reason == ""
    events = MessageEvent.objects.filter(message_id=message.pk)
    assert set(events.filter(type="sent").values_list("attempt", flat=True)) == {1, 2}
    assert events.get(type="failed").attempt == 1

    # A late event of the first attempt that names it changes nothing.
    [late] = fixture_json("sendgrid", "dropped_invalid")
    late.update(
        sg_event_id="late-drop-of-attempt-1",
        timestamp=int((now + timedelta(minutes=4)).timestamp()),
        tidings_attempt="1",
    )
    kits["sendgrid"].events([late]).post(client)
    message.refresh_from_db()
    assert message.status == "sent"
    # The same verdict naming the current attempt fails it.
    late.update(sg_event_id="drop-of-attempt-2", tidings_attempt="2")
    kits["sendgrid"].events([late]).post(client)
    message.refresh_from_db()
    assert message.status == "failed"
    assert_no_drift(message.campaign_id)


def test_an_event_without_tidings_attempt_belongs_to_the_current_attempt(client, kits):
    message = sent_message(101)
    Message.objects.filter(pk=message.pk).update(send_attempts=2)
    kits["sendgrid"].request("delivered").post(client)
    event = MessageEvent.objects.get(message_id=message.pk, type="delivered")
    assert event.attempt == 3


def test_a_postmark_bounce_for_an_sms_message_is_refused(client, kits):
    message = sent_message(101, channel=Channel.SMS)
    assert kits["postmark"].request("bounce_hard").post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "sent" and message.bounced_at is None
    [event] = refused(message)
    assert event.detail["refused_type"] == "bounced"
    assert event.detail["refused_reason"] == "postmark does not send sms messages"
    assert_no_drift(message.campaign_id)


def test_another_providers_event_for_an_email_sent_through_sendgrid_is_refused(client, kits):
    message = sent_message(101)
    Message.objects.filter(pk=message.pk).update(provider="simulated-sendgrid")
    kits["postmark"].request("bounce_hard").post(client)
    message.refresh_from_db()
    assert message.status == "sent"
    [event] = refused(message)
    assert event.detail["refused_reason"] == "sent through sendgrid"
    # SendGrid's own event for it counts.
    kits["sendgrid"].request("delivered").post(client)
    message.refresh_from_db()
    assert message.status == "delivered"


@pytest.mark.parametrize(
    ("timestamp", "bound"),
    [(-62135596800, "created"), (253402300799, "received")],
    ids=["year 1", "year 9999"],
)
def test_a_provider_time_outside_the_bounds_is_clamped_and_kept_in_the_detail(
    client, kits, timestamp, bound
):
    message = sent_message(101, sent_at=timezone.now() - timedelta(minutes=1))
    [delivered] = fixture_json("sendgrid", "delivered")
    delivered["timestamp"] = timestamp
    before = timezone.now()
    assert kits["sendgrid"].events([delivered]).post(client).status_code == 200
    event = MessageEvent.objects.get(message_id=message.pk, type="delivered")
    original = datetime.fromtimestamp(timestamp, tz=UTC)
    assert event.detail["clock_adjusted"] == original.isoformat()
    if bound == "created":
        assert event.occurred_at == message.created_at
    else:
        assert before + timedelta(minutes=5) <= event.occurred_at
        assert event.occurred_at <= timezone.now() + timedelta(minutes=5)
    message.refresh_from_db()
    assert message.status == "delivered"
    assert_no_drift(message.campaign_id)


def test_a_year_9999_delivery_does_not_outrank_a_later_open(client, kits):
    message = sent_message(101, sent_at=timezone.now() - timedelta(minutes=1))
    [delivered] = fixture_json("sendgrid", "delivered")
    delivered["timestamp"] = 253402300799
    kits["sendgrid"].events([delivered]).post(client)
    [opened] = fixture_json("sendgrid", "open")
    opened["timestamp"] = int(timezone.now().timestamp())
    kits["sendgrid"].events([opened]).post(client)
    message.refresh_from_db()
    assert message.status == "opened"
    assert message.delivered_at <= message.opened_at


def test_the_campaign_page_by_event_date_stays_small_with_year_1_and_9999_events(
    client, kits, admin_user
):
    message = sent_message(101, sent_at=timezone.now() - timedelta(minutes=1))
    for n, timestamp in enumerate((-62135596800, 253402300799)):
        [delivered] = fixture_json("sendgrid", "delivered")
        delivered.update(timestamp=timestamp, sg_event_id=f"far-{n}")
        kits["sendgrid"].events([delivered]).post(client)
    series = campaign_metrics(message.campaign, basis="event")["series"]
    first_hour = message.created_at.replace(minute=0, second=0, microsecond=0)
    for row in series:
        moment = datetime.fromisoformat(row["bucket"])
        assert first_hour <= moment <= timezone.now()
    client.force_login(admin_user)
    response = client.get(f"/campaigns/{message.campaign_id}/?basis=event&granularity=hour")
    assert response.status_code == 200
    assert len(response.content) < 200_000


def _retried_once(message: Message) -> None:
    # The message is on its second attempt.
    Message.objects.filter(pk=message.pk).update(send_attempts=1)


def _posted_attempt(message: Message, event_type: str = "delivered") -> int:
    return MessageEvent.objects.get(message_id=message.pk, type=event_type).attempt


def test_sendgrid_events_name_their_attempt_through_custom_args(client, kits):
    message = sent_message(101)
    _retried_once(message)
    [delivered] = fixture_json("sendgrid", "delivered")
    delivered["tidings_attempt"] = "1"
    kits["sendgrid"].events([delivered]).post(client)
    assert _posted_attempt(message) == 1


def test_mailgun_events_name_their_attempt_through_user_variables(client, kits):
    message = sent_message(101)
    _retried_once(message)
    data = fixture_json("mailgun", "delivered")["event-data"]
    data["user-variables"]["tidings_attempt"] = "1"
    kits["mailgun"].request(event_data=data).post(client)
    assert _posted_attempt(message) == 1


def test_postmark_events_name_their_attempt_through_metadata(client, kits):
    message = sent_message(101)
    _retried_once(message)
    record = fixture_json("postmark", "delivery")
    record["Metadata"]["tidings_attempt"] = "1"
    kits["postmark"].request(body=json.dumps(record).encode()).post(client)
    assert _posted_attempt(message) == 1


def test_ses_events_name_their_attempt_through_message_tags(client, kits):
    message = sent_message(101)
    _retried_once(message)
    envelope = fixture_json("ses", "delivery")
    ses_event = json.loads(envelope["Message"])
    ses_event["mail"]["tags"]["tidings_attempt"] = ["1"]
    envelope["Message"] = json.dumps(ses_event)
    kits["ses"].request(envelope=envelope).post(client)
    assert _posted_attempt(message) == 1


def test_twilio_callbacks_name_their_attempt_in_the_callback_url(client, kits):
    message = sent_message(101, channel=Channel.SMS)
    _retried_once(message)
    request = kits["twilio"].request("delivered")
    path = request.path + "&tidings_attempt=1"
    from django.conf import settings

    from messaging.webhooks.providers import twilio

    url = settings.TIDINGS_PUBLIC_URL.rstrip("/") + path
    headers = twilio.sign(body=request.body, url=url, secret=kits["twilio"].token)
    request.but(path=path, headers=headers).post(client)
    assert _posted_attempt(message) == 1
    # Without it, the event belongs to the attempt current when it arrived.
    kits["twilio"].request("undelivered_30003").post(client)
    assert _posted_attempt(message, "bounced") == 2


def test_an_email_action_with_open_tracking_off_refuses_provider_opens(client, kits):
    action = factories.action(Channel.EMAIL, track_opens=False)
    message = sent_message(101, action_obj=action)
    kits["sendgrid"].request("open").post(client)
    kits["sendgrid"].request("click").post(client)
    message.refresh_from_db()
    assert message.status == "clicked"
    assert message.opened_at is None and message.open_count == 0
    [event] = refused(message)
    assert event.detail["refused_reason"] == "open tracking is off for this action"
    metrics = campaign_metrics(message.campaign)
    assert metrics["counts"]["opened"] is None
    assert metrics["rates"]["open"] is None and metrics["rates"]["click_to_open"] is None
    assert_no_drift(message.campaign_id)
