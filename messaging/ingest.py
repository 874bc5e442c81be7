"""The ingestion core: applies a batch of normalised events to the database.

The only writer of message statuses, milestones and metric counters. One
transaction per batch, a handful of queries whatever its size:

1. resolve message ids (ours, else the provider's message id),
2. lock the affected messages in id order (so concurrent batches cannot
   deadlock), load their stored events,
3. drop duplicates; give each event its attempt and bound its clock; refuse
   (store as history) what its message cannot have: a type its channel or
   action does not track, another provider's event, engagement with a
   message that was never sent,
4. insert the new events in bulk,
5. recompute each touched message with the status engine, update the
   changed ones in bulk,
6. move the counters by exactly the difference of each message's metric
   contribution before and after,
7. side effects (messaging.audience.effects): suppression entries (hard
   bounce, spam complaint, a provider's suppression verdict, the soft-bounce
   policy), unsubscribes and resubscribes, each with its audit row;
8. the reporting webhooks' outbox rows (messaging.reporting.outbox): the
   batch's human status events and the milestones it implies (click implies
   open, engagement implies delivery; found from each message's states
   before and after, step 5, so they follow the states), in one statement,
   before the counters (whose locks should be the last).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns import channels
from campaigns.metrics import contribution_delta
from campaigns.models import Link
from campaigns.vocabulary import Channel, EventType, Source
from messaging import counters, history
from messaging.audience.effects import apply_ingest_effects
from messaging.events import Event
from messaging.message_states import (
    LockedMessage,
    contribution_of,
    lock_batch,
    lock_options,
    save_message_states,
    state_of_message,
    state_values,
    stored_facts,
)
from messaging.models import Message, MessageEvent
from messaging.reporting import outbox
from messaging.status import AFTER_SEND_TYPES, HANDED_OVER, EventFact, Implied, newly_implied

# Clocks are bounded (DESIGN.md): no stored timestamp lies outside
# [message created, received + CLOCK_SKEW].
CLOCK_SKEW = timedelta(minutes=5)

# The channel each provider's webhook speaks for.
PROVIDER_CHANNELS = {
    "sendgrid": Channel.EMAIL,
    "mailgun": Channel.EMAIL,
    "postmark": Channel.EMAIL,
    "ses": Channel.EMAIL,
    "twilio": Channel.SMS,
}
# Backends that stand in for every provider of their channel.
ANY_PROVIDER = frozenset({"", "capture"})


class EventRefused(ValueError):
    """An event its message's channel does not track (API callers answer 4xx)."""

    def __init__(self, event: Event, channel: str, why: str = ""):
        self.event = event
        self.channel = channel
        super().__init__(why or f"A {channel} message does not track '{event.type}' events.")


@dataclass
class IngestResult:
    stored: int = 0  # new event rows
    duplicates: int = 0
    refused: int = 0
    pruned: int = 0  # for messages whose history was pruned: dropped
    unmatched: list[Event] = field(default_factory=list)


_INSERT_FIELDS = (
    "message",
    "type",
    "occurred_at",
    "received_at",
    "source",
    "idempotency_key",
    "machine",
    "link",
    "bounce_type",
    "reason",
    "provider",
    "detail",
    "attempt",
    "message_created_at",  # the partition key (messaging.history)
)


