"""The webhook inbox (DESIGN.md "Architecture"): every authenticated provider
request is stored raw and committed on its own, then applied.

- ``webhook_request_store`` inserts the raw request in its own transaction;
  the unique (provider, dedup_key) makes a replayed request a no-op.
- ``webhook_request_apply`` hands the whole batch to ``apply_events`` in one
  call and records the outcome on the row in the same transaction: applied;
  waiting (some events name a message we cannot find yet — a callback that
  beat the send's commit); or failed with the error, for the sweeper.
- ``webhook_requests_sweep`` (the Celery beat task ``messaging.sweep_webhooks``)
  retries failed rows with backoff, rows left pending by a crash, and waiting
  rows whose messages now exist. Waiting rows keep the ids they wait for, so
  finding the ones that became matchable is two indexed queries, not a
  re-apply of every waiting batch.
- ``webhook_requests_replay`` (``manage.py replay_webhooks``) re-applies
  stored rows; applying is idempotent, so a replay never counts twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType

import requests
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.vocabulary import EventType
from config.outbound import outbound_url_check
from messaging.events import Event
from messaging.models import Message, MessageEvent, WebhookRequest, WebhookStatus
from messaging.quarantine import apply_events_isolated, clean_text
from messaging.webhooks.providers import mailgun, postmark, sendgrid, ses, twilio

logger = logging.getLogger(__name__)

PARSERS: dict[str, ModuleType] = {
    module.PROVIDER: module for module in (sendgrid, twilio, mailgun, postmark, ses)
}

# Waiting rows are checked by every sweep for this long after they arrived. A
# callback can only beat its message by the length of a send's transaction,
# so a day is generous; older rows stay in the inbox for replay_webhooks.
WAIT_HORIZON = timedelta(days=1)
# A row still pending after this long lost its process while applying (a
# live apply of a 1,000-event batch takes well under a second; the database
# connection died under it, so even its failure could not be recorded). The
# sweeper takes it up within its next interval; were the first process still
# applying, applying twice is harmless (events are stored once per message).
STALE_PENDING = timedelta(seconds=settings.TIDINGS_WEBHOOK_STALE_PENDING_SECONDS)
# The first retry of a failed apply: within the next sweep or two.
FIRST_RETRY = timedelta(seconds=settings.TIDINGS_WEBHOOK_FIRST_RETRY_SECONDS)
# A sweeper's hold on a row it is applying, so a second sweeper skips it.
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 10
SWEEP_LIMIT = 500
WAITING_SCAN_LIMIT = 20_000
SNS_CONFIRM_TIMEOUT = 10

# Never stored: Postmark's basic auth is a live credential.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

# The HTTP GET that confirms an SNS subscription (tests replace it: the real
# SubscribeURL is on Amazon's side).
http_get = requests.get


# Providers whose callbacks carry both our message id and the provider's
# exact message id: the two must agree (CONTRACT.md: a Twilio MessageSid
# that differs from the stored one is refused), so a captured callback cannot
# be replayed at, or re-split onto, another send.
PROVIDER_ID_CHECKED = frozenset({twilio.PROVIDER})


class ForeignProviderId(Exception):
    """A stored request names our message with another message's provider id."""


