"""Creating messages and the pre-send checks.

(The worker side of the pipeline — claiming, provider calls, retries — builds
on these.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from campaigns.models import Action
from campaigns.vocabulary import Channel, EventType, Source, Status
from messaging.events import Event
from messaging.ingest import IngestResult, apply_events
from messaging.models import Message, Person
from messaging.suppression import normalise_address, suppressed_addresses

# Reasons kept on undeliverable and suppressed messages.
REASON_DELETED = "person deleted"
REASON_UNSUBSCRIBED = "person unsubscribed"
REASON_SUPPRESSED = "address on the suppression list"
NO_ADDRESS = {
    Channel.EMAIL: "no email address",
    Channel.SMS: "no phone number",
    Channel.PUSH: "no push token",
    Channel.AIRSHIP: "no push token",
    Channel.SLACK: "no Slack channel",
    Channel.WEBHOOK: "no webhook URL",
}


def address_for(*, action: Action, person: Person) -> str:
    channel = action.channel
    if channel == Channel.EMAIL:
        return person.email
    if channel == Channel.SMS:
        return person.phone
    if channel in (Channel.PUSH, Channel.AIRSHIP):
        return person.push_token
    return action.target  # Slack channel or webhook URL


def presend_verdict(
    *, message: Message, person: Person, suppressed: set[str]
) -> tuple[str, str] | None:
    """Why this message must not reach a provider: (event type, reason), or None."""
    if person.deleted_at is not None:
        return EventType.UNDELIVERABLE, REASON_DELETED
    if person.unsubscribed_at is not None:
        return EventType.UNDELIVERABLE, REASON_UNSUBSCRIBED
    if not message.address:
        return EventType.UNDELIVERABLE, NO_ADDRESS[message.channel]
    if message.channel == Channel.EMAIL and normalise_address(message.address) in suppressed:
        return EventType.SUPPRESSED, REASON_SUPPRESSED
    return None


def messages_presend_check(messages: Sequence[Message], *, now: datetime | None = None) -> set[int]:
    """Applies the pre-send verdicts in one batch; returns the ids that were
    stopped (suppressed or undeliverable) and must not be sent."""
    now = now or timezone.now()
    people = Person.objects.in_bulk({m.person_id for m in messages})
    suppressed = suppressed_addresses({m.address for m in messages if m.channel == Channel.EMAIL})
    events = []
    for message in messages:
        verdict = presend_verdict(
            message=message, person=people[message.person_id], suppressed=suppressed
        )
        if verdict is None:
            continue
        event_type, reason = verdict
        events.append(
            Event(
                type=event_type,
                occurred_at=now,
                idempotency_key=f"presend:{message.send_attempts}:{event_type}",
                source=Source.PIPELINE,
                message_id=message.id,
                reason=reason,
            )
        )
    apply_events(events)
    return {event.message_id for event in events}


def messages_create(
    *, action: Action, people: Sequence[Person], now: datetime | None = None
) -> list[Message]:
    """One new message per person, queued (or drafted), in one batch."""
    now = now or timezone.now()
    initial = Status.DRAFTED if action.send_as_draft else Status.QUEUED
    with transaction.atomic():
        messages = Message.objects.bulk_create(
            [
                Message(
                    campaign_id=action.campaign_id,
                    action=action,
                    person=person,
                    channel=action.channel,
                    address=address_for(action=action, person=person),
                    subject=action.subject,
                    body=action.body,
                    status=initial,
                )
                for person in people
            ],
            batch_size=1000,
        )
        apply_events(
            [
                Event(
                    type=initial,
                    occurred_at=now,
                    idempotency_key=f"{initial}:0",
                    source=Source.PIPELINE,
                    message_id=message.id,
                )
                for message in messages
            ]
        )
    return messages


def message_record(
    *,
    message_id: int,
    event_type: str,
    occurred_at: datetime,
    key: str,
    reason: str = "",
    source: str = Source.PIPELINE,
) -> IngestResult:
    return apply_events(
        [
            Event(
                type=event_type,
                occurred_at=occurred_at,
                idempotency_key=key,
                source=source,
                message_id=message_id,
                reason=reason,
            )
        ]
    )
