"""Stored conversions, kept equal to messaging.attribution's rule.

A conversion is a ``converted`` event in the credited message's log, keyed
``goal:<person id>:<event id>``. ``rewrite`` attributes a set of people's goal
events again (for a set of campaigns) and moves the log, the messages'
derived state and the counters by exactly the difference, inside the
caller's transaction. Its callers: a goal event arriving
(``person_event_record``), ingest when a late event changes a message's
moments (``after_ingest``), and the re-attribution of a campaign after an
edit (messaging.reattribution).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.metrics import contribution_delta
from campaigns.models import Campaign
from campaigns.vocabulary import EventType, Source
from messaging import counters, history
from messaging.attribution import (
    CONVERTING_CHANNELS,
    GOAL_KEY_PREFIX,
    Candidate,
    Goal,
    attribute,
    campaign_goal,
    goal_event_id,
    goal_key,
    is_attributed,
    moments_of,
)
from messaging.events import Event
from messaging.ingest import _INSERT_FIELDS, CLOCK_SKEW, _fact, _row
from messaging.message_states import (
    LOCKED_COLUMNS,
    LOCKED_FROM,
    LOCKED_SELECT,
    LockedMessage,
    contribution_of,
    lock_options,
    save_message_states,
    state_of_message,
    state_values,
    stored_facts,
)
from messaging.models import Message, MessageEvent, Person, PersonEvent
from messaging.reporting import outbox
from messaging.status import EventFact


@dataclass
class Rewrite:
    """What a rewrite did; ``delta`` and ``campaign_of_action`` are for
    counters.apply_delta (the caller moves counters last in its transaction)."""

    delta: Counter = field(default_factory=Counter)
    campaign_of_action: dict[int, int] = field(default_factory=dict)
    credited: dict[tuple[int, int], int] = field(default_factory=dict)  # (goal, campaign)
    goals: int = 0  # goal events attributed
    added: int = 0
    removed: int = 0

    def merge(self, other: Rewrite) -> None:
        self.delta.update(other.delta)
        self.campaign_of_action.update(other.campaign_of_action)
        self.credited.update(other.credited)
        self.goals += other.goals
        self.added += other.added
        self.removed += other.removed


def rewrite(
    person_ids: Collection[int],
    campaign_ids: Collection[int],
    *,
    locked: Mapping[int, LockedMessage] | None = None,
    known_facts: Mapping[int, list[EventFact]] | None = None,
    now: datetime | None = None,
) -> Rewrite:
    """Attributes these people's goal events again for these campaigns and
    stores the difference. Messages in ``locked`` are already locked by the
    caller (with ``known_facts`` their complete facts); the others are
    locked here, in id order, before anything is read."""
    result = Rewrite()
    if not person_ids or not campaign_ids:
        return result
    locked = locked or {}
    known_facts = known_facts or {}
    now = now or timezone.now()
    campaigns = {c.id: campaign_goal(c) for c in Campaign.objects.filter(id__in=campaign_ids)}
    if not campaigns:
        return result

    people = set(person_ids)
    messages: dict[int, LockedMessage] = {
        m.id: m
        for m in locked.values()
        if m.person_id in people
        and m.campaign_id in campaigns
        and m.channel in CONVERTING_CHANNELS
        and m.discarded_at is None
    }
    for message in _lock_messages(people, campaigns.keys(), exclude=locked.keys()):
        messages[message.id] = message
    if not messages:
        return result

    facts: dict[int, list[EventFact]] = defaultdict(list)
    missing = []
    for message_id in messages:
        if message_id in known_facts:
            facts[message_id] = list(known_facts[message_id])
        else:
            missing.append(message_id)
    created = [messages[message_id].created_at for message_id in missing]
    for message_id, fact in stored_facts(missing, created=created):
        facts[message_id].append(fact)

    names = {c.event for c in campaigns.values() if c.event}
    goals: dict[int, list[Goal]] = defaultdict(list)
    if names:
        for goal in _goals({m.person_id for m in messages.values()}, names):
            goals[goal[0]].append(goal[1])

    by_person: dict[int, list[LockedMessage]] = defaultdict(list)
    for message in messages.values():
        by_person[message.person_id].append(message)

    desired: dict[tuple[int, str], Goal] = {}
    for person_id, own in by_person.items():
        person_goals = goals.get(person_id, [])
        result.goals += len(person_goals)
        if not person_goals:
            continue
        candidates = [
            Candidate(m.id, m.campaign_id, moments_of(m.channel, facts[m.id], opens=m.track_opens))
            for m in own
        ]
        credited = attribute(person_goals, campaigns, candidates)
        result.credited.update(credited)
        goal_by_id = {goal.id: goal for goal in person_goals}
        for (goal_id, _), message_id in credited.items():
            goal = goal_by_id[goal_id]
            desired[(message_id, goal.key)] = goal

    current = {
        (message_id, fact.key)
        for message_id in messages
        for fact in facts[message_id]
        if is_attributed(fact)
    }
    removes = current - desired.keys()
    adds = [(pair, goal) for pair, goal in desired.items() if pair not in current]
    if not removes and not adds:
        return result
    result.removed, result.added = len(removes), len(adds)

    new_events = [
        Event(
            type=EventType.CONVERTED,
            occurred_at=goal.occurred_at,
            idempotency_key=key,
            source=Source.API,
            message_id=message_id,
            # A conversion names no attempt: it belongs to the current one.
            attempt=messages[message_id].attempt,
            detail={"event": goal.name, "goal_event": goal.id, "event_id": key.split(":", 2)[2]},
        )
        for (message_id, key), goal in adds
    ]
    added_by_message: dict[int, list[EventFact]] = defaultdict(list)
    for event in new_events:
        added_by_message[event.message_id].append(_fact(event))
    removed_by_message: dict[int, set[str]] = defaultdict(set)
    for message_id, key in removes:
        removed_by_message[message_id].add(key)

    changes = []
    for message_id in added_by_message.keys() | removed_by_message.keys():
        message = messages[message_id]
        before_facts = facts[message_id]
        gone = removed_by_message.get(message_id, ())
        after_facts = [f for f in before_facts if f.key not in gone]
        after_facts += added_by_message.get(message_id, [])
        before = state_of_message(message, before_facts)
        after = state_of_message(message, after_facts)
        result.campaign_of_action[message.action_id] = message.campaign_id
        if after == before:
            continue
        result.delta.update(
            contribution_delta(contribution_of(message, before), contribution_of(message, after))
        )
        if after is not None:
            changes.append(
                SimpleNamespace(pk=message_id, id=message_id, **state_values(after, message.status))
            )

    _delete_events(removes)
    counters.bulk_insert(
        MessageEvent,
        [_row(event, now, messages[event.message_id].created_at) for event in new_events],
        _INSERT_FIELDS,
    )
    outbox.notifications_write(new_events)
    save_message_states(changes, now)
    return result


# --- Reads: on PostgreSQL as plain SQL with array parameters, fetched in
# binary (counters.select_bound): a batch names thousands of ids, and
# Django's IN lookups and its timestamp loader cost more than the queries.


def _lock_messages(
    people: Collection[int], campaign_ids: Collection[int], *, exclude: Collection[int]
) -> list[LockedMessage]:
    """Locks (in id order) and reads these people's converting messages of
    these campaigns, except those the caller holds already."""
    if connection.vendor != "postgresql":
        rows = (
            Message.objects.select_for_update(**lock_options())
            .filter(
                person_id__in=people,
                campaign_id__in=campaign_ids,
                channel__in=CONVERTING_CHANNELS,
                discarded_at__isnull=True,
            )
            .exclude(id__in=list(exclude))
            .order_by("id")
            .values_list(*LOCKED_COLUMNS)
        )
        return [LockedMessage._make(row) for row in history.retained(rows)]
    rows = counters.select_bound(
        f"SELECT {LOCKED_SELECT} FROM {LOCKED_FROM} "
        "WHERE m.person_id = ANY(%b::bigint[]) "
        "AND m.campaign_id = ANY(%b::bigint[]) AND m.channel = ANY(%s) AND m.discarded_at IS NULL "
        "AND NOT (m.id = ANY(%b::bigint[])) "
        # Messages whose history was pruned are closed (messaging.history).
        f"AND m.created_at >= coalesce({history.RETAINED_FROM_SQL}, '-infinity') "
        "ORDER BY m.id FOR UPDATE OF m",
        [sorted(people), sorted(campaign_ids), sorted(CONVERTING_CHANNELS), sorted(exclude)],
    )
    return [LockedMessage._make(row) for row in rows]


def _people_with_goals(people: Collection[int], names: Collection[str]) -> set[tuple[int, str]]:
    """(person id, name) of these people's goal events of these names."""
    if connection.vendor != "postgresql":
        rows = (
            PersonEvent.objects.filter(person_id__in=people, name__in=names)
            .values_list("person_id", "name")
            .distinct()
        )
    else:
        rows = counters.select_bound(
            f"SELECT DISTINCT person_id, name FROM {PersonEvent._meta.db_table} "
            "WHERE person_id = ANY(%b::bigint[]) AND name = ANY(%s)",
            [sorted(people), sorted(names)],
        )
    return set(rows)


