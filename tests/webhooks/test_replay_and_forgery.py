"""Replayed, re-split and re-targeted webhook requests, against every
provider (CONTRACT.md "Webhooks and tracking"): a signature that is genuine
but was made for another request never changes anything, and a refusal
stores nothing."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from campaigns.vocabulary import Channel, EventType, Source
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.models import Message, MessageEvent, Suppression, WebhookRequest
from messaging.webhooks.providers import mailgun, sendgrid, twilio

from .helpers import fixture_bytes
from .kits import KITS, PROVIDER_IDS, Request, sent_message

pytestmark = pytest.mark.django_db

FIXTURE = {
    "sendgrid": "delivered",
    "twilio": "delivered",
    "mailgun": "delivered",
    "postmark": "delivery",
    "ses": "delivery",
}


@pytest.fixture(params=sorted(KITS))
def case(request, kits, sns_confirmations):
    name = request.param
    channel = Channel.SMS if name == "twilio" else Channel.EMAIL
    message = sent_message(101, channel=channel, provider_message_id=PROVIDER_IDS[name])
    return kits[name], kits[name].request(FIXTURE[name]), message


def provider_events(message) -> int:
    return MessageEvent.objects.filter(message_id=message.pk, source="provider").count()


def test_a_replayed_request_answers_200_and_stores_nothing_new(client, case):
    kit, request, message = case
    assert request.post(client).status_code == 200
    rows, events = WebhookRequest.objects.count(), provider_events(message)
    for _ in range(3):
        assert request.post(client).status_code == 200
    assert (WebhookRequest.objects.count(), provider_events(message)) == (rows, events)


# --- Mailgun: the HMAC covers timestamp + token only --------------------------------


def _mailgun_body(request, **signature) -> bytes:
    payload = json.loads(request.body)
    payload["signature"].update(signature)
    return json.dumps(payload).encode()


def _resplits(timestamp: str, token: str) -> list[tuple[str, str]]:
    moved = [(timestamp + token[:n], token[n:]) for n in range(1, 8)]
    moved += [(timestamp[:-n], timestamp[-n:] + token) for n in range(1, 8)]
    return moved


@pytest.mark.parametrize("split", range(14))
def test_a_mailgun_signature_re_split_between_timestamp_and_token_is_refused(client, kits, split):
    message = sent_message(101, provider_message_id=PROVIDER_IDS["mailgun"])
    request = kits["mailgun"].request("delivered")
    block = json.loads(request.body)["signature"]
    timestamp, token = _resplits(block["timestamp"], block["token"])[split]
    # The HMAC still verifies: the signed string is the same.
    assert mailgun._hmac(kits["mailgun"].key, timestamp, token) == block["signature"]
    forged = _mailgun_body(request, timestamp=timestamp, token=token)
    forged = json.loads(forged)
    forged["event-data"] = json.loads(kits["mailgun"].request("complained").body)["event-data"]

    response = request.post(client, body=json.dumps(forged).encode())

    assert response.status_code == 403, response.content
    assert WebhookRequest.objects.count() == 0
    assert provider_events(message) == 0
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("timestamp", "token"),
    [
        ("1717236902.5", "ab" * 25),
        (" 1717236902", "ab" * 25),
        ("-1717236902", "ab" * 25),
        ("".join(chr(0xFF10 + int(d)) for d in "1717236902"), "ab" * 25),  # fullwidth
        ("1717236902", "ab" * 24),
        ("1717236902", "ab" * 26),
        ("1717236902", "zz" * 25),
        ("1717236902", "AB" * 25 + "\n"),
    ],
)
def test_a_mailgun_timestamp_that_is_not_all_digits_or_a_token_that_is_not_50_hex_is_a_403(
    client, kits, timestamp, token
):
    request = kits["mailgun"].request("delivered")
    signature = mailgun._hmac(kits["mailgun"].key, timestamp, token)
    body = _mailgun_body(request, timestamp=timestamp, token=token, signature=signature)
    assert request.post(client, body=body).status_code == 403
    assert WebhookRequest.objects.count() == 0


def test_the_same_mailgun_signature_with_another_event_is_a_403(client, kits):
    message = sent_message(101, provider_message_id=PROVIDER_IDS["mailgun"])
    request = kits["mailgun"].request("delivered")
    assert request.post(client).status_code == 200
    payload = json.loads(request.body)
    payload["event-data"] = json.loads(kits["mailgun"].request("unsubscribed").body)["event-data"]
    response = request.post(client, body=json.dumps(payload).encode())
    assert response.status_code == 403
    assert WebhookRequest.objects.count() == 1
    message.refresh_from_db()
    assert message.unsubscribed_at is None and message.person.unsubscribed_at is None


def test_a_mailgun_request_signed_more_than_a_day_ago_is_a_403(client, kits):
    message = sent_message(101, provider_message_id=PROVIDER_IDS["mailgun"])
    data = json.loads(kits["mailgun"].request("delivered").body)["event-data"]
    stale = int(time.time()) - mailgun.MAX_AGE_SECONDS - 60
    body = mailgun.signed_body(data, kits["mailgun"].key, token="cd" * 25, timestamp=stale)
    request = kits["mailgun"].request("delivered")
    assert request.post(client, body=body).status_code == 403
    assert WebhookRequest.objects.count() == 0 and provider_events(message) == 0


def test_a_mailgun_request_signed_in_the_future_is_a_403(client, kits):
    data = json.loads(kits["mailgun"].request("delivered").body)["event-data"]
    future = int(time.time()) + 3600
    body = mailgun.signed_body(data, kits["mailgun"].key, token="cd" * 25, timestamp=future)
    assert kits["mailgun"].request("delivered").post(client, body=body).status_code == 403
    assert WebhookRequest.objects.count() == 0


# --- SendGrid: the signature covers timestamp + body with no separator ------------


def test_a_sendgrid_signature_re_split_between_timestamp_and_body_is_refused(client, kits):
    message = sent_message(101, provider_message_id=PROVIDER_IDS["sendgrid"])
    request = kits["sendgrid"].request("delivered")
    timestamp = request.headers[sendgrid.TIMESTAMP_HEADER]
    signature = request.headers[sendgrid.SIGNATURE_HEADER]
    forgeries = [
        (timestamp + request.body[:1].decode(), request.body[1:]),
        (timestamp[:-1], timestamp[-1:].encode() + request.body),
    ]
    for new_timestamp, new_body in forgeries:
        headers = {sendgrid.TIMESTAMP_HEADER: new_timestamp, sendgrid.SIGNATURE_HEADER: signature}
        response = request.post(client, body=new_body, headers=headers)
        assert response.status_code in (400, 403), response.content
    assert WebhookRequest.objects.count() == 0
    assert provider_events(message) == 0


# --- Twilio: names and values are signed with no separator -------------------------


def _twilio_resplit(body: bytes, name: str) -> bytes:
    """Moves the first character of ``name``'s value into its name: the
    signed string (sorted name + value pairs) is unchanged."""
    params = parse_qsl(body.decode(), keep_blank_values=True)
    out = []
    for key, value in params:
        out.append((key + value[:1], value[1:]) if key == name else (key, value))
    return urlencode(out).encode()


def _retried(message: Message) -> Message:
    # A retry got a new MessageSid from Twilio.
    Message.objects.filter(pk=message.pk).update(provider_message_id="SM" + "9" * 32, status="sent")
    message.refresh_from_db()
    return message


def test_a_re_split_twilio_callback_verifies_but_is_refused_after_a_retry(client, kits):
    kit = kits["twilio"]
    message = sent_message(101, channel=Channel.SMS, provider_message_id=PROVIDER_IDS["twilio"])
    captured = kit.request("failed_30034")
    assert captured.post(client).status_code == 200
    rows = WebhookRequest.objects.count()
    message = _retried(message)
    events = provider_events(message)

    for name in ("To", "From", "AccountSid", "ApiVersion"):
        body = _twilio_resplit(captured.body, name)
        twilio.verify(
            body=body, headers=captured.headers, url=captured.extra["url"], secrets=kit.secrets()
        )
        response = captured.post(client, body=body)
        assert response.status_code == 403, response.content

    assert WebhookRequest.objects.count() == rows
    assert provider_events(message) == events
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_twilio_callback_whose_message_sid_is_not_the_stored_one_is_a_403(client, kits):
    message = sent_message(101, channel=Channel.SMS, provider_message_id="SM" + "7" * 32)
    response = kits["twilio"].request("delivered").post(client)
    assert response.status_code == 403
    assert "SM" + "7" * 32 in response.json()["detail"]
    assert WebhookRequest.objects.count() == 0
    assert provider_events(message) == 0


def test_a_twilio_callback_that_beats_its_message_waits_and_is_checked_when_matched(client, kits):
    from messaging.webhooks import inbox

    assert kits["twilio"].request("delivered").post(client).status_code == 200
    [row] = WebhookRequest.objects.all()
    assert row.status == "waiting"

    # The message then turns up with another sid: the callback is refused for good.
    message = sent_message(101, channel=Channel.SMS, provider_message_id="SM" + "8" * 32)
    report = inbox.webhook_requests_replay()
    assert report.failed == [row.pk]
    row.refresh_from_db()
    assert row.status == "failed" and "SM8888" in row.error
    assert row.attempts >= inbox.MAX_ATTEMPTS  # the sweeper leaves it alone
    assert provider_events(message) == 0


def test_a_waiting_twilio_callback_whose_sid_matches_is_applied_when_matched(client, kits):
    from messaging.webhooks import inbox

    assert kits["twilio"].request("delivered").post(client).status_code == 200
    message = sent_message(101, channel=Channel.SMS, provider_message_id=PROVIDER_IDS["twilio"])
    report = inbox.webhook_requests_sweep()
    assert report.applied == [WebhookRequest.objects.get().pk]
    message.refresh_from_db()
    assert message.status == "delivered"


def test_no_provider_accepts_a_request_signed_with_a_key_it_does_not_hold(case):
    kit, request, message = case
    client = Client()
    response = kit.wrong_signature(request).post(client)
    assert response.status_code in (401, 403)
    assert WebhookRequest.objects.count() == 0 and provider_events(message) == 0


def _twilio_for_attempt(kit, name: str, attempt: int):
    """A Twilio callback as Twilio posts it for one attempt: our message id and
    the attempt in the signed callback URL."""
    body = fixture_bytes("twilio", name)
    path = kit.url_path(101) + f"&{twilio.ATTEMPT_PARAM}={attempt}"
    url = settings.TIDINGS_PUBLIC_URL.rstrip("/") + path
    headers = twilio.sign(body=body, url=url, secret=kit.token)
    return Request("twilio", path, body, headers, "application/x-www-form-urlencoded", {"url": url})


def _first_attempt_failed(message: Message, first_sid: str) -> None:
    """Attempt 1 was sent as ``first_sid`` and failed; the next attempt is
    counted."""
    at = timezone.now() - timedelta(minutes=1)
    apply_events(
        [
            Event(
                type=EventType.SENT,
                occurred_at=at,
                idempotency_key="sent:first",
                source=Source.PIPELINE,
                message_id=message.pk,
                attempt=1,
                detail={"provider_message_id": first_sid},
            ),
            Event(
                type=EventType.FAILED,
                occurred_at=at,
                idempotency_key="failed:first",
                source=Source.PROVIDER,
                message_id=message.pk,
                attempt=1,
                reason="carrier violation",
            ),
        ]
    )
    Message.objects.filter(pk=message.pk).update(send_attempts=1, provider_message_id=first_sid)


def _second_attempt(message: Message, *types: str, sid: str = "") -> Message:
    """Attempt 2's pipeline events (``sid``: the id its ``sent`` carries)."""
    at = timezone.now() - timedelta(seconds=30)
    apply_events(
        [
            Event(
                type=type_,
                occurred_at=at + timedelta(seconds=offset),
                idempotency_key=f"{type_}:second",
                source=Source.PIPELINE,
                message_id=message.pk,
                attempt=2,
                detail={"provider_message_id": sid} if type_ == EventType.SENT else {},
            )
            for offset, type_ in enumerate(types)
        ]
    )
    return Message.objects.get(pk=message.pk)


