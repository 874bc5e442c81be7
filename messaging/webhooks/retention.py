"""Webhook inbox retention (DESIGN.md "Scale"): the raw requests of applied
batches are kept for ``TIDINGS_INBOX_RETENTION_DAYS`` after they were applied,
then deleted in chunks by a daily task. Rows not applied yet (pending,
failed, waiting) are never pruned: they are the only copy of acknowledged
events until they are applied, or until a person discards them; discarded
rows are pruned like applied ones, counted from when they were discarded.

A person's discard is the other service here: it takes rows that will not
apply (a provider's malformed test event, a campaign deleted since) out of
the sweeper's hands, keeping them readable until the retention removes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from messaging.models import WebhookRequest, WebhookStatus

PRUNE_CHUNK = 5_000
PRUNABLE = (WebhookStatus.APPLIED, WebhookStatus.DISCARDED)


@dataclass
class PruneReport:
    deleted: int
    before: datetime


def webhook_requests_prune(
    *, now: datetime | None = None, retention_days: int | None = None
) -> PruneReport:
    """Deletes applied and discarded rows whose ``applied_at`` (for a
    discarded row: when it was discarded) is older than the retention, in
    chunks of ``PRUNE_CHUNK`` so no statement holds locks for long."""
    now = now or timezone.now()
    days = settings.TIDINGS_INBOX_RETENTION_DAYS if retention_days is None else retention_days
    before = now - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            WebhookRequest.objects.filter(status__in=PRUNABLE, applied_at__lt=before)
            .order_by("applied_at")
            .values_list("id", flat=True)[:PRUNE_CHUNK]
        )
        if not ids:
            return PruneReport(deleted=deleted, before=before)
        # Re-check the status in the DELETE: a row replayed meanwhile stays.
        count, _ = WebhookRequest.objects.filter(
            id__in=ids, status__in=PRUNABLE, applied_at__lt=before
        ).delete()
        deleted += count


def webhook_requests_discard(
    *, request_ids: Iterable[int], reason: str, now: datetime | None = None
) -> int:
    """A person's decision: these rows will not be applied. Applied rows are
    left alone; the reason is kept beside the last error. Returns how many
    rows were discarded."""
    now = now or timezone.now()
    rows = list(
        WebhookRequest.objects.filter(id__in=list(request_ids))
        .exclude(status__in=PRUNABLE)
        .values_list("id", "error")
    )
    for row_id, error in rows:
        note = f"discarded: {reason}".strip()
        WebhookRequest.objects.filter(pk=row_id).exclude(status__in=PRUNABLE).update(
            status=WebhookStatus.DISCARDED,
            applied_at=now,
            retry_after=None,
            error=f"{note}\n{error}".strip() if error else note,
        )
    return len(rows)


def unapplied(queryset=None):
    """The rows that still hold events to apply (what retention never touches)."""
    queryset = WebhookRequest.objects.all() if queryset is None else queryset
    return queryset.filter(~Q(status__in=PRUNABLE))
