"""Creating and changing messages before a worker sends them
(DESIGN.md "The send pipeline", step 1): the pre-send checks, ``action_send``
(one message per person, queued or drafted, rendered, in bulk), enqueueing in
tasks of ``TIDINGS_SEND_CHUNK_SIZE`` after commit, and a person's send of a
draft, retry of a failure and discard of a draft.

What a worker does with the queued messages is ``messaging.sending.pipeline``.
Every status change goes through messaging.ingest.apply_events.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import channels
from campaigns.models import Action
from campaigns.vocabulary import Channel, EventType, Source, Status
from messaging import counters, ingest
from messaging.audience.suppression import (
    normalise_address,
    presend_state,
    suppressed_addresses,
)
from messaging.events import Event
from messaging.history import closed, retained_from
from messaging.ingest import apply_events
from messaging.message_states import lock_options
from messaging.models import Message, Person
from messaging.sending.rendering import render, template_for

logger = logging.getLogger(__name__)

# Reasons kept on undeliverable and suppressed messages.
REASON_DELETED = "person deleted"
REASON_UNSUBSCRIBED = "person unsubscribed"
REASON_SUPPRESSED = "address on the suppression list"
# A failure reason starting with this means "we do not know whether the
# provider holds the message" (DESIGN.md "The send pipeline" 6): a person's
# retry reuses the attempt's idempotency key.
OUTCOME_UNKNOWN = "outcome unknown"
REASON_OUTCOME_UNKNOWN = f"{OUTCOME_UNKNOWN}: no answer from the provider before the worker stopped"
NO_ADDRESS = {
    Channel.EMAIL: "no email address",
    Channel.SMS: "no phone number",
    Channel.PUSH: "no push token",
    Channel.AIRSHIP: "no push token",
    Channel.SLACK: "no Slack channel",
    Channel.WEBHOOK: "no webhook URL",
}


class NotAllowed(ValueError):
    """The message is not in a state that allows this (API callers answer 409)."""


def _attempt_time(message: Message, now: datetime) -> datetime:
    # Never before the attempt's own queued event (see _new_attempt).
    if message.queued_at is not None and message.queued_at > now:
        return message.queued_at
    return now


# --- Pre-send checks -----------------------------------------------------------


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
    if person.unsubscribed_at is not None and message.channel in channels.ADDRESSED_TO_PERSON:
        # Slack and webhook actions go to their action's target, not to the
        # person: an unsubscribe does not stop them.
        return EventType.UNDELIVERABLE, REASON_UNSUBSCRIBED
    if not message.address:
        return EventType.UNDELIVERABLE, NO_ADDRESS[message.channel]
    if message.channel == Channel.EMAIL and normalise_address(message.address) in suppressed:
        return EventType.SUPPRESSED, REASON_SUPPRESSED
    return None


def presend_reads(messages: Sequence[Message], now: datetime) -> tuple[dict, set[str]]:
    """The people's state and the suppressed addresses, in one round trip."""
    return presend_state(
        {m.person_id for m in messages},
        {m.address for m in messages if m.channel == Channel.EMAIL},
        now=now,
    )


def _presend_events(
    messages: Sequence[Message],
    people: dict[int, Person],
    now: datetime,
    suppressed: set[str] | None = None,
) -> list[Event]:
    if suppressed is None:
        suppressed = suppressed_addresses(
            {m.address for m in messages if m.channel == Channel.EMAIL}, now=now
        )
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
                occurred_at=_attempt_time(message, now),
                idempotency_key=f"presend:{message.send_attempts}:{event_type}",
                source=Source.PIPELINE,
                message_id=message.id,
                attempt=message.send_attempts + 1,
                reason=reason,
            )
        )
    return events


def messages_presend_check(messages: Sequence[Message], *, now: datetime | None = None) -> set[int]:
    """Applies the pre-send verdicts in one batch; returns the ids that were
    stopped (suppressed or undeliverable) and must not be sent."""
    now = now or timezone.now()
    people, suppressed = presend_reads(messages, now)
    events = _presend_events(messages, people, now, suppressed)
    apply_events(events)
    return {event.message_id for event in events}


# --- Creating and enqueueing ---------------------------------------------------


