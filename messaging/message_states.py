"""A message's derived state: its stored events read back (in a batch, one
probe per message in its own month's partition), the status engine's state
of them, the counters that state contributes, and the message columns it
sets. Shared by the writers of statuses: ingest, conversions, reconcile and
erase (messaging.ingest is the one that applies events).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import NamedTuple

from django.db import connection

from campaigns import deliverability
from campaigns.metrics import message_contribution
from campaigns.models import Action
from messaging import counters, history
from messaging.models import Message, MessageEvent
from messaging.status import (
    IMPLIED_BY,
    MILESTONES,
    RANK,
    EventFact,
    MessageState,
    compute_state,
    implied_events,
)


class LockedMessage(NamedTuple):
    """What ingest reads of a message it locks."""

    id: int
    channel: str
    action_id: int
    campaign_id: int
    person_id: int
    address: str
    created_at: datetime
    discarded_at: datetime | None
    status: str
    provider: str
    send_attempts: int
    track_opens: bool  # the action's open tracking switch

    @property
    def attempt(self) -> int:
        return self.send_attempts + 1


# LockedMessage's columns (the last one through the action), for the ORM and
# as SQL over "<LOCKED_FROM>" (PostgreSQL's reads: counters.select_bound).
LOCKED_COLUMNS = (*LockedMessage._fields[:-1], "action__track_opens")
LOCKED_SELECT = ", ".join(f"m.{name}" for name in LockedMessage._fields[:-1]) + ", a.track_opens"
LOCKED_FROM = f"{Message._meta.db_table} m JOIN {Action._meta.db_table} a ON a.id = m.action_id"


EVENT_FIELDS = (
    "message_id",
    "type",
    "occurred_at",
    "idempotency_key",
    "machine",
    "bounce_type",
    "reason",
    "link_id",
    "attempt",
)


def _get(row: dict | MessageEvent, name: str):
    return row[name] if isinstance(row, dict) else getattr(row, name)


def fact_of(row: dict | MessageEvent) -> EventFact:
    return EventFact(
        type=_get(row, "type"),
        occurred_at=_get(row, "occurred_at"),
        key=_get(row, "idempotency_key"),
        machine=_get(row, "machine"),
        bounce_type=_get(row, "bounce_type"),
        reason=_get(row, "reason"),
        link_id=_get(row, "link_id"),
        attempt=_get(row, "attempt"),
    )


# The stored events of messages given with their created_at (PostgreSQL):
# one index probe per message (the unique key leads with the message), pruned
# to its month's partition. OFFSET 0 keeps the planner from flattening it
# into one scan of the months the batch spans (it did, misjudging the range).
STORED_FACTS_SQL = (
    f"SELECT m.id, {', '.join(f'e.{name}' for name in EVENT_FIELDS[1:])} "
    "FROM unnest(%b::bigint[], %b::timestamptz[]) AS m (id, created) "
    f"CROSS JOIN LATERAL (SELECT * FROM {MessageEvent._meta.db_table} "
    "WHERE message_id = m.id AND message_created_at = m.created OFFSET 0) AS e"
)


def stored_facts(
    message_ids: Iterable[int], *, created: Iterable[datetime] = ()
) -> Iterable[tuple[int, EventFact]]:
    """(message id, fact) for every stored event of these messages. Given the
    messages' created_at (``created``, in the order of ``message_ids``), each
    message's events are read from its own month's partition only
    (messaging.history), not from every month's index."""
    message_ids = list(message_ids)
    created = list(created)
    if connection.vendor == "postgresql":
        # A batch names a thousand messages: one array parameter instead of
        # Django's thousand placeholders, timestamps decoded in binary.
        if not message_ids:
            return
        if created:
            rows = counters.select_bound(STORED_FACTS_SQL, [message_ids, created])
        else:
            rows = counters.select_bound(
                f"SELECT {', '.join(EVENT_FIELDS)} FROM {MessageEvent._meta.db_table} "
                "WHERE message_id = ANY(%b::bigint[])",
                [message_ids],
            )
    else:
        rows = MessageEvent.objects.filter(message_id__in=message_ids)
        if created:
            rows = rows.filter(message_created_at__range=(min(created), max(created)))
        rows = rows.values_list(*EVENT_FIELDS)
    for message_id, *fields in rows:
        yield message_id, EventFact(*fields)


def state_of_message(
    message: Message | LockedMessage, facts: Iterable[EventFact]
) -> MessageState | None:
    """The state the metrics see; a discarded message counts for nothing."""
    if message.discarded_at is not None:
        return None
    return compute_state(message.channel, facts, opens=opens_tracked(message))