def _goals(people: Collection[int], names: Collection[str]) -> Iterable[tuple[int, Goal]]:
    """(person id, goal) for these people's events of these names."""
    if connection.vendor != "postgresql":
        rows = PersonEvent.objects.filter(person_id__in=people, name__in=names).values_list(
            "id", "person_id", "name", "event_id", "occurred_at"
        )
    else:
        rows = counters.select_bound(
            f"SELECT id, person_id, name, event_id, occurred_at "
            f"FROM {PersonEvent._meta.db_table} WHERE person_id = ANY(%b::bigint[]) "
            "AND name = ANY(%s)",
            [sorted(people), sorted(names)],
        )
    for goal_id, person_id, name, event_id, occurred_at in rows:
        yield person_id, Goal(goal_id, name, occurred_at, goal_key(person_id, event_id))


def _delete_events(pairs: Iterable[tuple[int, str]]) -> None:
    pairs = sorted(pairs)
    if not pairs:
        return
    table = connection.ops.quote_name(MessageEvent._meta.db_table)
    if connection.vendor == "postgresql":
        counters.execute_bound(
            f"DELETE FROM {table} AS t USING unnest(%b::bigint[], %b::varchar[]) AS v (m, k) "
            "WHERE t.message_id = v.m AND t.idempotency_key = v.k",
            [[m for m, _ in pairs], [k for _, k in pairs]],
        )
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"DELETE FROM {table} WHERE message_id = %s AND idempotency_key = %s", pairs
        )


