"""Recovery of sends that stopped half-way: a queued message whose task was
lost is enqueued again; an attempted message with no answer (its worker died
mid-call, or the task's hard time limit killed it) is sent again with the
same idempotency key where the backend honours keys — at most
``TIDINGS_SWEEP_MAX_RESENDS`` times, each recorded as a ``deferred`` history
event — and is otherwise (or after that) marked failed with "outcome unknown"
for a person to retry, which reuses the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.vocabulary import EventType, Source, Status
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.message_states import lock_options
from messaging.models import Message, MessageEvent
from messaging.sending.services import OUTCOME_UNKNOWN, REASON_OUTCOME_UNKNOWN, messages_enqueue


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)  # queued, their task lost: enqueued again
    resent: list[int] = field(default_factory=list)  # attempted, no answer: same key again
    unknown: list[int] = field(default_factory=list)  # attempted, no answer: failed


SWEEP_LIMIT = 10_000
# The history event of each sweeper re-send: "swept:<attempt>:<n>".
RESEND_KEY = "swept"


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
        events = []
        sweeps = _previous_resends([m for m in stuck if m.status == Status.ATTEMPTED])
        max_resends = settings.TIDINGS_SWEEP_MAX_RESENDS
        for message in stuck:
            if message.status == Status.QUEUED:
                report.requeued.append(message.id)
            elif (
                _honours_keys(backend_name(message.channel))
                and sweeps.get(message.id, 0) < max_resends
            ):
                report.resent.append(message.id)
                resent = sweeps.get(message.id, 0) + 1
                events.append(
                    Event(
                        type=EventType.DEFERRED,
                        occurred_at=now,
                        idempotency_key=f"{RESEND_KEY}:{message.send_attempts}:{resent}",
                        source=Source.PIPELINE,
                        message_id=message.id,
                        reason=f"no answer from the provider: sent again with the same key "
                        f"({resent} of {max_resends})",
                    )
                )
            elif message.status == Status.ATTEMPTED and sweeps.get(message.id, 0):
                # Sent again as often as allowed, and still no answer (a call
                # that always outlasts the task's hard limit): settle it.
                report.unknown.append(message.id)
                events.append(
                    Event(
                        type=EventType.FAILED,
                        occurred_at=now,
                        idempotency_key=f"failed:{message.send_attempts}",
                        source=Source.PIPELINE,
                        message_id=message.id,
                        reason=f"{OUTCOME_UNKNOWN}: no answer from the provider after "
                        f"{sweeps[message.id]} sends with the same key",
                        detail={"outcome_unknown": True},
                    )
                )
            else:
                report.unknown.append(message.id)
                events.append(
                    Event(
                        type=EventType.FAILED,
                        occurred_at=now,
                        idempotency_key=f"failed:{message.send_attempts}",
                        source=Source.PIPELINE,
                        message_id=message.id,
                        reason=REASON_OUTCOME_UNKNOWN,
                        detail={"outcome_unknown": True},
                    )
                )
        # Claimed: the next sweep leaves them alone for another period.
        Message.objects.filter(id__in=report.requeued + report.resent).update(updated_at=now)
        apply_events(events)
        messages_enqueue(report.requeued)
        messages_enqueue(report.resent, tries=1)
    return report


def _previous_resends(messages: list[Message]) -> dict[int, int]:
    """How many times the sweeper already sent each message's current attempt again."""
    if not messages:
        return {}
    attempts = {message.id: message.send_attempts for message in messages}
    counts: dict[int, int] = {}
    rows = MessageEvent.objects.filter(
        message_id__in=list(attempts), idempotency_key__startswith=f"{RESEND_KEY}:"
    ).values_list("message_id", "idempotency_key")
    for message_id, key in rows:
        if key.split(":")[1] == str(attempts[message_id]):
            counts[message_id] = counts.get(message_id, 0) + 1
    return counts


def _honours_keys(name: str) -> bool:
    # Both built-in backends honour idempotency keys; a real backend that
    # cannot would answer False here.
    return name in ("capture", "simulated")
