"""Conversion attribution (DESIGN.md "Converted").

A person's goal event converts, for each campaign whose goal it is, the last
message of that campaign that reached the person before the event, within
the campaign's window, on a channel that tracks conversions. A repeated event
id converts nothing twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from campaigns import channels
from campaigns.models import Campaign
from campaigns.vocabulary import EventType, Source
from messaging.events import Event
from messaging.ingest import apply_events, fact_of
from messaging.models import Message, MessageEvent, Person, PersonEvent
from messaging.status import EventFact, compute_state

INELIGIBLE = ("failed", "bounced", "suppressed", "undeliverable")


@dataclass(frozen=True)
class Reach:
    message_id: int
    moment: datetime


def reach_before(
    channel: str, facts: list[EventFact], goal_at: datetime, *, opens: bool = True
) -> datetime | None:
    """When the message reached the person, judged with what had happened by
    ``goal_at``; None when it was not eligible then."""
    state = compute_state(
        channel, [fact for fact in facts if fact.occurred_at <= goal_at], opens=opens
    )
    if state.at("sent") is None or any(state.at(name) is not None for name in INELIGIBLE):
        return None
    return state.at("delivered") or state.at("sent")


def person_event_record(
    *, person: Person, name: str, occurred_at: datetime, event_id: str | None = None
) -> tuple[PersonEvent, list[int]]:
    """Stores the event and converts what it converts; returns the event and
    the ids of the converted messages (empty for a repeated event id)."""
    event_id = event_id or uuid.uuid4().hex
    with transaction.atomic():
        try:
            with transaction.atomic():
                person_event = PersonEvent.objects.create(
                    person=person, name=name, event_id=event_id, occurred_at=occurred_at
                )
        except IntegrityError:
            return PersonEvent.objects.get(person=person, event_id=event_id), []
        converted = _attribute(person, name, occurred_at, event_id)
        person_event.converted_messages.set(converted)
    return person_event, converted


def _attribute(person: Person, name: str, occurred_at: datetime, event_id: str) -> list[int]:
    campaigns = {
        campaign.id: campaign for campaign in Campaign.objects.filter(conversion_event=name)
    }
    if not campaigns:
        return []
    candidates = [
        message
        for message in Message.objects.filter(
            person=person,
            campaign_id__in=campaigns.keys(),
            discarded_at__isnull=True,
            sent_at__isnull=False,
        ).only("id", "campaign_id", "channel")
        if channels.tracks(message.channel, channels.CONVERTED)
    ]
    facts: dict[int, list[EventFact]] = defaultdict(list)
    for row in MessageEvent.objects.filter(message__in=candidates).values(
        "message_id",
        "type",
        "occurred_at",
        "idempotency_key",
        "machine",
        "bounce_type",
        "reason",
        "link_id",
        "attempt",
    ):
        facts[row["message_id"]].append(fact_of(row))

    best: dict[int, Reach] = {}
    for message in candidates:
        moment = reach_before(message.channel, facts[message.id], occurred_at)
        if moment is None:
            continue
        window = timedelta(hours=campaigns[message.campaign_id].conversion_window_hours)
        if occurred_at - moment > window:
            continue
        current = best.get(message.campaign_id)
        if current is None or (moment, message.id) > (current.moment, current.message_id):
            best[message.campaign_id] = Reach(message.id, moment)

    converted = [reach.message_id for reach in best.values()]
    apply_events(
        [
            Event(
                type=EventType.CONVERTED,
                occurred_at=occurred_at,
                idempotency_key=f"goal:{person.id}:{event_id}",
                source=Source.API,
                message_id=message_id,
                detail={"event": name, "event_id": event_id},
            )
            for message_id in converted
        ]
    )
    return converted