def apply(result: Rewrite) -> None:
    counters.apply_delta(result.delta, result.campaign_of_action)


# --- Callers --------------------------------------------------------------------


def person_event_record(
    *, person: Person, name: str, occurred_at: datetime, event_id: str | None = None
) -> tuple[PersonEvent, list[int]]:
    """Stores a person's event and attributes it; returns the event and the
    ids of the messages it converts (empty for a repeated event id). Its time
    is bounded like every stored time (DESIGN.md "Clocks are bounded"): at
    most CLOCK_SKEW past now (the API refuses more; the simulated recipients'
    virtual clock is clamped here), so the conversions it makes are too."""
    event_id = event_id or uuid.uuid4().hex
    occurred_at = min(occurred_at, timezone.now() + CLOCK_SKEW)
    with transaction.atomic():
        try:
            with transaction.atomic():
                person_event = PersonEvent.objects.create(
                    person=person, name=name, event_id=event_id, occurred_at=occurred_at
                )
        except IntegrityError:
            return PersonEvent.objects.get(person=person, event_id=event_id), []
        campaign_ids = list(
            Campaign.objects.filter(conversion_event=name)
            .filter(messages__person=person)
            .values_list("id", flat=True)
            .distinct()
        )
        result = rewrite([person.id], campaign_ids)
        apply(result)
    converted = sorted(
        message_id
        for (goal_id, _), message_id in result.credited.items()
        if goal_id == person_event.id
    )
    return person_event, converted