def apply_events(events: Sequence[Event], *, strict: bool = False) -> IngestResult:
    """Apply a batch (any mix of messages). With ``strict`` an untracked event
    raises EventRefused and nothing is stored; otherwise it is stored as
    history of type "refused" and the rest of the batch applies."""
    result = IngestResult()
    if not events:
        return result
    events = _resolve_message_ids(events, result)
    if not events:
        return result
    now = timezone.now()
    # Inside a caller's transaction no savepoint is needed (two round trips
    # saved per batch), except where a refusal is an expected outcome that
    # the caller may catch and carry on from.
    with transaction.atomic(savepoint=strict):
        ids = sorted({event.message_id for event in events})
        # Plain rows of just what ingest needs: no model instances, and none
        # of the derived columns (the state before is computed from events).
        messages = {}
        closed = set()
        for *row, retained_from in lock_batch(ids):
            message = LockedMessage._make(row)
            if history.closed(message.created_at, retained_from):
                closed.add(message.id)
            else:
                messages[message.id] = message
        matched = []
        for event in events:
            if event.message_id in messages:
                matched.append(event)
            elif event.message_id in closed:
                # Its history was pruned (messaging.history): its status can
                # no longer be recomputed from its log, so it takes no more.
                result.pruned += 1
            else:
                result.unmatched.append(event)
        if not matched:
            return result

        stored: dict[int, list[EventFact]] = defaultdict(list)
        seen: set[tuple[int, str]] = set()
        created = (message.created_at for message in messages.values())
        for message_id, fact in stored_facts(messages.keys(), created=created):
            stored[message_id].append(fact)
            seen.add((message_id, fact.key))

        links = _links_by_url(messages.values(), matched)
        # Messages a provider has (or had): engagement with them is possible.
        # Sent in some attempt, or attempted: handed to the provider's call,
        # whose answer may come after the provider's own report (or never:
        # the worker died, or our side timed out, "outcome unknown"). Read
        # from the set of events, not the current status, so the verdict
        # does not depend on whether our failure or the report came first.
        handed_over = {
            message_id
            for message_id, facts in stored.items()
            if any(fact.type in HANDED_OVER for fact in facts)
        }
        handed_over.update(event.message_id for event in matched if event.type in HANDED_OVER)
        new_rows: list[tuple] = []
        new_by_message: dict[int, list[Event]] = defaultdict(list)
        for event in matched:
            message = messages[event.message_id]
            if (event.message_id, event.idempotency_key) in seen:
                result.duplicates += 1
                continue
            seen.add((event.message_id, event.idempotency_key))
            event = _admit(
                event, message, links, strict=strict, now=now, sent=message.id in handed_over
            )
            if event.type == EventType.REFUSED:
                result.refused += 1
            new_rows.append(_row(event, now, message.created_at))
            new_by_message[event.message_id].append(event)

        if not new_rows:
            return result
        counters.bulk_insert(MessageEvent, new_rows, _INSERT_FIELDS)
        result.stored = len(new_rows)

        # Milestones the batch implies (messaging.status.newly_implied), kept
        # only for the outbox and only where a webhook subscribes to them.
        implied: dict[int, list[Implied]] = {}
        changes = []
        delta: Counter = Counter()
        for message_id, new_events in new_by_message.items():
            message = messages[message_id]
            before_facts = stored[message_id]
            after_facts = before_facts + [_fact(event) for event in new_events]
            before = state_of_message(message, before_facts)
            after = state_of_message(message, after_facts)
            if after == before:
                continue  # history only: nothing derived moves
            appeared = newly_implied(before, after, new_events)
            if appeared:
                # Subscribed types are cached; a batch that implies a
                # milestone holds an engagement event, which asks anyway.
                wanted = outbox.subscribed_types()
                appeared = [item for item in appeared if item.type in wanted]
                if appeared:
                    implied[message_id] = appeared
            delta.update(
                contribution_delta(
                    contribution_of(message, before),
                    contribution_of(message, after),
                )
            )
            if after is not None:
                changes.append(
                    SimpleNamespace(
                        pk=message_id, id=message_id, **state_values(after, message.status)
                    )
                )
        save_message_states(changes, now)
        # The outbox of the reporting webhooks, in this transaction: a
        # rolled-back batch notifies nothing, a committed one loses nothing.
        outbox.notifications_write(_notified(new_by_message, implied))
        campaign_of_action = {m.action_id: m.campaign_id for m in messages.values()}
        # Late events re-attribute the goal events they can affect (a late
        # delivery, an asynchronous bounce): messaging.conversions.
        from messaging import conversions  # it builds on this module

        reattributed = conversions.after_ingest(messages, stored, new_by_message)
        delta.update(reattributed.delta)
        campaign_of_action.update(reattributed.campaign_of_action)
        counters.apply_delta(delta, campaign_of_action)
        _side_effects(messages, new_by_message)
    return result


