"""The status engine: which status and milestones a set of events yields.

Pure functions, no database. The current status is a function of the *set*
of events (DESIGN.md "Status rules"): every status-bearing event gets the key
(class, verdict, occurred_at, rank, idempotency key) and the greatest key
wins, so arrival order and duplicates change nothing. Attempts are counted:
every event names its attempt, and pipeline and hand-over events (classes 0
and 1) of an earlier attempt no longer count. Within the current attempt a
failure or suppression verdict beats our own "sent" whatever the clocks say
(the verdict flag, 1 for them, 0 for everything else).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from campaigns import channels
from campaigns.vocabulary import JOURNEY, BounceType, EventType

# Class: the stage of the journey an event belongs to. A later stage wins over
# an earlier one whatever the clocks say.
STATUS_CLASS: dict[str, int] = {
    EventType.DRAFTED: 0,
    EventType.QUEUED: 0,
    EventType.ATTEMPTED: 0,
    EventType.SENT: 1,
    EventType.FAILED: 1,
    EventType.UNDELIVERABLE: 1,
    EventType.SUPPRESSED: 1,
    EventType.DELIVERED: 2,
    EventType.BOUNCED: 2,
    EventType.OPENED: 3,
    EventType.CLICKED: 3,
    EventType.CONVERTED: 3,
    EventType.UNSUBSCRIBED: 3,
    EventType.SPAMMED: 3,
}

# Rank: journey order, breaking ties at the same instant.
RANK: dict[str, int] = {status.value: position for position, status in enumerate(JOURNEY)}

STATUS_BEARING = frozenset(STATUS_CLASS)
# Our pipeline and the provider's hand-over (classes 0 and 1): a new attempt
# (a retry, a sent draft) starts these anew.
ATTEMPT_TYPES = frozenset(t for t, stage in STATUS_CLASS.items() if stage <= 1)
# Class 1 verdicts that say the message did not go out: they outrank our own
# "sent" of the same attempt whatever the two timestamps (sent only says we
# handed it over).
VERDICTS = frozenset({EventType.FAILED, EventType.UNDELIVERABLE, EventType.SUPPRESSED})
# Engagement and the provider's verdicts on delivery: only a message that was
# sent can have them (messaging.ingest refuses them otherwise).
AFTER_SEND_TYPES = frozenset(t for t, stage in STATUS_CLASS.items() if stage >= 2)
# After these (in some attempt) the message was handed to the provider's call,
# and the provider may speak for it: engagement and its verdicts count
# (messaging.ingest admits them; reconcile checks it).
HANDED_OVER = frozenset({EventType.SENT, EventType.ATTEMPTED})
HISTORY_ONLY = frozenset(
    {EventType.ACCEPTED, EventType.DEFERRED, EventType.UNKNOWN, EventType.REFUSED}
)

# Milestones the API shows as <milestone>_at, each the earliest counting event
# of that type (opened and delivered also from the events that imply them).
MILESTONES = (
    "queued",
    "attempted",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "spammed",
    "unsubscribed",
    "failed",
)
# Kept on the state for attribution and the pipeline, not shown as milestones.
EXTRA_MILESTONES = ("drafted", "undeliverable", "suppressed")

# Engagement that proves a message arrived (on channels that report delivery).
_PROOF_OF_DELIVERY = (
    EventType.OPENED,
    EventType.CLICKED,
    EventType.SPAMMED,
    EventType.UNSUBSCRIBED,
)
_REASON_BEARING = (EventType.FAILED, EventType.UNDELIVERABLE, EventType.SUPPRESSED)
# The milestones compute_state derives from other events, and the events
# each is derived from, in journey order: the provider's verdict on delivery
# or the recipient's action implies the hand-over (sent), engagement implies
# delivery, click implies open.
IMPLIED_BY: dict[str, frozenset[str]] = {
    EventType.SENT.value: AFTER_SEND_TYPES,
    EventType.DELIVERED.value: frozenset(_PROOF_OF_DELIVERY),
    EventType.OPENED.value: frozenset({EventType.CLICKED}),
}


@dataclass(frozen=True, slots=True)
class EventFact:
    """What the engine needs to know about one stored event."""

    type: str
    occurred_at: datetime
    key: str
    machine: bool = False
    bounce_type: str = ""
    reason: str = ""
    link_id: int | None = None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class MessageState:
    status: str | None
    milestones: dict[str, datetime | None]
    bounce_type: str | None
    bounce_reason: str  # the latest bounce's, as it gives bounce_type
    failure_reason: str
    open_count: int
    click_count: int
    machine_open_count: int
    machine_click_count: int
    link_clicks: tuple[tuple[int, int], ...]  # (link id, human clicks), sorted

    def at(self, milestone: str) -> datetime | None:
        return self.milestones[milestone]


def status_key(event: EventFact) -> tuple:
    return (
        STATUS_CLASS[event.type],
        event.type in VERDICTS,
        event.occurred_at,
        RANK[event.type],
        event.key,
    )


# Per channel: the status-bearing types it tracks (the capability table, read
# once; this runs for every message of every batch).
_COUNTABLE: dict[str, frozenset[str]] = {
    channel: frozenset(t for t in STATUS_BEARING if channels.accepts_event(channel, t))
    for channel in channels.CAPABILITIES
}


def counting_events(
    channel: str, events: Iterable[EventFact], *, opens: bool = True
) -> list[EventFact]:
    """The events that compete for the status and set milestones.

    Excluded: history-only types, machine traffic, types the channel (or,
    for opens, the action: ``opens`` False) does not track, and pipeline and
    hand-over events (class 0 and 1) of an earlier attempt — a retry or the
    send of a draft starts the next attempt, whatever any clock says.
    """
    return _counting(channel, _as_set(events), opens)


def _as_set(events: Iterable[EventFact]) -> list[EventFact]:
    # A set of events: a duplicate changes nothing. Keyed by the idempotency
    # key, unique per message in the database (hashing whole facts costs more).
    return list({event.key: event for event in events}.values())


def _counting(channel: str, events: list[EventFact], opens: bool = True) -> list[EventFact]:
    countable = _COUNTABLE[channel]
    opens = _OPENS_TRACKED[channel, opens]
    bearing = [
        event
        for event in events
        if event.type in countable
        and not event.machine
        and (opens or event.type != EventType.OPENED)
    ]
    current = max((event.attempt for event in bearing if event.type in ATTEMPT_TYPES), default=0)
    return [
        event for event in bearing if event.type not in ATTEMPT_TYPES or event.attempt >= current
    ]


# (channel, the action's open tracking switch) → whether opens are tracked.
_OPENS_TRACKED = {
    (channel, switch): channels.opens_tracked(channel, switch)
    for channel in channels.CAPABILITIES
    for switch in (True, False)
}
_TRACKS_CLICKS = {
    channel: channels.tracks(channel, channels.CLICKED) for channel in channels.CAPABILITIES
}
_REPORTS_DELIVERY = {
    channel: channels.reports_delivery(channel) for channel in channels.CAPABILITIES
}


_ALL_MILESTONES = MILESTONES + EXTRA_MILESTONES
assert set(_ALL_MILESTONES) == STATUS_BEARING  # every counting type is a milestone
_BOUNCED, _OPENED, _CLICKED = EventType.BOUNCED.value, EventType.OPENED.value, "clicked"
_DELIVERED, _SENT = EventType.DELIVERED.value, EventType.SENT.value


def compute_state(channel: str, events: Iterable[EventFact], *, opens: bool = True) -> MessageState:
    """The state of a message from the set of its events. ``opens`` is the
    action's open tracking switch (an email action may turn it off: then no
    open counts, and a click implies none; campaigns.channels.opens_tracked).

    Runs for every message of every batch, twice: each event's status key is
    built once and serves every comparison."""
    events = _as_set(events)
    counting = _counting(channel, events, opens)

    earliest: dict[str, datetime] = {}
    top = top_key = latest_bounce = bounce_key = latest_reasoned = reasoned_key = None
    human_opens = 0
    clicks = 0
    link_clicks: dict[int, int] = {}
    for event in counting:
        kind = event.type
        moment = event.occurred_at
        current = earliest.get(kind)
        if current is None or moment < current:
            earliest[kind] = moment
        key = status_key(event)
        if top_key is None or key > top_key:
            top, top_key = event, key
        if kind == _BOUNCED:
            time_key = key[2:]  # (occurred_at, rank, idempotency key)
            if bounce_key is None or time_key > bounce_key:
                latest_bounce, bounce_key = event, time_key
        elif kind == _OPENED:
            human_opens += 1
        elif kind == _CLICKED:
            clicks += 1
            if event.link_id is not None:
                link_clicks[event.link_id] = link_clicks.get(event.link_id, 0) + 1
        elif kind in _REASON_BEARING and (reasoned_key is None or key > reasoned_key):
            latest_reasoned, reasoned_key = event, key

    # Every counting type is a milestone name: the earliest of each, None
    # for the others.
    milestones: dict[str, datetime | None] = dict.fromkeys(_ALL_MILESTONES)
    milestones.update(earliest)
    status = top.type if top is not None else None
    if status in VERDICTS:
        # The provider refused what we handed over: the message reads failed
        # (or suppressed) and counts as such, never as sent.
        milestones["sent"] = None
    elif milestones["sent"] is None and status in AFTER_SEND_TYPES:
        # The provider's verdict on delivery or the recipient's action proves
        # the hand-over where no "sent" of the current attempt counts (the
        # worker died after the provider took it; a retry's send failed but
        # the earlier attempt's delivery report came late): sent ≥ delivered
        # for every message.
        milestones["sent"] = _earliest(*(earliest.get(t) for t in IMPLIED_BY[_SENT]))
    tracks_opens = _OPENS_TRACKED[channel, opens]
    # Click implies open, derived rather than stored so it cannot depend on
    # arrival order; only where the channel tracks opens.
    if tracks_opens:
        milestones["opened"] = _earliest(
            earliest.get(_OPENED), *(earliest.get(t) for t in IMPLIED_BY[_OPENED])
        )
    else:
        milestones["opened"] = None
    # Engagement implies delivery, on channels that report delivery.
    if _REPORTS_DELIVERY[channel]:
        milestones["delivered"] = _earliest(
            earliest.get(_DELIVERED), *(earliest.get(t) for t in IMPLIED_BY[_DELIVERED])
        )

    bounce_type = None
    if latest_bounce is not None:
        bounce_type = latest_bounce.bounce_type or BounceType.HARD

    open_count = human_opens
    if clicks and tracks_opens:
        open_count = max(human_opens, 1)

    machine_open_count = machine_click_count = 0
    for event in events:
        if not event.machine:
            continue
        if event.type == EventType.OPENED and tracks_opens:
            machine_open_count += 1
        elif event.type == EventType.CLICKED and _TRACKS_CLICKS[channel]:
            machine_click_count += 1

    return MessageState(
        status=status,
        milestones=milestones,
        bounce_type=bounce_type,
        bounce_reason=latest_bounce.reason if latest_bounce is not None else "",
        failure_reason=latest_reasoned.reason if latest_reasoned else "",
        open_count=open_count,
        click_count=clicks,
        machine_open_count=machine_open_count,
        machine_click_count=machine_click_count,
        link_clicks=tuple(sorted(link_clicks.items())),
    )


def implied_events(
    channel: str, events: Iterable[EventFact], *, opens: bool = True
) -> list[tuple[str, datetime]]:
    """The derived events a timeline shows with source "implied", in journey
    order: each milestone of IMPLIED_BY that the state has at an instant where
    no real event of its type lies (a send at the first delivery report or
    engagement when no "sent" of the attempt counts, a delivery at the first
    engagement, an open at the first click)."""
    counting = counting_events(channel, events, opens=opens)
    state = compute_state(channel, counting, opens=opens)
    first_real: dict[str, datetime] = {}
    for event in counting:
        if event.type not in first_real or event.occurred_at < first_real[event.type]:
            first_real[event.type] = event.occurred_at
    implied = []
    for milestone in IMPLIED_BY:
        moment = state.at(milestone)
        if moment is not None and first_real.get(milestone) != moment:
            implied.append((milestone, moment))
    return implied


@dataclass(frozen=True, slots=True)
class Implied:
    """A milestone a batch made appear without an event of its own type."""

    type: str
    occurred_at: datetime  # the milestone: the earliest implying event's time
    attempt: int | None  # that event's attempt
    position: int  # index of the first new event (in batch order) implying it


def newly_implied(
    before: MessageState | None, after: MessageState | None, new_events: Sequence
) -> list[Implied]:
    """The implied milestones (sent, delivered, opened) that ``new_events``
    (the events a batch just stored for one message, in the order applied:
    anything with type, occurred_at, machine and attempt) made appear, in
    journey order (IMPLIED_BY's).

    A milestone unset before the batch had no counting event of its type nor
    of a type implying it, so only the new events can have set it; it is
    implied when none of them is a human event of its own type (a refused
    event has type "refused"). Cheap for every message of every batch: three
    lookups, and a scan of the new events only when a milestone appears (a
    few times in a message's life)."""
    if before is None or after is None:
        return []
    found = []
    for milestone, implying in IMPLIED_BY.items():
        moment = after.milestones[milestone]
        if moment is None or before.milestones[milestone] is not None:
            continue
        human = [event for event in new_events if not event.machine]
        if any(event.type == milestone for event in human):
            continue  # a real one: reported as itself
        position = next(
            (
                i
                for i, event in enumerate(new_events)
                if event.type in implying and not event.machine
            ),
            None,
        )
        source = next(
            (e for e in human if e.type in implying and e.occurred_at == moment),
            None,
        )
        if position is None or source is None:
            continue  # not derivable from this batch (cannot happen; see above)
        found.append(Implied(milestone, moment, source.attempt, position))
    return found


def _earliest(*values: datetime | None) -> datetime | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None