def opens_tracked(message: Message | LockedMessage) -> bool:
    """The action's open tracking switch: read from the row when the query
    brought it (``track_opens``), else from the action."""
    tracked = getattr(message, "track_opens", None)
    if tracked is None:
        tracked = message.action.track_opens
    return tracked


def contribution_of(message: Message | LockedMessage, state: MessageState | None) -> Counter:
    out = message_contribution(
        action_id=message.action_id,
        channel=message.channel,
        state=state,
        created_at=message.created_at,
    )
    # Deliverability counters (by mailbox provider, bounce reasons): email only.
    return deliverability.add_contribution(
        out, channel=message.channel, address=message.address, state=state
    )


def lock_batch(ids: list[int]) -> Iterable[tuple]:
    """Locks the batch's messages in id order and reads them: LockedMessage's
    fields, then the instant history is retained from (read in the lock query,
    so the prune check costs no round trip)."""
    if connection.vendor == "postgresql":
        return counters.select_bound(
            f"SELECT {LOCKED_SELECT}, {history.RETAINED_FROM_SQL} FROM {LOCKED_FROM} "
            "WHERE m.id = ANY(%b::bigint[]) ORDER BY m.id FOR UPDATE OF m",
            [ids],
        )
    return (
        Message.objects.select_for_update(**lock_options())
        .filter(id__in=ids)
        .annotate(retained_from=history.RETAINED_FROM)
        .order_by("id")
        .values_list(*LOCKED_COLUMNS, "retained_from")
    )


def lock_options() -> dict:
    # Lock only the message rows, not joined tables (PostgreSQL).
    return {"of": ("self",)} if connection.features.has_select_for_update_of else {}


STATE_FIELDS = (
    "status",
    *(f"{name}_at" for name in MILESTONES),
    "bounce_type",
    "failure_reason",
    "open_count",
    "click_count",
)


def state_values(state: MessageState, current_status: str) -> dict:
    """The message columns a computed state sets (STATE_FIELDS)."""
    values = {f"{name}_at": state.at(name) for name in MILESTONES}
    values.update(
        status=state.status or current_status,
        bounce_type=state.bounce_type,
        failure_reason=state.failure_reason[:500],
        open_count=state.open_count,
        click_count=state.click_count,
    )
    return values


def assign_state(message: Message, state: MessageState) -> bool:
    """Copy a computed state onto the message; True when anything changed."""
    changed = False
    for name, value in state_values(state, message.status).items():
        if getattr(message, name) != value:
            setattr(message, name, value)
            changed = True
    return changed


def save_message_states(messages: Sequence[Message | SimpleNamespace], now: datetime) -> None:
    if not messages:
        return
    for message in messages:
        message.updated_at = now
    counters.bulk_update_rows(Message, messages, [*STATE_FIELDS, "updated_at"])


# --- A message's timeline (the API's events and the message page) ---------------


def timeline_order(row: dict | MessageEvent) -> tuple:
    """Where a stored event (a row with id, occurred_at, received_at, or the
    model) sits in its message's timeline: by occurred_at, then received_at,
    then id. The API's events and the message page both sort by it."""
    return (_get(row, "occurred_at"), _get(row, "received_at"), 1, _get(row, "id"))


def timeline_implied(
    message: Message, rows: Sequence[dict | MessageEvent]
) -> list[tuple[tuple, dict]]:
    """The timeline's implied events (messaging.status.implied_events) of a
    message whose stored events are ``rows`` (rows with EVENT_FIELDS, id and
    received_at, or the models), each as (its timeline_order key, {type,
    occurred_at, received_at, attempt, implied_by}): just before the first
    stored event that implies it, in journey order among themselves."""
    facts = [fact_of(row) for row in rows]
    entries = []
    for event_type, moment in implied_events(message.channel, facts, opens=opens_tracked(message)):
        implying = [
            row
            for row in rows
            if _get(row, "type") in IMPLIED_BY[event_type]
            and _get(row, "occurred_at") == moment
            and not _get(row, "machine")
        ]
        first = min(implying, key=timeline_order, default=None)
        received_at = _get(first, "received_at") if first is not None else moment
        entries.append(
            (
                (moment, received_at, 0, RANK[event_type]),
                {
                    "type": event_type,
                    "occurred_at": moment,
                    "received_at": received_at,
                    "attempt": _get(first, "attempt") if first is not None else message.attempt,
                    "implied_by": _get(first, "type") if first is not None else "",
                },
            )
        )
    return entries
