"""The send pipeline (DESIGN.md "The send pipeline"): what a worker does.

Creating: ``action_send`` makes one message per person (queued, or drafted
when the action says so) with its rendered content, in bulk, and enqueues the
queued ones after commit, in tasks of ``TIDINGS_SEND_CHUNK_SIZE`` messages.

Sending (``messages_send``, what the task runs), per chunk:

1. claim: lock the chunk's queued messages with ``SKIP LOCKED`` and, in the
   same transaction, apply the pre-send verdicts (suppressed, undeliverable)
   and mark the rest attempted, so no other worker can take them;
2. call each channel's provider backend, outside any transaction, with the
   idempotency key ``tidings-<message id>-<attempt>``;
3. record sent (with the provider's message id), failed or undeliverable in
   one batch; a transient error leaves the message attempted with a
   ``deferred`` history event and is tried again with exponential backoff,
   until ``TIDINGS_SEND_MAX_TRIES`` tries, then failed with the reason.

A task that is redelivered (its worker died) also takes back its messages
still in attempted and calls the provider again with the same key, which a
key-honouring provider answers with its first answer. ``messaging.recovery.messages_sweep``
recovers the rest: queued messages whose task was lost, and attempted
messages with no answer (same key again where the backend honours keys,
otherwise failed "outcome unknown" for a person to retry).

Every status change goes through messaging.ingest.apply_events.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Action
from campaigns.vocabulary import EventType, Source, Status
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.message_states import lock_options
from messaging.models import Message
from messaging.quarantine import clean_events, clean_text
from messaging.sending.backends import (
    Outcome,
    ProviderTimeout,
    SendRequest,
    SendResult,
    backend_for,
)
from messaging.sending.rendering import message_headers
from messaging.sending.services import (
    OUTCOME_UNKNOWN,
    _attempt_time,
    _presend_events,
    messages_enqueue,
    presend_reads,
)
from messaging.webhooks.inbox import webhook_requests_match_waiting

logger = logging.getLogger(__name__)


# --- Sending -------------------------------------------------------------------


@dataclass
class SendReport:
    claimed: int = 0
    stopped: int = 0  # suppressed or undeliverable before any provider call
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retry_ids: list[int] = field(default_factory=list)  # transient errors, tried again later
    retry_countdown: float = 0.0


def idempotency_key(message: Message | _Row) -> str:
    """The key every provider call for this message carries: one per attempt,
    except that a person's retry of a message whose outcome was unknown
    reuses the key of the attempt the provider may hold (``key_attempt``)."""
    return f"tidings-{message.pk}-{_key_attempt(message)}"


def _key_attempt(message: Message | _Row) -> int:
    return message.key_attempt if message.key_attempt is not None else message.send_attempts


def retry_countdown(tries: int) -> float:
    return settings.TIDINGS_SEND_RETRY_BASE_SECONDS * (2 ** max(tries - 1, 0))


def messages_send(
    *,
    message_ids: Sequence[int],
    tries: int = 0,
    redelivered: bool = False,
    clock: Callable[[], datetime] = timezone.now,
    simulator: object | None = None,
    enqueue_retries: bool = True,
) -> SendReport:
    """Sends one chunk: claim, pre-send checks, provider calls, outcomes.

    ``tries`` counts the provider calls already made in this attempt (a retry
    after a transient error, or the sweeper's resend); such a run, and a
    redelivered task, also takes messages still in attempted."""
    report = SendReport()
    now = clock()
    statuses = [Status.QUEUED]
    if tries or redelivered:
        statuses.append(Status.ATTEMPTED)
    claimed = _claim(message_ids, statuses, tries, now, report)
    if not claimed:
        return report

    by_channel: dict[str, list[SendRequest]] = defaultdict(list)
    for request in claimed:
        by_channel[request.channel].append(request)
    results: list[tuple[object, list[SendRequest], list[SendResult]]] = []
    out_of_time = ""
    for channel, requests in by_channel.items():
        backend = backend_for(channel, simulator=simulator)
        if out_of_time:
            # The soft time limit struck during an earlier channel's call: no
            # more calls, record what is known before the hard limit.
            answers = _unknown(
                backend, requests, "not called: the task reached its soft time limit", called=False
            )
            results.append((backend, requests, answers))
            continue
        try:
            answers = backend.send(requests, now=now)
        except (ProviderTimeout, SoftTimeLimitExceeded) as exc:
            # No answer: the provider may hold these messages. Never a
            # failure by itself (DESIGN.md "The send pipeline" 6).
            why = str(exc) or "no answer before the task's soft time limit"
            if isinstance(exc, SoftTimeLimitExceeded):
                out_of_time = why = "no answer before the task's soft time limit"
            logger.warning(
                "Provider backend %s: %s, for %d messages", backend.name, why, len(requests)
            )
            answers = _unknown(backend, requests, why, called=True)
        except Exception as exc:  # a provider outage or a backend bug: try again later
            logger.exception(
                "Provider backend %s failed for %d messages", backend.name, len(requests)
            )
            answers = [
                SendResult(
                    message_id=request.message_id,
                    outcome=Outcome.RETRY,
                    provider=backend.name,
                    reason=f"provider error: {exc}"[:500],
                )
                for request in requests
            ]
        results.append((backend, requests, answers))

    sent_at = clock()
    _record(results, tries, sent_at, report, enqueue_retries=enqueue_retries)
    for backend, requests, answers in results:
        backend.after_recorded(requests, answers, sent_at=sent_at)
    return report


def _unknown(
    backend: object, requests: Sequence[SendRequest], why: str, *, called: bool
) -> list[SendResult]:
    return [
        SendResult(
            message_id=request.message_id,
            outcome=Outcome.UNKNOWN if called else Outcome.RETRY,
            provider=backend.name,
            reason=why[:400],
        )
        for request in requests
    ]


_CLAIM_FIELDS = (
    "id",
    "person_id",
    "action_id",
    "channel",
    "address",
    "subject",
    "body",
    "status",
    "send_attempts",
    "key_attempt",
    "queued_at",
)


class _Row:
    """A row read as plain attributes (what presend_verdict and the requests need)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def pk(self) -> int:
        return self.id


def _claim(
    message_ids: Sequence[int],
    statuses: list[str],
    tries: int,
    now: datetime,
    report: SendReport,
) -> list[SendRequest]:
    with transaction.atomic():
        # Plain rows, not model instances: this is the hot path, and ingest
        # loads (and locks again) what it needs.
        messages = [
            _Row(**row)
            for row in Message.objects.select_for_update(skip_locked=True, **lock_options())
            .filter(id__in=list(message_ids), status__in=statuses, discarded_at__isnull=True)
            .order_by("id")
            .values(*_CLAIM_FIELDS)
        ]
        if not messages:
            return []
        report.claimed = len(messages)
        people, suppressed = presend_reads(messages, now)
        events = _presend_events(messages, people, now, suppressed)
        stopped = {event.message_id for event in events}
        report.stopped = len(stopped)
        to_send = [m for m in messages if m.id not in stopped]
        events.extend(
            Event(
                type=EventType.ATTEMPTED,
                occurred_at=_attempt_time(message, now),
                idempotency_key=f"attempted:{message.send_attempts}",
                source=Source.PIPELINE,
                message_id=message.id,
                attempt=message.send_attempts + 1,
            )
            for message in to_send
            if message.status == Status.QUEUED
        )
        apply_events(events)
    actions = {
        action.id: action
        for action in Action.objects.filter(id__in={m.action_id for m in to_send}).select_related(
            "campaign"
        )
    }
    return [
        SendRequest(
            message_id=message.id,
            channel=message.channel,
            address=message.address,
            subject=message.subject,
            body=message.body,
            idempotency_key=idempotency_key(message),
            attempt=message.send_attempts + 1,
            tries=tries,
            stable_key="|".join(
                (
                    actions[message.action_id].campaign.name,
                    actions[message.action_id].name,
                    people[message.person_id].external_id,
                    # The key's attempt, not the message's: a simulated
                    # provider answers a reused key as it answered it first.
                    str(_key_attempt(message)),
                )
            ),
            person_id=message.person_id,
            action_id=message.action_id,
            headers=message_headers(message),
        )
        for message in to_send
    ]


def _record(
    results: list[tuple[object, list[SendRequest], list[SendResult]]],
    tries: int,
    now: datetime,
    report: SendReport,
    *,
    enqueue_retries: bool,
) -> None:
    attempts = {
        request.message_id: request.attempt for _, requests, _ in results for request in requests
    }
    # Event keys keep the numbering they always had (send_attempts, 0 first),
    # so a message in flight across an upgrade is not recorded twice.
    events: list[Event] = []
    provider_rows: list[tuple[int, str, str]] = []
    retry_ids: list[int] = []
    max_tries = settings.TIDINGS_SEND_MAX_TRIES
    for backend, _, answers in results:
        for answer in answers:
            attempt = attempts[answer.message_id]
            number = attempt - 1
            outcome = answer.outcome
            reason = answer.reason
            extra: dict = {}
            if outcome == Outcome.UNKNOWN:
                if backend.honours_idempotency_keys and tries + 1 < max_tries:
                    # Settled by calling again with the same key.
                    outcome, reason = Outcome.RETRY, f"{OUTCOME_UNKNOWN}: {reason}"
                else:
                    outcome = Outcome.FAILED
                    reason = f"{OUTCOME_UNKNOWN}: {reason} (after {tries + 1} tries)"
                    extra = {"outcome_unknown": True}
            if outcome == Outcome.RETRY:
                if tries + 1 >= max_tries:
                    outcome = Outcome.FAILED
                    reason = f"{reason or 'transient error'} (gave up after {tries + 1} tries)"
                else:
                    retry_ids.append(answer.message_id)
                    events.append(
                        Event(
                            type=EventType.DEFERRED,
                            occurred_at=now,
                            idempotency_key=f"deferred:{number}:{tries}",
                            source=Source.PIPELINE,
                            message_id=answer.message_id,
                            attempt=attempt,
                            provider=answer.provider,
                            reason=reason[:500],
                            detail={"try": tries + 1, **answer.detail},
                        )
                    )
            if outcome != Outcome.RETRY:
                detail = {**answer.detail, **extra}
                if answer.provider_message_id:
                    detail["provider_message_id"] = answer.provider_message_id
                events.append(
                    Event(
                        type=outcome,
                        occurred_at=now,
                        idempotency_key=f"{outcome}:{number}",
                        source=Source.PIPELINE,
                        message_id=answer.message_id,
                        attempt=attempt,
                        provider=answer.provider,
                        reason=reason[:500],
                        detail=detail,
                    )
                )
            report.outcomes[outcome] += 1
            provider_rows.append(
                (
                    answer.message_id,
                    clean_text(answer.provider)[:40],
                    clean_text(answer.provider_message_id)[:255],
                )
            )
    report.retry_ids = retry_ids
    report.retry_countdown = retry_countdown(tries + 1)
    with transaction.atomic():
        # Provider ids first: apply_events ends by upserting the campaign's
        # counter rows, which every worker's batch locks, so they are held
        # only from there to the commit.
        _store_provider_ids(provider_rows)
        # A provider's error text may hold what PostgreSQL cannot store.
        apply_events(clean_events(events))
        if retry_ids:
            # Still attempted, but alive: the sweeper must not take them.
            Message.objects.filter(id__in=retry_ids).update(updated_at=now)
        if enqueue_retries and retry_ids:
            messages_enqueue(retry_ids, tries=tries + 1, countdown=report.retry_countdown)
    # A provider's callback can beat this commit (DESIGN.md): it waits in the
    # webhook inbox until its message can be found, which is now.
    webhook_requests_match_waiting(
        message_ids=[row[0] for row in provider_rows],
        provider_message_ids=[row[2] for row in provider_rows if row[2]],
    )


def _store_provider_ids(rows: list[tuple[int, str, str]]) -> None:
    """Provider and provider message id of each answered message, in one
    statement; an answer without an id (a retry) keeps an id an earlier try got."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        with_id = [Message(id=i, provider=p, provider_message_id=m) for i, p, m in rows if m]
        without = [Message(id=i, provider=p) for i, p, m in rows if not m]
        Message.objects.bulk_update(with_id, ["provider", "provider_message_id"], batch_size=500)
        Message.objects.bulk_update(without, ["provider"], batch_size=500)
        return
    ids, providers, provider_ids = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        # Constant statement text whatever the batch size (arrays, not VALUES).
        cursor.execute(
            "UPDATE messaging_message AS t SET provider = v.provider, provider_message_id = "
            "CASE WHEN v.pmid <> '' THEN v.pmid ELSE t.provider_message_id END "
            "FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[]) AS v (id, provider, pmid) "
            "WHERE t.id = v.id",
            [ids, providers, provider_ids],
        )