def _resent_with_a_new_sid(message: Message, first_sid: str, new_sid: str) -> Message:
    """Attempt 1 was sent as ``first_sid`` and failed; attempt 2 went out as ``new_sid``."""
    _first_attempt_failed(message, first_sid)
    _second_attempt(message, EventType.QUEUED, EventType.ATTEMPTED, EventType.SENT, sid=new_sid)
    Message.objects.filter(pk=message.pk).update(provider_message_id=new_sid)
    return Message.objects.get(pk=message.pk)


def test_a_late_twilio_callback_of_an_earlier_attempt_is_checked_against_that_attempts_sid(
    client, kits
):
    first_sid = PROVIDER_IDS["twilio"]  # the fixtures' MessageSid
    message = sent_message(101, channel=Channel.SMS)
    message = _resent_with_a_new_sid(message, first_sid, "SM" + "9" * 32)
    assert message.attempt == 2

    response = _twilio_for_attempt(kits["twilio"], "delivered", attempt=1).post(client)

    assert response.status_code == 200, response.content
    [late] = MessageEvent.objects.filter(message=message, source="provider", attempt=1).exclude(
        idempotency_key="failed:first"
    )
    assert late.type == "delivered"


def test_an_earlier_attempts_callback_with_a_sid_we_never_sent_is_a_403(client, kits):
    message = sent_message(101, channel=Channel.SMS)
    _resent_with_a_new_sid(message, "SM" + "1" * 32, "SM" + "9" * 32)

    response = _twilio_for_attempt(kits["twilio"], "delivered", attempt=1).post(client)

    assert response.status_code == 403
    assert "SM" + "1" * 32 in response.json()["detail"]
    assert WebhookRequest.objects.count() == 0


