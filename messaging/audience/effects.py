"""What a batch of applied events does to the audience (ingest's side
effects, DESIGN.md "Suppression and subscriptions"), set-based:

- a hard bounce, a spam complaint or a provider's own suppression verdict
  on an email adds the address to the suppression list (first cause wins,
  but it makes an entry that would end, an expiring or soft-bounce one,
  permanent);
- an unsubscribe (provider, recipient or API) marks the person unsubscribed;
  a provider's resubscribe (SendGrid ``group_resubscribe``, Postmark
  reactivation) clears it;
- the soft-bounce policy: ``TIDINGS_SOFT_BOUNCE_LIMIT`` consecutive soft
  bounces of one address, with no delivery in between, suppress it for
  ``TIDINGS_SOFT_BOUNCE_SUPPRESS_DAYS`` days; a delivery reported later,
  dated after those bounces, lifts the entry again.

Every change lands in the audit trail with its source and the message that
caused it. Called by messaging.ingest inside the batch's transaction, with
the locked messages and each message's new events (duck-typed: this module
does not import ingest).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.vocabulary import BounceType, Channel, EventType, Source
from messaging import counters
from messaging.audience.audit import AuditAction, AuditSource, AuditSubject, Change, entry, record
from messaging.audience.subscription import (
    SubscriptionEvent,
    people_resubscribe,
    people_unsubscribe,
)
from messaging.audience.suppression import (
    active,
    normalise_address,
    suppressions_added,
    suppressions_expire,
)
from messaging.models import MessageEvent, Suppression, SuppressionReason
from messaging.status import IMPLIED_BY

# Event.suppression values that are not suppression reasons.
UNSUBSCRIBED = "unsubscribed"
RESUBSCRIBED = "resubscribed"

# Events that prove the address took a message, as the status engine reads
# them (a delivery, or what implies one): they reset the soft-bounce count.
_DELIVERY_PROOF = (EventType.DELIVERED, *sorted(IMPLIED_BY[EventType.DELIVERED]))

_AUDIT_SOURCE = {
    Source.PROVIDER: AuditSource.PROVIDER,
    Source.RECIPIENT: AuditSource.RECIPIENT,
    Source.API: AuditSource.API,
}


def _source(event: Any) -> str:
    return _AUDIT_SOURCE.get(event.source, AuditSource.PROVIDER)


def apply_ingest_effects(
    messages: Mapping[int, Any], new_by_message: Mapping[int, Sequence[Any]]
) -> None:
    suppressions: dict[str, Suppression] = {}
    unsubscribes: dict[int, SubscriptionEvent] = {}
    resubscribes: dict[int, SubscriptionEvent] = {}
    soft_bounced: dict[str, set[str]] = defaultdict(set)  # normalised → raw addresses
    soft_cause: dict[str, tuple[datetime, int]] = {}
    delivered: dict[str, set[str]] = defaultdict(set)  # normalised → raw addresses
    for message_id, new_events in new_by_message.items():
        message = messages[message_id]
        email = message.channel == Channel.EMAIL and bool(message.address)
        for event in new_events:
            if event.machine or event.type == EventType.REFUSED:
                continue
            if email and event.type in _DELIVERY_PROOF:
                delivered[normalise_address(message.address)].add(message.address)
            reason = event.suppression
            if not reason:
                if event.type == EventType.SPAMMED:
                    reason = SuppressionReason.SPAM_COMPLAINT
                elif event.type == EventType.BOUNCED and event.bounce_type == BounceType.HARD:
                    reason = SuppressionReason.HARD_BOUNCE
                elif event.type == EventType.UNSUBSCRIBED:
                    reason = UNSUBSCRIBED
            change = Change(source=_source(event), message_id=message.id)
            if reason == UNSUBSCRIBED:
                previous = unsubscribes.get(message.person_id)
                if previous is None or event.occurred_at < previous.occurred_at:
                    unsubscribes[message.person_id] = SubscriptionEvent(
                        message.person_id, event.occurred_at, change, event.reason or "unsubscribed"
                    )
            elif reason == RESUBSCRIBED:
                previous = resubscribes.get(message.person_id)
                if previous is None or event.occurred_at > previous.occurred_at:
                    resubscribes[message.person_id] = SubscriptionEvent(
                        message.person_id, event.occurred_at, change, event.reason or "resubscribed"
                    )
            elif reason and email:
                # Suppression is for email only (DESIGN.md); first cause wins.
                address = normalise_address(message.address)
                suppressions.setdefault(
                    address,
                    Suppression(
                        address=address,
                        reason=reason,
                        message_id=message.id,
                        note=event.reason[:500],
                    ),
                )
            elif email and event.type == EventType.BOUNCED and event.bounce_type == BounceType.SOFT:
                address = normalise_address(message.address)
                soft_bounced[address].add(message.address)
                if address not in soft_cause or event.occurred_at > soft_cause[address][0]:
                    soft_cause[address] = (event.occurred_at, message.id)
    if suppressions:
        _add_suppressions(list(suppressions.values()), source_of=_sources(new_by_message))
    if resubscribes:
        people_resubscribe(resubscribes)
    if unsubscribes:
        people_unsubscribe(unsubscribes)
    if soft_bounced:
        soft_bounce_policy(soft_bounced, {a: cause[1] for a, cause in soft_cause.items()})
    if delivered:
        soft_bounce_recheck(delivered)


def _sources(new_by_message: Mapping[int, Sequence[Any]]) -> dict[int, str]:
    """The audit source of each message's suppressing events."""
    out = {}
    for message_id, events in new_by_message.items():
        for event in events:
            if event.type != EventType.REFUSED and not event.machine:
                out.setdefault(message_id, _source(event))
    return out