def _notified(
    new_by_message: dict[int, list[Event]], implied: dict[int, list[Implied]]
) -> Iterator[Event]:
    """The batch's events in the order applied, each implied milestone (source
    "implied", at the milestone's time, in its implying event's attempt) just
    before the first event of the batch that implies it, delivered before
    opened: implied delivered, implied opened, clicked — the journey's order,
    and the order the message's timeline shows them in (messaging.api)."""
    for message_id, events in new_by_message.items():
        before = defaultdict(list)
        for item in implied.get(message_id, ()):
            before[item.position].append(item)
        for position, event in enumerate(events):
            for item in before.get(position, ()):
                yield Event(
                    type=item.type,
                    occurred_at=item.occurred_at,
                    idempotency_key="",
                    source=Source.IMPLIED,
                    message_id=message_id,
                    attempt=item.attempt,
                )
            yield event


def _resolve_message_ids(events: Sequence[Event], result: IngestResult) -> list[Event]:
    missing = {
        e.provider_message_id for e in events if e.message_id is None and e.provider_message_id
    }
    by_provider_id: dict[str, int] = {}
    if missing:
        by_provider_id = dict(
            Message.objects.filter(provider_message_id__in=missing).values_list(
                "provider_message_id", "id"
            )
        )
    resolved = []
    for event in events:
        if event.message_id is None:
            message_id = by_provider_id.get(event.provider_message_id)
            if message_id is None:
                result.unmatched.append(event)
                continue
            event = replace(event, message_id=message_id)
        resolved.append(event)
    return resolved


def _links_by_url(
    messages: Iterable[LockedMessage], events: list[Event]
) -> dict[tuple[int, str], int]:
    if not any(event.link_url and event.link_id is None for event in events):
        return {}
    action_ids = {message.action_id for message in messages}
    return {
        (action_id, url): link_id
        for link_id, action_id, url in Link.objects.filter(action_id__in=action_ids).values_list(
            "id", "action_id", "url"
        )
    }


def _refuse(event: Event, reason: str) -> Event:
    detail = {**event.detail, "refused_type": event.type, "refused_reason": reason}
    return replace(event, type=EventType.REFUSED, bounce_type="", suppression="", detail=detail)


def _bounded(event: Event, message: LockedMessage, now: datetime) -> Event:
    """The event in its attempt (named, else the current one) and inside
    [message created, received + 5 min], the original time kept in the
    detail when it had to move."""
    current = message.attempt
    attempt = event.attempt if event.attempt and 0 < event.attempt <= current else current
    earliest, latest = message.created_at, now + CLOCK_SKEW
    occurred_at = event.occurred_at
    if earliest <= occurred_at <= latest:
        if attempt == event.attempt:
            return event
        return event.in_attempt(attempt)
    clamped = earliest if occurred_at < earliest else latest
    detail = {**event.detail, "clock_adjusted": occurred_at.isoformat()}
    return replace(event, attempt=attempt, occurred_at=clamped, detail=detail)


def foreign_provider(event: Event, message: LockedMessage) -> str:
    """Why a provider's event cannot speak for this message ("" when it can):
    a provider speaks only for the channel it serves and, where the message
    went through a named provider, only for that provider's messages."""
    if event.source != Source.PROVIDER or not event.provider:
        return ""
    served = PROVIDER_CHANNELS.get(event.provider)
    if served is not None and served != message.channel:
        return f"{event.provider} does not send {message.channel} messages"
    if message.provider in ANY_PROVIDER:
        return ""
    named = message.provider.removeprefix("simulated-")
    if named != event.provider:
        return f"sent through {named}"
    return ""