def _retried_not_yet_sent(message: Message, first_sid: str) -> Message:
    """Attempt 1 went out as ``first_sid`` and failed; the retry (attempt 2) is
    queued and attempted, and its send has not committed: the message still
    carries attempt 1's sid."""
    _first_attempt_failed(message, first_sid)
    return _second_attempt(message, EventType.QUEUED, EventType.ATTEMPTED)


@pytest.mark.parametrize("names_its_attempt", [True, False])
def test_a_retrys_callback_that_beats_its_send_commit_is_not_refused_for_the_old_sid(
    client, kits, names_its_attempt
):
    # Twilio answered attempt 2 with a new sid and its callback came before
    # our commit stored it: the message still holds attempt 1's sid, which is
    # not this attempt's, so nothing says the callback is foreign.
    message = sent_message(101, channel=Channel.SMS)
    message = _retried_not_yet_sent(message, "SM" + "1" * 32)
    assert message.attempt == 2 and message.provider_message_id == "SM" + "1" * 32
    kit = kits["twilio"]
    request = (
        _twilio_for_attempt(kit, "delivered", attempt=2)
        if names_its_attempt
        else kit.request("delivered")
    )

    response = request.post(client)

    assert response.status_code == 200, response.content
    [delivered] = MessageEvent.objects.filter(message=message, type="delivered")
    assert delivered.attempt == 2


def test_once_the_retry_is_sent_a_callback_with_another_sid_for_it_is_a_403(client, kits):
    message = sent_message(101, channel=Channel.SMS)
    _resent_with_a_new_sid(message, PROVIDER_IDS["twilio"], "SM" + "9" * 32)

    response = _twilio_for_attempt(kits["twilio"], "delivered", attempt=2).post(client)

    assert response.status_code == 403
    assert "SM" + "9" * 32 in response.json()["detail"]
    assert WebhookRequest.objects.count() == 0
