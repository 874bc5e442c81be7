"""The outbox write: called by messaging.ingest (and the conversions it
runs) inside the transaction that stores the events, so a notification
exists exactly when its event does.

One statement per batch, and none at all while no enabled webhook subscribes
to any of the batch's event types: the subscribed types are cached per
process for ``TIDINGS_REPORTING_CACHE_SECONDS`` (and forgotten at once when
this process saves a webhook). The statement itself
joins the webhook table, so a webhook disabled or re-subscribed meanwhile is
read as it is now; only a webhook created (or given a new event type) in
another process may miss events for up to that many seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.vocabulary import Status
from messaging import counters
from messaging.events import Event

_STATUSES = frozenset(Status.values)
_checked_at: float | None = None
_subscribed: frozenset[str] = frozenset()


def forget_enabled() -> None:
    global _checked_at
    _checked_at = None


def subscribed_types() -> frozenset[str]:
    """The event types some enabled webhook subscribes to (cached)."""
    global _checked_at, _subscribed
    now = time.monotonic()
    if _checked_at is None or now - _checked_at >= settings.TIDINGS_REPORTING_CACHE_SECONDS:
        from messaging.reporting.models import ReportingWebhook

        _subscribed = frozenset(
            name
            for events in ReportingWebhook.objects.filter(enabled=True).values_list(
                "events", flat=True
            )
            for name in events
        )
        _checked_at = now
    return _subscribed


def notifications_write(events: Iterable[Event]) -> int:
    """Outbox rows for the human status events of a batch just stored, in
    the order given (the order they were applied); returns how many. The
    milestones a batch implies come in as events of source "implied"
    (messaging.ingest): for occurrence "first" the one row per message and
    type is then the implied one, so a later real open or delivery sends
    nothing more."""
    candidates = [
        event
        for event in events
        if event.type in _STATUSES and not event.machine and event.message_id is not None
    ]
    if not candidates:
        return 0
    wanted = subscribed_types()
    candidates = [event for event in candidates if event.type in wanted]
    if not candidates:
        return 0
    now = timezone.now()
    if connection.vendor == "postgresql":
        written = _write_postgresql(candidates, now)
    else:
        written = _write_portable(candidates, now)
    if written:
        from messaging.reporting.delivery import delivery_kick

        transaction.on_commit(delivery_kick)
    return written


def _write_postgresql(events: list[Event], now) -> int:
    from messaging.reporting.models import ReportingNotification, ReportingWebhook

    q = connection.ops.quote_name
    table = q(ReportingNotification._meta.db_table)
    webhooks = q(ReportingWebhook._meta.db_table)
    # Rows in batch order, then webhook: ids (the per-message order) follow
    # the order the events were applied. A repeat of a "first" row hits the
    # partial unique index and is dropped.
    sql = f"""
        INSERT INTO {table} (webhook_id, message_id, event_type, occurred_at, event_attempt,
                             source, first, key, status, created_at, next_attempt_at, tries,
                             failures)
        SELECT w.id, e.message_id, e.type, e.occurred_at, e.attempt, e.source,
               w.occurrence = 'first', gen_random_uuid(), 'pending', %b, %b, 0, 0
        FROM unnest(%b::bigint[], %b::text[], %b::timestamptz[], %b::int[], %b::text[])
             WITH ORDINALITY AS e(message_id, type, occurred_at, attempt, source, ord)
        JOIN {webhooks} w ON w.enabled AND w.events ? e.type
        ORDER BY e.ord, w.id
        ON CONFLICT DO NOTHING
    """
    params = [
        now,
        now,
        [event.message_id for event in events],
        [event.type for event in events],
        [event.occurred_at for event in events],
        [event.attempt or 1 for event in events],
        [event.source for event in events],
    ]
    return counters.execute_bound(sql, params)


def _write_portable(events: list[Event], now) -> int:
    # SQLite (the embedded default): the same rows through the ORM.
    from messaging.reporting.models import (
        Occurrence,
        ReportingNotification,
        ReportingWebhook,
    )

    webhooks = list(ReportingWebhook.objects.filter(enabled=True).order_by("id"))
    rows = [
        ReportingNotification(
            webhook_id=webhook.id,
            message_id=event.message_id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            event_attempt=event.attempt or 1,
            source=event.source,
            first=webhook.occurrence == Occurrence.FIRST,
            created_at=now,
            next_attempt_at=now,
        )
        for event in events
        for webhook in webhooks
        if event.type in webhook.events
    ]
    if not rows:
        return 0
    before = ReportingNotification.objects.count()
    ReportingNotification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return ReportingNotification.objects.count() - before