def foreign_provider_ids(events: Sequence[Event]) -> list[str]:
    """What is wrong with the events whose provider message id is not the one
    we were given for the attempt they name (CONTRACT.md: "differs from the
    message's stored provider id for that attempt"). The current attempt's id
    is on the message; an earlier attempt's is on that attempt's ``sent``
    event. An attempt with no id yet (the callback beat the send's commit)
    passes: the request waits and is checked again when it is applied. After
    a retry the message still carries the previous attempt's id until the new
    send commits (its id and its ``sent`` event land together), so a retry's
    id is the message's only once that attempt has its ``sent`` event."""
    claimed = {
        (e.message_id, e.attempt): e.provider_message_id
        for e in events
        if e.message_id is not None and e.provider_message_id
    }
    if not claimed:
        return []
    current = {
        message_id: (attempts + 1, provider_id)
        for message_id, attempts, provider_id in Message.objects.filter(
            id__in={message_id for message_id, _ in claimed}
        ).values_list("id", "send_attempts", "provider_message_id")
    }
    earlier = {
        (message_id, attempt)
        for message_id, attempt in claimed
        if message_id in current and attempt is not None and attempt < current[message_id][0]
    }
    # A retry's attempt, while the message still holds an id: whose it is
    # depends on whether this attempt has been sent yet.
    retried = {
        (message_id, current[message_id][0])
        for message_id, attempt in claimed
        if message_id in current
        and current[message_id][0] > 1
        and current[message_id][1]
        and (attempt is None or attempt >= current[message_id][0])
    }
    given: dict[tuple[int, int], str] = {}
    if earlier or retried:
        for message_id, attempt, detail in MessageEvent.objects.filter(
            message_id__in={message_id for message_id, _ in earlier | retried},
            attempt__in={attempt for _, attempt in earlier | retried},
            type=EventType.SENT,
        ).values_list("message_id", "attempt", "detail"):
            given[(message_id, attempt)] = (detail or {}).get("provider_message_id", "")
    wrong = []
    for (message_id, attempt), claimed_id in claimed.items():
        if message_id not in current:
            continue
        if (message_id, attempt) in earlier:
            stored = given.get((message_id, attempt), "")
        elif (message_id, current[message_id][0]) in retried:
            # Sent: the message's id is this attempt's; not yet: it has none.
            sent = (message_id, current[message_id][0]) in given
            stored = current[message_id][1] if sent else ""
        else:
            stored = current[message_id][1]
        if stored and stored != claimed_id:
            wrong.append(f"message {message_id} was sent as {stored!r}, not {claimed_id!r}")
    return wrong


def body_digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()


def stored_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {
        clean_text(name): clean_text(value)
        for name, value in headers
        if name.lower() not in SENSITIVE_HEADERS
    }


