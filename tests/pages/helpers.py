"""Data for page tests, built through the real services: messages through
messaging.sending.messages_create and every status change through
messaging.ingest.apply_events."""

from __future__ import annotations

import itertools

from campaigns.models import Action
from messaging.ingest import apply_events
from messaging.models import Message, Person
from messaging.sending import messages_create
from tests.factories import T0, event

_seq = itertools.count(1)


def journey_events(message: Message | int, steps) -> list:
    """A send, then each step one minute apart; a step is an event type or
    (type, extra Event fields)."""
    events = [event(message, "sent", 1, source="pipeline")]
    for minute, step in enumerate(steps, start=2):
        step, fields = step if isinstance(step, tuple) else (step, {})
        events.append(event(message, step, minute, **fields))
    return events


def journey(message: Message, *steps) -> None:
    apply_events(journey_events(message, steps))


def bulk_messages(action: Action, count: int, *steps, **person_fields) -> list[Message]:
    """``count`` new people and one message each, all taken through the same
    journey in one ingest batch."""
    people = Person.objects.bulk_create(
        [
            Person(
                external_id=f"bulk-{n}",
                email=f"bulk{n}@example.com",
                phone=f"+1444{n:07d}",
                push_token=f"bulk-token-{n}",
                **person_fields,
            )
            for n in (next(_seq) for _ in range(count))
        ]
    )
    messages = messages_create(action=action, people=people, now=T0, backdate=True)
    if steps:
        apply_events([e for m in messages for e in journey_events(m.id, steps)])
    return messages