def _insert(rows: list[Suppression]) -> set[str]:
    """Inserts the entries; returns the addresses whose entry it wrote. An
    address on the list keeps its entry (first cause wins; a concurrent
    writer's wins quietly), except that a permanent verdict (no expiry, not
    soft_bounce) takes over an entry that would end, one with an expiry or
    the policy's (a delivery lifts it): else the hard bounce or complaint
    would be lost with it. One statement: the upsert locks the row it takes
    over, and a batch of new addresses reads nothing first."""
    table = connection.ops.quote_name(Suppression._meta.db_table)
    now = timezone.now()
    columns = ("address", "reason", "note", "message_id", "created_at", "expires_at")
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    params: list[Any] = []
    for row in rows:
        created_at = now
        expires_at = row.expires_at
        if connection.vendor != "postgresql":
            created_at = connection.ops.adapt_datetimefield_value(created_at)
            expires_at = connection.ops.adapt_datetimefield_value(expires_at)
        params.extend((row.address, row.reason, row.note, row.message_id, created_at, expires_at))
    soft = SuppressionReason.SOFT_BOUNCE.value
    params.extend((soft, soft))
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        + ", ".join([placeholder] * len(rows))
        + " ON CONFLICT (address) DO UPDATE SET reason = excluded.reason,"
        " note = excluded.note, message_id = excluded.message_id,"
        " created_at = excluded.created_at, expires_at = NULL, created_by_id = NULL"
        " WHERE excluded.expires_at IS NULL AND excluded.reason <> %s"
        f" AND ({table}.expires_at IS NOT NULL OR {table}.reason = %s)"
        " RETURNING address"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {address for (address,) in cursor.fetchall()}


def _add_suppressions(
    rows: list[Suppression], *, source_of: Mapping[int, str], source: str | None = None
) -> list[Suppression]:
    # An expired entry of the same address is replaced (its expiry recorded).
    suppressions_expire(addresses=[row.address for row in rows])
    written = _insert(rows)
    # An entry made permanent is recorded as added, as a new one is.
    new = [row for row in rows if row.address in written]
    suppressions_added(
        (
            row,
            Change(
                source=source or source_of.get(row.message_id, AuditSource.PROVIDER),
                message_id=row.message_id,
            ),
        )
        for row in new
    )
    return new


