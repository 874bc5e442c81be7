"""Deliverability scenarios driven through the real webhook endpoints: email
messages to recipients at each mailbox provider, then the provider's signed
callbacks about them."""

from __future__ import annotations

import copy
import secrets
from datetime import timedelta

from campaigns.vocabulary import Channel
from messaging.models import Message
from tests import factories
from tests.webhooks.helpers import fixture_json
from tests.webhooks.kits import SEND_AT, sent_message

DOMAINS = {
    "gmail": "gmail.com",
    "microsoft": "outlook.com",
    "yahoo": "yahoo.com",
    "apple": "icloud.com",
    "other": "example.org",
}


def recipients(action, provider: str, n: int) -> list[Message]:
    """n messages of the action sent to people at the provider's domain."""
    domain = DOMAINS[provider]
    return [
        sent_message(
            action_obj=action,
            person_obj=factories.person(email=f"{provider}-{secrets.token_hex(4)}@{domain}"),
        )
        for _ in range(n)
    ]


def email_action(campaign=None):
    return factories.action(Channel.EMAIL, campaign_obj=campaign or factories.campaign())


def _timestamp(minutes: float) -> int:
    return int((SEND_AT + timedelta(minutes=minutes)).timestamp())


def sendgrid_event(message: Message, event: str, minutes: float = 5, **fields) -> dict:
    """One SendGrid Event Webhook event about our message, as SendGrid sends it."""
    return {
        "email": message.address,
        "timestamp": _timestamp(minutes),
        "smtp-id": f"<{secrets.token_hex(6)}@ismtpd-555>",
        "event": event,
        "sg_event_id": secrets.token_urlsafe(16),
        "sg_message_id": f"{secrets.token_hex(6)}.filter0001.16648.5515E0B88.0",
        "tidings_message_id": str(message.pk),
        **fields,
    }


def sendgrid_post(client, kits, events: list[dict]):
    response = kits["sendgrid"].events(events).post(client)
    assert response.status_code == 200, response.content
    return response


def mailgun_bounce(client, kits, message: Message, description: str, code: int = 550):
    """A Mailgun permanent failure (bounce) of our message with this SMTP text."""
    data = copy.deepcopy(fixture_json("mailgun", "failed_permanent_bounce")["event-data"])
    data["id"] = secrets.token_urlsafe(16)
    data["recipient"] = message.address
    data["user-variables"] = {"tidings_message_id": str(message.pk)}
    data["timestamp"] = _timestamp(7)
    data["delivery-status"]["code"] = code
    data["delivery-status"]["description"] = ""
    data["delivery-status"]["message"] = description
    response = kits["mailgun"].request(event_data=data).post(client)
    assert response.status_code == 200, response.content
    return response


def bulk_sent(action, provider: str, n: int) -> list[Message]:
    """n messages to people at the provider's domain, created and sent in one
    batch each (the spam thresholds need a thousand deliveries)."""
    from campaigns.vocabulary import EventType, Source
    from messaging.events import Event
    from messaging.ingest import apply_events
    from messaging.models import Person
    from messaging.sending.services import messages_create

    domain = DOMAINS[provider]
    tag = secrets.token_hex(3)
    people = Person.objects.bulk_create(
        [
            Person(external_id=f"{provider}-{tag}-{i}", email=f"{provider}-{tag}-{i}@{domain}")
            for i in range(n)
        ]
    )
    created = messages_create(
        action=action, people=people, now=SEND_AT - timedelta(minutes=5), backdate=True
    )
    apply_events(
        [
            Event(
                type=EventType.SENT,
                occurred_at=SEND_AT,
                idempotency_key="sent:0",
                source=Source.PIPELINE,
                message_id=message.pk,
            )
            for message in created
        ]
    )
    return list(Message.objects.filter(pk__in=[m.pk for m in created]).order_by("id"))