def webhook_request_store(
    *,
    provider: str,
    received_at: datetime,
    url: str,
    headers: dict[str, str],
    body: bytes,
    dedup_key: str,
    fingerprint: str = "",
) -> tuple[WebhookRequest, bool]:
    """Inserts the raw request and commits it. (row, True) when new; (the
    stored row, False) when this provider request was stored before."""
    row = WebhookRequest(
        provider=provider,
        received_at=received_at,
        url=url[:2000],
        headers=headers,
        body=body,
        dedup_key=dedup_key[:255],
        fingerprint=fingerprint,
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        existing = (
            WebhookRequest.objects.filter(provider=provider, dedup_key=dedup_key[:255])
            .only("id", "provider", "fingerprint", "status")
            .first()
        )
        if existing is None:
            raise
        return existing, False
    return row, True


def request_events(request: WebhookRequest) -> list[Event]:
    """The stored request parsed again, exactly as it was received."""
    return PARSERS[request.provider].parse(
        bytes(request.body),
        headers=request.headers,
        url=request.url,
        received_at=request.received_at,
    )


def webhook_request_apply(
    *,
    request: WebhookRequest,
    events: Sequence[Event] | None = None,
    now: datetime | None = None,
) -> str:
    """Applies a stored request (parsing its raw body unless ``events`` is
    given) and records the outcome on the row. Never raises for a failure
    while applying: the row keeps the error. Returns the row's new status."""
    now = now or timezone.now()
    attempts = request.attempts + 1
    try:
        if events is None:
            events = request_events(request)
        if request.provider in PROVIDER_ID_CHECKED:
            foreign = foreign_provider_ids(events)
            if foreign:
                raise ForeignProviderId("; ".join(foreign))
        if request.provider == ses.PROVIDER and request.status != WebhookStatus.APPLIED:
            # Network I/O, so outside any transaction (the view and the
            # sweeper call this outside one).
            _confirm_sns_subscription(request)
        with transaction.atomic():
            # Cleaned of what PostgreSQL cannot store, and an event it still
            # refuses is kept alone as "refused": no poison batch.
            result = apply_events_isolated(events)
            waiting = waiting_keys(result.unmatched)
            status = WebhookStatus.WAITING if waiting else WebhookStatus.APPLIED
            note = ""
            if result.unmatched and not waiting:
                note = f"{len(result.unmatched)} events name no message and were skipped"
            WebhookRequest.objects.filter(pk=request.pk).update(
                status=status,
                event_count=len(events),
                error=note,
                attempts=attempts,
                applied_at=now if status == WebhookStatus.APPLIED else None,
                retry_after=None,
                waiting_for=waiting,
            )
    except ForeignProviderId as exc:
        # Refused for good: never applied, and the sweeper leaves it alone.
        logger.warning("Refused %s webhook request %s: %s", request.provider, request.pk, exc)
        _mark_failed(request, exc, MAX_ATTEMPTS, now)
        return WebhookStatus.FAILED
    except Exception as exc:
        # Anything at all (a database error, a parser bug on a replay): the
        # raw request is safe in the inbox; keep the error for the sweeper.
        logger.exception("Applying %s webhook request %s failed", request.provider, request.pk)
        _mark_failed(request, exc, attempts, now)
        return WebhookStatus.FAILED
    request.status, request.attempts, request.waiting_for = status, attempts, waiting
    return status


def waiting_keys(unmatched: Iterable[Event]) -> list[str]:
    keys = set()
    for event in unmatched:
        if event.message_id is not None:
            keys.add(f"m:{event.message_id}")
        elif event.provider_message_id:
            keys.add(f"p:{event.provider_message_id}")
    return sorted(keys)


def retry_delay(attempts: int) -> timedelta:
    # FIRST_RETRY (15 s), then 1, 2, 4 … minutes, at most an hour: a database
    # hiccup heals quickly, a bug waits for a deploy (and replay_webhooks).
    if attempts <= 1:
        return FIRST_RETRY
    return timedelta(minutes=min(2 ** (attempts - 2), 60))


def _mark_failed(request: WebhookRequest, exc: Exception, attempts: int, now: datetime) -> None:
    error = clean_text(f"{type(exc).__name__}: {exc}")[:5000]
    try:
        WebhookRequest.objects.filter(pk=request.pk).update(
            status=WebhookStatus.FAILED,
            error=error,
            attempts=attempts,
            retry_after=now + retry_delay(attempts),
        )
    except DatabaseError:
        # The database is gone too: the row stays pending and the sweeper
        # takes it up as a stale pending row.
        logger.exception("Could not record the failure of webhook request %s", request.pk)
        return
    request.status, request.error, request.attempts = WebhookStatus.FAILED, error, attempts


def _confirm_sns_subscription(request: WebhookRequest) -> None:
    # verify() already refused topics outside SES_SNS_TOPIC_ARNS, and
    # subscribe_url() refuses a SubscribeURL that is not on an SNS host.
    url = ses.subscribe_url(bytes(request.body))
    if url is None:
        return
    outbound_url_check(url)  # OutboundRefused: the row fails, with the reason
    response = http_get(url, timeout=SNS_CONFIRM_TIMEOUT)
    response.raise_for_status()
    logger.warning("Confirmed the SNS subscription to %s", _topic_of(url))


def _topic_of(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return (parse_qs(urlsplit(url).query).get("TopicArn") or ["?"])[0]


# --- Sweeping and matching --------------------------------------------------


@dataclass
class InboxReport:
    applied: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def add(self, request_id: int, status: str) -> None:
        {
            WebhookStatus.APPLIED: self.applied,
            WebhookStatus.WAITING: self.waiting,
        }.get(status, self.failed).append(request_id)

    @property
    def total(self) -> int:
        return len(self.applied) + len(self.waiting) + len(self.failed)


def webhook_requests_sweep(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> InboxReport:
    """Retries what the inbox holds unapplied: failed rows whose backoff has
    passed, rows a crashed process left pending, and waiting rows whose
    messages now exist."""
    now = now or timezone.now()
    free = Q(retry_after__isnull=True) | Q(retry_after__lte=now)
    due = list(
        WebhookRequest.objects.filter(
            (Q(status=WebhookStatus.FAILED, attempts__lt=MAX_ATTEMPTS) & free)
            | (Q(status=WebhookStatus.PENDING, received_at__lt=now - STALE_PENDING) & free)
        )
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )
    due += matchable_waiting(since=now - WAIT_HORIZON, limit=limit)
    return _apply_claimed(due, now)


def webhook_requests_match_waiting(
    *,
    message_ids: Iterable[int] = (),
    provider_message_ids: Iterable[str] = (),
    now: datetime | None = None,
) -> InboxReport:
    """Applies the waiting rows that name these messages; for a caller that
    has just made messages findable (created them, or stored their provider
    ids) and wants their early callbacks applied without waiting for the
    sweeper."""
    now = now or timezone.now()
    wanted = {f"m:{i}" for i in message_ids} | {f"p:{p}" for p in provider_message_ids if p}
    if not wanted:
        return InboxReport()
    rows = _waiting_rows(since=now - WAIT_HORIZON)
    return _apply_claimed([row_id for row_id, keys in rows if wanted.intersection(keys)], now)


def matchable_waiting(*, since: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Ids of waiting rows (received since ``since``) of which at least one
    awaited message can be found now."""
    rows = _waiting_rows(since=since)
    ours: set[int] = set()
    theirs: set[str] = set()
    for _, keys in rows:
        for key in keys:
            kind, _, value = key.partition(":")
            if kind == "m" and value.isdigit():
                ours.add(int(value))
            elif kind == "p":
                theirs.add(value)
    found = set()
    if ours:
        found |= {
            f"m:{i}" for i in Message.objects.filter(id__in=ours).values_list("id", flat=True)
        }
    if theirs:
        found |= {
            f"p:{p}"
            for p in Message.objects.filter(provider_message_id__in=theirs).values_list(
                "provider_message_id", flat=True
            )
        }
    return [row_id for row_id, keys in rows if found.intersection(keys)][:limit]


def _waiting_rows(*, since: datetime) -> list[tuple[int, list[str]]]:
    return list(
        WebhookRequest.objects.filter(status=WebhookStatus.WAITING, received_at__gte=since)
        .order_by("received_at")
        .values_list("id", "waiting_for")[:WAITING_SCAN_LIMIT]
    )


def webhook_request_reapply(request_id: int, *, now: datetime | None = None) -> str | None:
    """A provider's retry of a request stored before: if it is still not
    applied (failed, or pending and stale), apply it now rather than answer
    "already received" for events nobody applied. Returns the row's new
    status, or None when there was nothing to do (applied, waiting, or being
    applied by another process)."""
    now = now or timezone.now()
    row = (
        WebhookRequest.objects.filter(pk=request_id)
        .only("status", "received_at", "attempts")
        .first()
    )
    if row is None or row.status not in (WebhookStatus.FAILED, WebhookStatus.PENDING):
        return None
    if row.status == WebhookStatus.PENDING and row.received_at > now - STALE_PENDING:
        return None  # its first apply may still be running
    # The provider's retry beats the failed row's backoff; compare-and-swap on
    # the row's state so two retries arriving together apply it once.
    claimed = WebhookRequest.objects.filter(
        pk=request_id, status=row.status, attempts=row.attempts
    ).update(retry_after=now + LEASE)
    if not claimed:
        return None
    request = WebhookRequest.objects.get(pk=request_id)
    return webhook_request_apply(request=request, now=now)


def _claim(request_id: int, now: datetime) -> WebhookRequest | None:
    # Compare-and-swap: whoever moves retry_after into the future owns the
    # row for the lease; a concurrent sweeper's UPDATE then matches nothing.
    claimed = (
        WebhookRequest.objects.filter(pk=request_id)
        .exclude(status=WebhookStatus.APPLIED)
        .filter(Q(retry_after__isnull=True) | Q(retry_after__lte=now))
        .update(retry_after=now + LEASE)
    )
    if not claimed:
        return None
    return WebhookRequest.objects.filter(pk=request_id).first()


def _apply_claimed(request_ids: list[int], now: datetime) -> InboxReport:
    report = InboxReport()
    for request_id in dict.fromkeys(request_ids):
        request = _claim(request_id, now)
        if request is not None:
            report.add(request.pk, webhook_request_apply(request=request, now=now))
    return report


# --- Replay ------------------------------------------------------------------


REPLAY_CHUNK = 100


def webhook_requests_replay(
    *,
    since: datetime | None = None,
    provider: str | None = None,
    statuses: Sequence[str] = (),
    now: datetime | None = None,
) -> InboxReport:
    """Re-applies stored requests (oldest first). Idempotent: events already
    stored are duplicates and change nothing. Asking for failed rows also
    takes rows left pending by a process that died while applying them (its
    failure could not be recorded)."""
    now = now or timezone.now()
    queryset = WebhookRequest.objects.order_by("id")
    if since is not None:
        queryset = queryset.filter(received_at__gte=since)
    if provider:
        queryset = queryset.filter(provider=provider)
    if statuses:
        wanted = Q(status__in=list(statuses))
        if WebhookStatus.FAILED in statuses:
            wanted |= Q(status=WebhookStatus.PENDING, received_at__lt=now - STALE_PENDING)
        queryset = queryset.filter(wanted)
    report = InboxReport()
    last = 0
    while True:
        # Keyset pages: rows keep their ids whatever their new status.
        chunk = list(queryset.filter(id__gt=last)[:REPLAY_CHUNK])
        if not chunk:
            return report
        last = chunk[-1].id
        for request in chunk:
            report.add(request.pk, webhook_request_apply(request=request, now=now))