def messages_create(
    *,
    action: Action,
    people: Sequence[Person],
    now: datetime | None = None,
    backdate: bool = False,
) -> list[Message]:
    """One new message per person, queued (or drafted), with its rendered
    content, in one batch. ``backdate`` also dates the rows' created_at at
    ``now`` (the demo's virtual history)."""
    now = now or timezone.now()
    initial = Status.DRAFTED if action.send_as_draft else Status.QUEUED
    template = template_for(action)
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
        # Tracked URLs and the open pixel name the message, so the content is
        # rendered once the ids exist, in the same transaction.
        fields = ["subject", "body"]
        if backdate:
            fields.append("created_at")
        for message, person in zip(messages, people, strict=True):
            message.subject, message.body = render(template, person=person, message_id=message.id)
            message.created_at = now if backdate else message.created_at
        counters.bulk_update_rows(Message, messages, fields)
        apply_events(
            [
                Event(
                    type=initial,
                    occurred_at=now,
                    idempotency_key=f"{initial}:0",
                    source=Source.PIPELINE,
                    message_id=message.id,
                    attempt=1,
                )
                for message in messages
            ]
        )
    return messages


def messages_enqueue(
    message_ids: Sequence[int], *, tries: int = 0, countdown: float | None = None
) -> None:
    """Sending tasks for these messages, in chunks, once the current
    transaction commits (a worker must find the rows)."""
    ids = list(message_ids)
    if not ids:
        return
    size = settings.TIDINGS_SEND_CHUNK_SIZE
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]

    def dispatch() -> None:
        from kombu.exceptions import OperationalError

        from messaging.sending.tasks import send_messages

        for chunk in chunks:
            try:
                send_messages.apply_async(args=[chunk, tries], countdown=countdown)
            except OperationalError:
                # The broker is down: the messages stay queued and the sweeper
                # enqueues them again once it is back.
                logger.exception("Could not enqueue %d messages; the sweeper will", len(chunk))

    transaction.on_commit(dispatch)


def _reread(messages: Sequence[Message]) -> list[Message]:
    fresh = Message.objects.in_bulk([message.id for message in messages])
    return [fresh[message.id] for message in messages]


def action_send(*, action: Action, people: Sequence[Person]) -> list[Message]:
    """One new message per person (queued, or drafted when the action sends
    drafts), sent after commit; the messages as they stand when this returns
    (already sent when tasks run eagerly)."""
    with transaction.atomic():
        messages = messages_create(action=action, people=people)
        messages_enqueue([m.id for m in messages if m.status == Status.QUEUED])
    return _reread(messages)


def _new_attempt(message: Message, *, expected: str) -> Message:
    now = timezone.now()
    with transaction.atomic():
        locked = (
            Message.objects.select_for_update(**lock_options())
            .filter(pk=message.pk, discarded_at__isnull=True)
            .first()
        )
        if locked is None or locked.status != expected:
            current = "discarded" if locked is None else locked.status
            raise NotAllowed(f"Message {message.pk} is {current}, not {expected}.")
        pruned_before = retained_from()
        if closed(locked.created_at, pruned_before):
            # Its events would be dropped (messaging.history): closed.
            raise NotAllowed(
                f"Message {message.pk}'s history was pruned (it was created before "
                f"{pruned_before:%Y-%m}): it cannot be sent again."
            )
        # The new attempt is counted, not inferred from clocks: its events
        # name it, so a failure of the last one dated ahead of our clock
        # cannot hold it back (DESIGN.md "Attempts are counted").
        if locked.status == Status.FAILED and locked.failure_reason.startswith(OUTCOME_UNKNOWN):
            # The provider may hold the last attempt: call it again under
            # that attempt's key, so this retry can never make a second message.
            if locked.key_attempt is None:
                locked.key_attempt = locked.send_attempts
        else:
            locked.key_attempt = None
        locked.send_attempts += 1
        locked.save(update_fields=["send_attempts", "key_attempt", "updated_at"])
        apply_events(
            [
                Event(
                    type=EventType.QUEUED,
                    occurred_at=now,
                    idempotency_key=f"queued:{locked.send_attempts}",
                    source=Source.PIPELINE,
                    message_id=locked.pk,
                    attempt=locked.attempt,
                )
            ]
        )
        messages_enqueue([locked.pk])
    return Message.objects.get(pk=locked.pk)


def message_send_draft(*, message: Message) -> Message:
    """drafted → queued → the normal path."""
    return _new_attempt(message, expected=Status.DRAFTED)


def message_retry(*, message: Message) -> Message:
    """failed → queued → the normal path (a new attempt, new idempotency key)."""
    return _new_attempt(message, expected=Status.FAILED)


def message_discard(*, message: Message) -> None:
    """A draft leaves the delivery log and the metrics (its events stay)."""
    if not ingest.messages_discard([message.pk], now=timezone.now(), status=Status.DRAFTED):
        current = Message.objects.filter(pk=message.pk).values_list("status", flat=True).first()
        raise NotAllowed(f"Message {message.pk} is {current}, not drafted.")