def _streaks(addresses: Mapping[str, set[str]]) -> dict[str, int]:
    """The current run of soft bounces of each address (normalised → the
    raw addresses its messages carry): soft bounces since the latest
    delivery or hard bounce, read from the event log."""
    raw_addresses = sorted({raw for raws in addresses.values() for raw in raws})
    history = (
        MessageEvent.objects.filter(
            message__channel=Channel.EMAIL,
            message__address__in=raw_addresses,
            type__in=[EventType.BOUNCED, *_DELIVERY_PROOF],
            machine=False,
        )
        .order_by("-occurred_at")
        .values_list("message__address", "type", "bounce_type")
    )
    streak: dict[str, int] = dict.fromkeys(addresses, 0)
    stopped: set[str] = set()
    for raw, type_, bounce_type in history:
        address = normalise_address(raw)
        if address in stopped or address not in addresses:
            continue
        if type_ == EventType.BOUNCED and bounce_type == BounceType.SOFT:
            streak[address] += 1
        else:
            stopped.add(address)  # a delivery (or a hard bounce) ends the run
    return streak


def soft_bounce_policy(soft_bounced: Mapping[str, set[str]], causes: Mapping[str, int]) -> None:
    """Suppresses, for a limited time, each address whose latest soft
    bounces number at least the limit with no delivery in between. Counted
    from the event log, so the verdict does not depend on the order in which
    the events arrived (see also ``soft_bounce_recheck``)."""
    limit = settings.TIDINGS_SOFT_BOUNCE_LIMIT
    now = timezone.now()
    already = set(
        Suppression.objects.filter(active(now), address__in=list(soft_bounced)).values_list(
            "address", flat=True
        )
    )
    candidates = {a: raw for a, raw in soft_bounced.items() if a not in already}
    if not candidates:
        return
    days = settings.TIDINGS_SOFT_BOUNCE_SUPPRESS_DAYS
    rows = [
        Suppression(
            address=address,
            reason=SuppressionReason.SOFT_BOUNCE,
            note=f"{count} consecutive soft bounces",
            message_id=causes.get(address),
            expires_at=now + timedelta(days=days),
        )
        for address, count in sorted(_streaks(candidates).items())
        if count >= limit
    ]
    if rows:
        _add_suppressions(rows, source_of={}, source=AuditSource.POLICY)


def _soft_bounce_entries(addresses: list[str]) -> Iterable[tuple]:
    """(id, address, message id) of the soft-bounce entries of these addresses:
    on PostgreSQL one array parameter, as every address a batch delivered to
    is checked."""
    if connection.vendor != "postgresql":
        return Suppression.objects.filter(
            address__in=addresses, reason=SuppressionReason.SOFT_BOUNCE
        ).values_list("id", "address", "message_id")
    return counters.select_bound(
        f"SELECT id, address, message_id FROM {Suppression._meta.db_table} "
        "WHERE address = ANY(%b::text[]) AND reason = %s",
        [addresses, SuppressionReason.SOFT_BOUNCE.value],
    )


def soft_bounce_recheck(delivered: Mapping[str, set[str]]) -> None:
    """A delivery that arrives after the policy suppressed an address (a
    late report, dated after the bounces) ends the run the entry stood on:
    the entry is removed (source "policy"), as if the events had arrived in
    order."""
    entries = [
        {"id": pk, "address": address, "message_id": message_id}
        for pk, address, message_id in _soft_bounce_entries(list(delivered))
    ]
    if not entries:
        return
    streaks = _streaks({row["address"]: delivered[row["address"]] for row in entries})
    limit = settings.TIDINGS_SOFT_BOUNCE_LIMIT
    gone = [row for row in entries if streaks[row["address"]] < limit]
    if not gone:
        return
    Suppression.objects.filter(id__in=[row["id"] for row in gone]).delete()
    change = Change(source=AuditSource.POLICY)
    record(
        entry(
            change=change,
            subject=AuditSubject.SUPPRESSION,
            action=AuditAction.REMOVED,
            address=row["address"],
            reason="delivered after the soft bounces (was soft_bounce)",
            message_id=row["message_id"],
        )
        for row in gone
    )
