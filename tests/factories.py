"""Small builders for test data (plain functions; nothing is mocked)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from campaigns.models import Action, Campaign, Link
from campaigns.vocabulary import Channel, Source
from messaging.events import Event
from messaging.models import Message, Person
from messaging.sending import messages_create

_seq = itertools.count(1)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def person(**fields) -> Person:
    n = next(_seq)
    defaults = {
        "external_id": f"person-{n}",
        "email": f"person{n}@example.com",
        "phone": f"+1555000{n:04d}",
        "push_token": f"token-{n}",
    }
    defaults.update(fields)
    return Person.objects.create(**defaults)


def campaign(**fields) -> Campaign:
    defaults = {"name": f"Campaign {next(_seq)}", "conversion_event": "purchase"}
    defaults.update(fields)
    return Campaign.objects.create(**defaults)


def action(
    channel: str = Channel.EMAIL,
    *,
    campaign_obj: Campaign | None = None,
    links: tuple[str, ...] = ("https://example.com/a", "https://example.com/b"),
    **fields,
) -> Action:
    defaults = {
        "campaign": campaign_obj or campaign(),
        "name": f"{channel} step",
        "channel": channel,
        "subject": "Hello",
        "body": "Hi there",
        "target": "#general"
        if channel == Channel.SLACK
        else ("https://hooks.example.com/x" if channel == Channel.WEBHOOK else ""),
    }
    defaults.update(fields)
    created = Action.objects.create(**defaults)
    for position, url in enumerate(links):
        Link.objects.create(action=created, url=url, position=position)
    return created


def message(
    channel: str = Channel.EMAIL,
    *,
    action_obj: Action | None = None,
    person_obj: Person | None = None,
    now: datetime = T0,
) -> Message:
    action_obj = action_obj or action(channel)
    # Created at `now`, like a message of that moment (its events are bounded
    # by its creation: DESIGN.md "Clocks are bounded").
    [created] = messages_create(
        action=action_obj, people=[person_obj or person()], now=now, backdate=True
    )
    return Message.objects.get(pk=created.pk)


def event(
    message_obj: Message | int,
    type: str,
    minutes: float = 0,
    *,
    key: str | None = None,
    source: str = Source.PROVIDER,
    **fields,
) -> Event:
    message_id = message_obj if isinstance(message_obj, int) else message_obj.id
    return Event(
        type=type,
        occurred_at=at(minutes),
        idempotency_key=key or f"{type}:{minutes}:{next(_seq)}",
        source=source,
        message_id=message_id,
        **fields,
    )