def after_ingest(
    messages: Mapping[int, LockedMessage],
    stored: Mapping[int, list[EventFact]],
    new_by_message: Mapping[int, list[Event]],
) -> Rewrite:
    """Late events re-attribute (called by ingest inside the batch's
    transaction, after the batch's messages are updated and before the
    counters move): for the messages whose reach, open or click moment or
    eligibility changed, the goal events they can affect — that person's,
    for campaigns whose goal they are — are attributed again."""
    # Which (person, campaign) pairs could move at all: a converting message
    # of a campaign with a goal, whose person has goal events of that name
    # (two small queries, before any status is computed).
    converting = [
        message_id
        for message_id in new_by_message
        if messages[message_id].channel in CONVERTING_CHANNELS
        and messages[message_id].discarded_at is None
    ]
    if not converting:
        return Rewrite()
    goals = dict(
        Campaign.objects.filter(id__in={messages[m].campaign_id for m in converting})
        .exclude(conversion_event="")
        .values_list("id", "conversion_event")
    )
    converting = [m for m in converting if messages[m].campaign_id in goals]
    if not converting:
        return Rewrite()
    with_goals = _people_with_goals(
        {messages[m].person_id for m in converting}, set(goals.values())
    )
    facts: dict[int, list[EventFact]] = {}
    pairs: set[tuple[int, int]] = set()
    for message_id in converting:
        message = messages[message_id]
        if (message.person_id, goals[message.campaign_id]) not in with_goals:
            continue
        before_facts = stored.get(message_id, [])
        facts[message_id] = before_facts + [_fact(e) for e in new_by_message[message_id]]
        opens = message.track_opens
        if moments_of(message.channel, before_facts, opens=opens) != moments_of(
            message.channel, facts[message_id], opens=opens
        ):
            pairs.add((message.person_id, message.campaign_id))
    if not pairs:
        return Rewrite()
    # Every locked message's complete facts, the batch's new events included.
    for message_id in messages:
        if message_id not in facts:
            facts[message_id] = list(stored.get(message_id, [])) + [
                _fact(e) for e in new_by_message.get(message_id, ())
            ]
    return rewrite(
        {person for person, _ in pairs},
        {campaign for _, campaign in pairs},
        locked=messages,
        known_facts=facts,
    )


def message_conversions(message: Message) -> list[dict]:
    """The goal events a message is credited with (its attributed
    conversions), oldest first."""
    return conversions_by_message([message.id]).get(message.id, [])


def conversions_by_message(message_ids: Collection[int]) -> dict[int, list[dict]]:
    """message_conversions for many messages at once: one read of their
    conversion events, and one of the goal events they name when any does (a
    message credited with none is absent)."""
    if not message_ids:
        return {}
    # (person id, goal event id) -> the messages credited with it; the goal
    # event is the person's own, named by the conversion's key (goal_key).
    if connection.vendor == "postgresql":
        # A reporting batch names hundreds of messages: one array parameter,
        # and each message's events probed in its own month's partition
        # (messaging.message_states.STORED_FACTS_SQL reads the same way; an
        # ANY over the event table probes every month's index per message).
        rows = counters.select_bound(
            f"SELECT m.id, m.person_id, e.idempotency_key FROM {Message._meta.db_table} m "
            f"CROSS JOIN LATERAL (SELECT idempotency_key FROM {MessageEvent._meta.db_table} "
            "WHERE message_id = m.id AND message_created_at = m.created_at "
            "AND type = %s AND idempotency_key LIKE %s OFFSET 0) AS e "
            "WHERE m.id = ANY(%b::bigint[])",
            [EventType.CONVERTED.value, f"{GOAL_KEY_PREFIX}%", sorted(message_ids)],
        )
    else:
        rows = MessageEvent.objects.filter(
            message_id__in=message_ids,
            type=EventType.CONVERTED,
            idempotency_key__startswith=GOAL_KEY_PREFIX,
        ).values_list("message_id", "message__person_id", "idempotency_key")
    credited: dict[tuple[int, str], list[int]] = defaultdict(list)
    for message_id, person_id, key in rows:
        event_id = goal_event_id(key)
        if event_id is not None and message_id not in credited[(person_id, event_id)]:
            credited[(person_id, event_id)].append(message_id)
    if not credited:
        return {}
    found: dict[int, list[dict]] = defaultdict(list)
    for pk, person_id, event_id, name, occurred_at in (
        PersonEvent.objects.filter(
            person_id__in={person_id for person_id, _ in credited},
            event_id__in={event_id for _, event_id in credited},
        )
        .order_by("occurred_at", "id")
        .values_list("id", "person_id", "event_id", "name", "occurred_at")
    ):
        for message_id in credited.get((person_id, event_id), ()):
            found[message_id].append(
                {"event": pk, "event_id": event_id, "name": name, "occurred_at": occurred_at}
            )
    return dict(found)
