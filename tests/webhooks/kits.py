"""Endpoint test kits: for each provider, its secrets (generated here) and a
way to build a request exactly as the provider would send it, signed.

Also the messages the fixtures talk about: the fixtures name our message 101
(and 102), so ``sent_message(101)`` makes an email message with that id that
the pipeline sent just before the fixtures' events.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from campaigns.vocabulary import Channel, EventType, Source
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.models import Message, MessageEvent, WebhookRequest
from messaging.webhooks.providers import base, mailgun, postmark, sendgrid, ses, twilio
from tests import factories

from .helpers import fixture_bytes, fixture_json

SEND_AT = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)  # before every fixture's events
CLICK_URL = "https://shop.example.com/spring?utm_source=tidings"  # the fixtures' click
TOPIC = "arn:aws:sns:us-east-1:123456789012:tidings-ses-events"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-tidings-test.pem"

# The provider message ids in the fixtures that carry no id of ours.
PROVIDER_IDS = {
    "sendgrid": "14c5d75ce93",
    "sendgrid_without_custom_args": "X9kQ2mTrRyOnZ0b1cPfJ",
    "mailgun": "20240601101500.1.DF5966851B4BAA99@mg.example.org",
    "postmark": "883953f4-6105-42a2-a16a-77a8eac79483",
    "postmark_without_metadata": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
    "ses": "010001901e4a3b2c-5f6e7d8c-1a2b-4c3d-9e8f-0a1b2c3d4e5f-000000",
    "ses_identity": "0100018f2222aaaa-1111-2222-3333-444444444444-000000",
    "twilio": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
}


@lru_cache(maxsize=1)
def sendgrid_keys() -> tuple[str, str]:
    return base.generate_p256_keypair()


@lru_cache(maxsize=2)
def sns_certificate(name: str = "ours") -> tuple[str, str]:
    return base.generate_rsa_certificate()


@dataclass
class Request:
    provider: str
    path: str
    body: bytes
    headers: dict[str, str]
    content_type: str
    extra: dict[str, Any] = field(default_factory=dict)

    def post(self, client, **changes):
        request = self.but(**changes) if changes else self
        return client.post(
            request.path,
            data=request.body,
            content_type=request.content_type,
            headers=request.headers,
        )

    def but(self, **changes) -> Request:
        values = {**self.__dict__, **changes}
        return Request(**values)


def _path(provider: str) -> str:
    return f"/webhooks/{provider}/"


class SendGridKit:
    name = "sendgrid"
    setting = "SENDGRID_WEBHOOK_VERIFICATION_KEY"

    def __init__(self):
        self.private, self.public = sendgrid_keys()

    def secrets(self) -> list[str]:
        return [self.public]

    def other_secrets(self) -> list[str]:
        return [base.generate_p256_keypair()[1]]

    def request(self, name: str = "delivered", *, body: bytes | None = None) -> Request:
        body = fixture_bytes("sendgrid", name) if body is None else body
        return self.signed(body)

    def events(self, events: list[dict]) -> Request:
        return self.signed(json.dumps(events).encode())

    def signed(self, body: bytes) -> Request:
        headers = sendgrid.sign(body=body, secret=self.private)
        return Request(self.name, _path(self.name), body, headers, "application/json")

    def strip(self, request: Request) -> Request:
        return request.but(headers={})

    def wrong_signature(self, request: Request) -> Request:
        other = base.generate_p256_keypair()[0]
        return request.but(headers=sendgrid.sign(body=request.body, secret=other))

    def tamper(self, request: Request) -> Request:
        from .helpers import flip_one_byte

        return request.but(body=flip_one_byte(request.body))


class TwilioKit:
    name = "twilio"
    setting = "TWILIO_AUTH_TOKEN"

    def __init__(self):
        self.token = secrets.token_hex(16)

    def secrets(self) -> list[str]:
        return [self.token]

    def other_secrets(self) -> list[str]:
        return [secrets.token_hex(16)]

    def url_path(self, message_id: int | None) -> str:
        query = f"?{twilio.MESSAGE_ID_PARAM}={message_id}" if message_id else ""
        return _path(self.name) + query

    def request(
        self, name: str = "delivered", *, body: bytes | None = None, message_id: int | None = 101
    ) -> Request:
        body = fixture_bytes("twilio", name) if body is None else body
        path = self.url_path(message_id)
        url = settings.TIDINGS_PUBLIC_URL.rstrip("/") + path
        headers = twilio.sign(body=body, url=url, secret=self.token)
        return Request(
            self.name, path, body, headers, "application/x-www-form-urlencoded", {"url": url}
        )

    def strip(self, request: Request) -> Request:
        return request.but(headers={})

    def wrong_signature(self, request: Request) -> Request:
        headers = twilio.sign(body=request.body, url=request.extra["url"], secret="not-the-token")
        return request.but(headers=headers)

    def tamper(self, request: Request) -> Request:
        from .helpers import flip_one_byte

        return request.but(body=flip_one_byte(request.body))


class MailgunKit:
    name = "mailgun"
    setting = "MAILGUN_WEBHOOK_SIGNING_KEY"

    def __init__(self):
        self.key = "key-" + secrets.token_hex(16)

    def secrets(self) -> list[str]:
        return [self.key]

    def other_secrets(self) -> list[str]:
        return ["key-" + secrets.token_hex(16)]

    def request(
        self,
        name: str = "delivered",
        *,
        event_data: dict | None = None,
        token: str | None = None,
        timestamp: int | None = None,
        key: str | None = None,
    ) -> Request:
        data = fixture_json("mailgun", name)["event-data"] if event_data is None else event_data
        body = mailgun.signed_body(
            data,
            key or self.key,
            token=token or secrets.token_hex(25),
            timestamp=int(datetime.now(UTC).timestamp()) if timestamp is None else timestamp,
        )
        return Request(self.name, _path(self.name), body, {}, "application/json", {"data": data})

    def strip(self, request: Request) -> Request:
        payload = json.loads(request.body)
        del payload["signature"]
        return request.but(body=json.dumps(payload).encode())

    def wrong_signature(self, request: Request) -> Request:
        payload = json.loads(request.body)
        block = payload["signature"]
        block["signature"] = mailgun._hmac("another-key", block["timestamp"], block["token"])
        return request.but(body=json.dumps(payload).encode())

    def tamper(self, request: Request) -> Request:
        # Mailgun's HMAC covers the signature block only (a changed event
        # under a used token is refused as a replay): flip a byte there.
        from .helpers import flip_one_byte

        signature = json.loads(request.body)["signature"]["signature"]
        return request.but(body=flip_one_byte(request.body, request.body.index(signature.encode())))


class PostmarkKit:
    name = "postmark"
    setting = "POSTMARK_WEBHOOK_AUTH"

    def __init__(self):
        self.auth = "tidings:" + secrets.token_hex(12)

    def secrets(self) -> list[str]:
        return [self.auth]

    def other_secrets(self) -> list[str]:
        return ["tidings:" + secrets.token_hex(12)]

    def request(self, name: str = "delivery", *, body: bytes | None = None) -> Request:
        body = fixture_bytes("postmark", name) if body is None else body
        headers = postmark.sign(secret=self.auth)
        return Request(self.name, _path(self.name), body, headers, "application/json")

    def strip(self, request: Request) -> Request:
        return request.but(headers={})

    def wrong_signature(self, request: Request) -> Request:
        user = self.auth.split(":", 1)[0]
        return request.but(headers=postmark.sign(secret=f"{user}:wrong-password"))

    def tamper(self, request: Request) -> Request:
        # Postmark signs nothing: what authenticates it is the basic auth
        # header, so flip one byte of that.
        value = request.headers["Authorization"]
        encoded = value.split(" ", 1)[1]
        decoded = bytearray(base64.b64decode(encoded))
        decoded[-1] ^= 0x01
        flipped = "Basic " + base64.b64encode(bytes(decoded)).decode()
        return request.but(headers={"Authorization": flipped})


class SesKit:
    name = "ses"
    setting = "SES_SNS_TOPIC_ARNS"

    def __init__(self, version: str = "2"):
        self.key, self.cert = sns_certificate()
        self.version = version

    def secrets(self) -> list[str]:
        return [TOPIC]

    def other_secrets(self) -> list[str]:
        return ["arn:aws:sns:eu-west-1:123456789012:someone-elses-topic"]

    def request(
        self,
        name: str = "delivery",
        *,
        envelope: dict | None = None,
        cert_url: str = CERT_URL,
        key: str | None = None,
    ) -> Request:
        envelope = fixture_json("ses", name) if envelope is None else envelope
        signed = ses.sign_envelope(envelope, key or self.key, cert_url, version=self.version)
        body = json.dumps(signed).encode()
        headers = {k: v for k, v in ses.sns_headers(signed).items() if k != "Content-Type"}
        return Request(
            self.name, _path(self.name), body, headers, "text/plain; charset=UTF-8", {"e": signed}
        )

    def strip(self, request: Request) -> Request:
        envelope = json.loads(request.body)
        del envelope["Signature"]
        return request.but(body=json.dumps(envelope).encode())

    def wrong_signature(self, request: Request) -> Request:
        other_key = sns_certificate("other")[0]
        envelope = {k: v for k, v in json.loads(request.body).items() if k != "Signature"}
        signed = ses.sign_envelope(envelope, other_key, CERT_URL, version=self.version)
        return request.but(body=json.dumps(signed).encode())

    def tamper(self, request: Request) -> Request:
        from .helpers import flip_one_byte

        # The middle of the body falls inside the SES event (Message).
        return request.but(body=flip_one_byte(request.body))


KITS = {kit.name: kit for kit in (SendGridKit, TwilioKit, MailgunKit, PostmarkKit, SesKit)}


def configure(settings_fixture, monkeypatch) -> dict[str, Any]:
    """Every provider's secret set, the test SNS certificate in the
    certificate cache, and no network."""
    kits = {name: cls() for name, cls in KITS.items()}
    for kit in kits.values():
        setattr(settings_fixture, kit.setting, kit.secrets())
    monkeypatch.setattr(ses, "_certificates", {})
    ses.register_certificate(CERT_URL, kits["ses"].cert)

    def no_fetch(*args, **kwargs):
        raise AssertionError("tests never fetch a certificate")

    monkeypatch.setattr(ses.requests, "get", no_fetch)
    return kits


# --- Messages ------------------------------------------------------------------


def force_id(message: Message, new_id: int) -> Message:
    """Gives a freshly created message the id a fixture names."""
    if message.pk == new_id:
        return message
    assert not Message.objects.filter(pk=new_id).exists(), f"message {new_id} exists"
    with transaction.atomic():
        # Foreign keys are deferred, so the events can move first.
        MessageEvent.objects.filter(message_id=message.pk).update(message_id=new_id)
        Message.objects.filter(pk=message.pk).update(id=new_id)
    if connection.vendor == "postgresql":
        # Keep later automatic ids clear of the forced one.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('messaging_message', 'id')")
            sequence = cursor.fetchone()[0]
            cursor.execute(
                f"SELECT setval('{sequence}', GREATEST((SELECT last_value FROM {sequence}), %s))",
                [new_id],
            )
    return Message.objects.get(pk=new_id)


def sent_message(
    message_id: int | None = None,
    *,
    channel: str = Channel.EMAIL,
    provider_message_id: str = "",
    action_obj=None,
    person_obj=None,
    sent_at: datetime = SEND_AT,
) -> Message:
    """A message the pipeline has sent (attempted, then sent) at ``sent_at``."""
    if action_obj is None:
        action_obj = factories.action(channel, links=(CLICK_URL, "https://example.com/other"))
    message = factories.message(
        channel, action_obj=action_obj, person_obj=person_obj, now=sent_at - timedelta(minutes=5)
    )
    if message_id is not None:
        message = force_id(message, message_id)
    apply_events(
        [
            Event(
                type=EventType.ATTEMPTED,
                occurred_at=sent_at - timedelta(seconds=1),
                idempotency_key="attempted:0",
                source=Source.PIPELINE,
                message_id=message.pk,
            ),
            Event(
                type=EventType.SENT,
                occurred_at=sent_at,
                idempotency_key="sent:0",
                source=Source.PIPELINE,
                message_id=message.pk,
            ),
        ]
    )
    if provider_message_id:
        Message.objects.filter(pk=message.pk).update(provider_message_id=provider_message_id)
    return Message.objects.get(pk=message.pk)


def history(message: Message, *, source: str = Source.PROVIDER) -> list[MessageEvent]:
    return list(
        MessageEvent.objects.filter(message_id=message.pk, source=source).order_by(
            "occurred_at", "id"
        )
    )


def inbox_rows(provider: str | None = None) -> list[WebhookRequest]:
    rows = WebhookRequest.objects.order_by("id")
    return list(rows.filter(provider=provider) if provider else rows)


MILESTONE_OF_STATUS = {
    "delivered": "delivered_at",
    "bounced": "bounced_at",
    "failed": "failed_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "spammed": "spammed_at",
    "unsubscribed": "unsubscribed_at",
}
PROVIDER_MILESTONES = ("delivered_at", "opened_at", "clicked_at", "bounced_at", "spammed_at")


def assert_milestones(message: Message, event: MessageEvent) -> None:
    """The status's milestone is the event's time; a message the event left
    "sent" reached none of the provider's milestones; one the provider
    refused was never sent."""
    field_name = MILESTONE_OF_STATUS.get(message.status)
    if field_name:
        assert getattr(message, field_name) == event.occurred_at, field_name
    if message.status == "sent":
        assert all(getattr(message, name) is None for name in PROVIDER_MILESTONES)
        assert (message.open_count, message.click_count) == (0, 0)
    if message.status in ("failed", "suppressed", "undeliverable"):
        # The provider's verdict: the message counts as failed, never as sent.
        assert message.sent_at is None
    else:
        assert message.sent_at == SEND_AT