def _admit(
    event: Event,
    message: LockedMessage,
    links: dict,
    *,
    strict: bool,
    now: datetime,
    sent: bool = True,
) -> Event:
    channel = message.channel
    event = _bounded(event, message, now)
    if not channels.accepts_event(channel, event.type):
        if strict:
            raise EventRefused(event, channel)
        return _refuse(event, f"{channel} does not track {event.type}")
    if event.type == EventType.OPENED and not channels.opens_tracked(channel, message.track_opens):
        why = "open tracking is off for this action"
        if strict:
            raise EventRefused(event, channel, f"Not recorded: {why}.")
        return _refuse(event, why)
    foreign = foreign_provider(event, message)
    if foreign:
        return _refuse(event, foreign)
    if event.type in AFTER_SEND_TYPES and not sent:
        # Only a sent message can be engaged with (a draft's tracking URLs
        # are visible): kept as history, moves nothing.
        return _refuse(event, "not sent")
    if event.type == EventType.CLICKED and event.link_id is None and event.link_url:
        # A provider-reported click counts for the action's link with that
        # exact URL; otherwise for the message only.
        link_id = links.get((message.action_id, event.link_url))
        if link_id is not None:
            return replace(event, link_id=link_id)
    return event


def _row(event: Event, now: datetime, message_created_at: datetime) -> tuple:
    """The event as a MessageEvent row, in _INSERT_FIELDS order."""
    return (
        event.message_id,
        event.type,
        event.occurred_at,
        now,
        event.source,
        event.idempotency_key[:255],
        event.machine,
        event.link_id if event.type in (EventType.CLICKED, EventType.REFUSED) else None,
        event.bounce_type if event.type == EventType.BOUNCED else "",
        event.reason[:500],
        event.provider,
        event.detail,
        event.attempt,
        message_created_at,
    )


def _fact(event: Event) -> EventFact:
    return EventFact(
        type=event.type,
        occurred_at=event.occurred_at,
        key=event.idempotency_key[:255],
        machine=event.machine,
        bounce_type=event.bounce_type if event.type == EventType.BOUNCED else "",
        reason=event.reason[:500],
        link_id=event.link_id if event.type in (EventType.CLICKED, EventType.REFUSED) else None,
        attempt=event.attempt,
    )


def _side_effects(
    messages: dict[int, LockedMessage], new_by_message: dict[int, list[Event]]
) -> None:
    # Suppression entries, unsubscribes and resubscribes, the soft-bounce
    # policy, each with its audit row: the audience services own them.
    apply_ingest_effects(messages, new_by_message)


def messages_discard(
    message_ids: Sequence[int], *, now: datetime, status: str = EventType.DRAFTED
) -> list[int]:
    """Takes messages out of the log and the metrics (a discarded draft): sets
    discarded_at and moves the counters by minus each message's contribution.
    Only messages currently in ``status`` are discarded; returns their ids.
    Their events stay, so reconcile (which skips discarded messages) agrees."""
    with transaction.atomic():
        messages = list(
            Message.objects.select_for_update(**lock_options())
            .filter(id__in=list(message_ids), discarded_at__isnull=True, status=status)
            .annotate(track_opens=F("action__track_opens"))
            .order_by("id")
        )
        if not messages:
            return []
        facts: dict[int, list[EventFact]] = defaultdict(list)
        for message_id, fact in stored_facts(message.id for message in messages):
            facts[message_id].append(fact)
        delta: Counter = Counter()
        for message in messages:
            before = contribution_of(message, state_of_message(message, facts[message.id]))
            delta.update(contribution_delta(before, Counter()))
            message.discarded_at = now
            message.updated_at = now
        counters.bulk_update_rows(Message, messages, ["discarded_at", "updated_at"])
        counters.apply_delta(delta, {m.action_id: m.campaign_id for m in messages})
    return [message.id for message in messages]
