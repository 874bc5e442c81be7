"""Recovery of sends that stopped half-way: a queued message whose task was
lost is enqueued again; an attempted message with no answer (its worker died
mid-call) is sent again with the same idempotency key where the backend
honours keys, else marked failed with "outcome unknown" for a person to
retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.vocabulary import EventType, Source, Status
from messaging.events import Event
from messaging.ingest import apply_events, lock_options
from messaging.models import Message
from messaging.sending.services import REASON_OUTCOME_UNKNOWN, messages_enqueue


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)  # queued, their task lost: enqueued again
    resent: list[int] = field(default_factory=list)  # attempted, no answer: same key again
    unknown: list[int] = field(default_factory=list)  # attempted, no answer: failed


SWEEP_LIMIT = 10_000


def messages_sweep(*, now: datetime | None = None, stale_seconds: int | None = None) -> SweepReport:
    """Recovers messages that made no progress for ``TIDINGS_SEND_STALE_SECONDS``
    (more than a task's hard time limit, so a live worker is never overtaken)."""
    from messaging.sending.backends import backend_name

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_seconds or settings.TIDINGS_SEND_STALE_SECONDS)
    report = SweepReport()
    with transaction.atomic():
        stuck = list(
            Message.objects.select_for_update(skip_locked=True, **lock_options())
            .filter(
                status__in=[Status.QUEUED, Status.ATTEMPTED],
                updated_at__lt=cutoff,
                discarded_at__isnull=True,
            )
            .only("id", "status", "channel", "send_attempts")
            .order_by("id")[:SWEEP_LIMIT]
        )
        if not stuck:
            return report
        failures = []
        for message in stuck:
            if message.status == Status.QUEUED:
                report.requeued.append(message.id)
            elif _honours_keys(backend_name(message.channel)):
                report.resent.append(message.id)
            else:
                report.unknown.append(message.id)
                failures.append(
                    Event(
                        type=EventType.FAILED,
                        occurred_at=now,
                        idempotency_key=f"failed:{message.send_attempts}",
                        source=Source.PIPELINE,
                        message_id=message.id,
                        reason=REASON_OUTCOME_UNKNOWN,
                    )
                )
        # Claimed: the next sweep leaves them alone for another period.
        Message.objects.filter(id__in=report.requeued + report.resent).update(updated_at=now)
        apply_events(failures)
        messages_enqueue(report.requeued)
        messages_enqueue(report.resent, tries=1)
    return report


def _honours_keys(name: str) -> bool:
    # Both built-in backends honour idempotency keys; a real backend that
    # cannot would answer False here.
    return name in ("capture", "simulated")
