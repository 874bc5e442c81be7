"""Delivering the outbox: claim due notifications, POST them outside any
transaction, record each outcome.

- **Claim**: ``SELECT … FOR UPDATE SKIP LOCKED`` of pending notifications
  that are due, then a lease (``next_attempt_at`` moved
  ``TIDINGS_REPORTING_LEASE_SECONDS`` ahead) committed at once: a worker
  killed mid-delivery leaves its notifications pending, due again when the
  lease runs out (at least once, never lost).
- **Order per message**: a notification is not due while an earlier one of
  the same message for the same webhook is pending (retrying or in flight),
  so one message's notifications arrive in the order their events were
  applied; other messages' notifications are not held back by it.
- **HTTP**: one urllib3 ``PoolManager`` per worker process, so each
  endpoint's connections are kept alive across notifications and tasks, up
  to ``TIDINGS_REPORTING_CONNECTIONS`` of them, each a lane of the batch
  sent in a thread (the requests wait on the network, not the CPU); no
  redirects (a 3xx is not a success, and following one would skip the
  outbound guard), no library retries (ours are durable), a total timeout
  of ``TIDINGS_REPORTING_TIMEOUT_SECONDS``. Every URL passes the outbound
  address guard right before it is sent to.
- **Retries**: ``retry_delay`` (exponential, capped, jittered) inside a
  window of ``TIDINGS_REPORTING_RETRY_HOURS`` from the first try; then
  failed. An endpoint with no success for
  ``TIDINGS_REPORTING_DISABLE_AFTER_HOURS`` is disabled with a note.
- **Disabled endpoints**: nothing claims their notifications (a disabled
  endpoint is not subscribed), so those still pending end failed, each with
  an attempt row saying why, in the transaction that disables the endpoint
  (automatically here, or by a person: reporting.services); every delivery
  run also ends the few that come after (a redelivery to a disabled
  endpoint, an outbox row committed by a batch that read the endpoint as
  enabled while it was being disabled).
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import urllib3
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from config.outbound import OutboundRefused, guarded_pool_manager
from messaging import counters
from messaging.reporting.guard import connection_exempt, reporting_url_check
from messaging.reporting.models import (
    NotificationStatus,
    ReportingDelivery,
    ReportingNotification,
    ReportingWebhook,
)
from messaging.reporting.payload import messages_shown, notification_body
from messaging.reporting.signing import signed_headers

logger = logging.getLogger(__name__)

ERROR_MAX = 500
USER_AGENT = "Tidings-Webhooks/1 (+https://www.standardwebhooks.com/)"


# --- The retry schedule ---------------------------------------------------------------


def retry_delay(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: base·2^(n-1)
    times a jitter factor in [0.5, 1], capped. Each delay is at least the
    previous one whatever the jitter draws (the n-th lies in [d/2, d], the
    next in [d, 2d]), so the schedule only spreads out."""
    exponent = min(max(failures, 1) - 1, 40)
    return min(cap, base * 2**exponent * (0.5 + 0.5 * jitter))


def next_retry_at(
    *, failures: int, now: datetime, retry_until: datetime, jitter: float
) -> datetime | None:
    """When to try again after a failure; None once the window is over (the
    notification fails). The last try is at the window's end."""
    if now >= retry_until:
        return None
    delay = retry_delay(
        failures,
        base=settings.TIDINGS_REPORTING_RETRY_BASE_SECONDS,
        cap=settings.TIDINGS_REPORTING_RETRY_MAX_DELAY_SECONDS,
        jitter=jitter,
    )
    return min(now + timedelta(seconds=delay), retry_until)


# --- HTTP -------------------------------------------------------------------------


_pool: urllib3.PoolManager | None = None


def http_pool() -> urllib3.PoolManager:
    """This process's pool (made after a prefork worker forks, on first use):
    connections kept per endpoint (scheme, host, port)."""
    global _pool
    if _pool is None:
        # Each connection checks the address it opens (DNS rebinding).
        _pool = guarded_pool_manager(
            connection_exempt,
            num_pools=100,
            maxsize=settings.TIDINGS_REPORTING_CONNECTIONS,
            block=False,
            retries=False,
        )
    return _pool


@dataclass
class Outcome:
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0
    # The request never finished (timeout, refused connection): the rest of
    # this endpoint's batch goes back to the queue instead of waiting too.
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    started = time.monotonic()
    try:
        parsed = urllib3.util.parse_url(url)
        response = (
            http_pool()
            .connection_from_url(url)
            .urlopen(
                "POST",
                parsed.request_uri,
                body=body,
                headers={"content-type": "application/json", "user-agent": USER_AGENT, **headers},
                timeout=urllib3.Timeout(total=settings.TIDINGS_REPORTING_TIMEOUT_SECONDS),
                redirect=False,
                retries=False,
            )
        )
    except urllib3.exceptions.HTTPError as exc:
        reason = exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError) else exc
        return Outcome(
            error=_error_text(reason),
            duration_ms=_ms(started),
            unreachable=True,
        )
    outcome = Outcome(status_code=response.status, duration_ms=_ms(started))
    if not outcome.ok:
        text = response.data[:200].decode("utf-8", errors="replace").strip()
        outcome.error = f"HTTP {response.status}" + (f": {text}" if text else "")
    return outcome


def _error_text(exc: BaseException) -> str:
    # urllib3 derives NewConnectionError (refused, unresolvable, the guard)
    # from its timeout error: say what it is.
    if isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
        exc, urllib3.exceptions.NewConnectionError
    ):
        return f"timed out after {settings.TIDINGS_REPORTING_TIMEOUT_SECONDS} s"
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- Claim, send, record ------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    more: bool = False  # stopped by the time budget with work left
    outcomes: list[Outcome] = field(default_factory=list, repr=False)


def _due(now: datetime):
    earlier_pending = ReportingNotification.objects.filter(
        webhook_id=OuterRef("webhook_id"),
        message_id=OuterRef("message_id"),
        status=NotificationStatus.PENDING,
        id__lt=OuterRef("id"),
    )
    return (
        ReportingNotification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at__lte=now, webhook__enabled=True
        )
        .filter(~Exists(earlier_pending))
        .order_by("next_attempt_at", "id")
    )


_CLAIM_SQL = """
    WITH due AS (
        SELECT n.id FROM {notifications} n
        JOIN {webhooks} w ON w.id = n.webhook_id
        WHERE n.status = 'pending' AND n.next_attempt_at <= %s AND w.enabled
          AND NOT EXISTS (
              SELECT 1 FROM {notifications} p
              WHERE p.webhook_id = n.webhook_id AND p.message_id = n.message_id
                AND p.status = 'pending' AND p.id < n.id)
        ORDER BY n.next_attempt_at, n.id
        LIMIT %s
        FOR UPDATE OF n SKIP LOCKED
    )
    UPDATE {notifications} t SET next_attempt_at = %s FROM due WHERE t.id = due.id
    RETURNING {columns}
"""


def notifications_claim(*, limit: int, now: datetime | None = None) -> list[ReportingNotification]:
    """Up to ``limit`` due notifications, leased to this caller, in id order."""
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.TIDINGS_REPORTING_LEASE_SECONDS)
    if connection.features.has_select_for_update_skip_locked:
        # One statement (one round trip, atomic on its own): lock what is due,
        # skipping rows another worker is claiming, lease them, return them.
        # Read in binary (counters.select_bound), every column in the model's
        # order: Django's own loader parses each timestamp in Python.
        q = connection.ops.quote_name
        fields = ReportingNotification._meta.concrete_fields
        sql = _CLAIM_SQL.format(
            notifications=q(ReportingNotification._meta.db_table),
            webhooks=q(ReportingWebhook._meta.db_table),
            columns=", ".join(f"t.{q(f.column)}" for f in fields),
        )
        names = [f.attname for f in fields]
        claimed = [
            ReportingNotification.from_db(connection.alias, names, row)
            for row in counters.select_bound(sql, [now, limit, lease])
        ]
        return sorted(claimed, key=lambda notification: notification.id)
    # SQLite (no row locks): each row taken with a compare-and-swap on the
    # time that made it due; a row another process took first changes no row.
    ids = []
    for notification_id, due_at in _due(now).values_list("id", "next_attempt_at")[:limit]:
        taken = ReportingNotification.objects.filter(
            id=notification_id, next_attempt_at=due_at, status=NotificationStatus.PENDING
        ).update(next_attempt_at=lease)
        if taken:
            ids.append(notification_id)
    return list(ReportingNotification.objects.filter(id__in=ids).order_by("id"))


def notifications_deliver(
    *, budget_seconds: float | None = None, limit: int | None = None
) -> DeliveryReport:
    """Claims and sends due notifications until none is due or the time
    budget is spent."""
    budget = settings.TIDINGS_REPORTING_TASK_SECONDS if budget_seconds is None else budget_seconds
    limit = limit or settings.TIDINGS_REPORTING_BATCH_SIZE
    stop_at = time.monotonic() + budget
    report = DeliveryReport()
    # What reached a disabled endpoint after its disabling ended the rest (a
    # redelivery, a batch's outbox row racing the disable): one query.
    report.failed += notifications_end_disabled(now=timezone.now())
    while True:
        if time.monotonic() >= stop_at:
            report.more = True
            break
        claimed = notifications_claim(limit=limit)
        if not claimed:
            break
        _deliver_claimed(claimed, stop_at, report)
    return report


def _deliver_claimed(
    notifications: list[ReportingNotification], stop_at: float, report: DeliveryReport
) -> None:
    webhooks = ReportingWebhook.objects.in_bulk({n.webhook_id for n in notifications})
    # A webhook deleted since the claim took its notifications with it.
    notifications = [n for n in notifications if n.webhook_id in webhooks]
    for notification in notifications:
        notification.webhook = webhooks[notification.webhook_id]
    messages, contents = messages_shown(
        [n.message_id for n in notifications],
        content_ids={n.message_id for n in notifications if n.webhook.include_content},
    )
    refused: dict[int, str] = {}  # webhook id -> why its URL is refused now
    for webhook in {n.webhook_id: n.webhook for n in notifications}.values():
        try:
            reporting_url_check(webhook.url)
            refused[webhook.id] = ""
        except OutboundRefused as exc:
            refused[webhook.id] = f"refused by the outbound address guard: {exc}"
    results: list[tuple[ReportingNotification, Outcome, datetime]] = []
    released: list[int] = []
    unreachable: set[int] = set()

    def lane(share: list[ReportingNotification]) -> None:
        # One keep-alive connection's worth of the batch, in order. The
        # batch holds at most one notification per message and webhook (the
        # claim's order rule), so lanes running side by side reorder nothing
        # within a message.
        for notification in share:
            webhook = notification.webhook
            if time.monotonic() >= stop_at or webhook.id in unreachable:
                released.append(notification.id)
                continue
            sent_at = timezone.now()
            if refused[webhook.id]:
                outcome = Outcome(error=refused[webhook.id])
            else:
                body = notification_body(
                    notification,
                    messages[notification.message_id],
                    contents.get(notification.message_id) if webhook.include_content else None,
                )
                headers = signed_headers(
                    secret=webhook.secret,
                    msg_id=notification.webhook_msg_id,
                    at=sent_at,
                    body=body,
                )
                outcome = post(webhook.url, body.encode(), headers)
            if outcome.unreachable:
                unreachable.add(webhook.id)
            results.append((notification, outcome, sent_at))

    lanes = settings.TIDINGS_REPORTING_CONNECTIONS
    shares = [notifications[i::lanes] for i in range(lanes) if notifications[i::lanes]]
    if len(shares) == 1:
        lane(shares[0])
    else:
        # The requests wait on the network, not the CPU: a few at a time
        # (threads release the GIL while they wait).
        list(_lanes_executor().map(lane, shares))
    outcomes_record(results, released=released, report=report)


_executor: ThreadPoolExecutor | None = None


def _lanes_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:  # made in the worker process, after the fork
        _executor = ThreadPoolExecutor(
            max_workers=settings.TIDINGS_REPORTING_CONNECTIONS, thread_name_prefix="reporting"
        )
    return _executor


_ATTEMPT_FIELDS = (
    "webhook",
    "notification",
    "attempt",
    "status_code",
    "error",
    "at",
    "next_retry_at",
    "duration_ms",
)


def outcomes_record(
    results: list[tuple[ReportingNotification, Outcome, datetime]],
    *,
    released: list[int],
    report: DeliveryReport,
) -> None:
    """One transaction per batch: the notifications' new state, an attempt
    row per POST, the endpoints' health."""
    now = timezone.now()
    window = timedelta(hours=settings.TIDINGS_REPORTING_RETRY_HOURS)
    attempts = []
    ok_webhooks: set[int] = set()
    failing_webhooks: dict[int, str] = {}
    for notification, outcome, sent_at in results:
        report.outcomes.append(outcome)
        notification.tries += 1
        if notification.retry_until is None:
            notification.retry_until = sent_at + window
        next_retry = None
        if outcome.ok:
            notification.status = NotificationStatus.DELIVERED
            notification.delivered_at = now
            notification.failures = 0
            ok_webhooks.add(notification.webhook_id)
            report.delivered += 1
        else:
            notification.failures += 1
            next_retry = next_retry_at(
                failures=notification.failures,
                now=now,
                retry_until=notification.retry_until,
                jitter=random.random(),  # spreads retries; not a secret
            )
            if next_retry is None:
                notification.status = NotificationStatus.FAILED
                report.failed += 1
            else:
                notification.next_attempt_at = next_retry
                report.retrying += 1
            failing_webhooks[notification.webhook_id] = outcome.error
        attempts.append(
            (
                notification.webhook_id,
                notification.id,
                notification.tries,
                outcome.status_code,
                outcome.error[:ERROR_MAX],
                sent_at,
                next_retry,
                outcome.duration_ms,
            )
        )
    with transaction.atomic():
        if released:
            # Not tried (time budget, or the endpoint just proved unreachable):
            # due again now, for this worker or another.
            ReportingNotification.objects.filter(
                id__in=released, status=NotificationStatus.PENDING
            ).update(next_attempt_at=now)
            report.released += len(released)
        counters.bulk_update_rows(
            ReportingNotification,
            [notification for notification, _, _ in results],
            [
                "status",
                "tries",
                "failures",
                "next_attempt_at",
                "retry_until",
                "delivered_at",
            ],
        )
        # A webhook deleted meanwhile took its notifications with it; the
        # UPDATE above locked those still here, so none can go before the
        # attempts that name them are inserted.
        present = set(
            ReportingNotification.objects.filter(
                id__in=[attempt[1] for attempt in attempts]
            ).values_list("id", flat=True)
        )
        attempts = [attempt for attempt in attempts if attempt[1] in present]
        counters.bulk_insert(ReportingDelivery, attempts, _ATTEMPT_FIELDS)
        _webhook_health(ok_webhooks, failing_webhooks, now)
        # Disabled just now, or by a person while this batch was in flight
        # (then the UPDATE above made its retries pending again).
        report.failed += notifications_end_disabled(
            now=now, webhook_ids={notification.webhook_id for notification, _, _ in results}
        )


def _webhook_health(ok: set[int], failing: dict[int, str], now: datetime) -> None:
    if ok:
        ReportingWebhook.objects.filter(id__in=ok, failing_since__isnull=False).update(
            failing_since=None
        )
    failing_only = {webhook: error for webhook, error in failing.items() if webhook not in ok}
    if not failing_only:
        return
    ReportingWebhook.objects.filter(id__in=failing_only, failing_since__isnull=True).update(
        failing_since=now
    )
    limit = timedelta(hours=settings.TIDINGS_REPORTING_DISABLE_AFTER_HOURS)
    dead = ReportingWebhook.objects.filter(
        id__in=failing_only, enabled=True, failing_since__lte=now - limit
    )
    for webhook in dead.only("id", "failing_since"):
        note = (
            f"Disabled automatically at {now:%Y-%m-%d %H:%M} UTC: no delivery succeeded since "
            f"{webhook.failing_since:%Y-%m-%d %H:%M} UTC. Last error: {failing_only[webhook.id]}"
        )[:2000]
        # Queryset update: the per-process cache of enabled webhooks only
        # spares ingest a query, so it need not hear of this.
        ReportingWebhook.objects.filter(id=webhook.id, enabled=True).update(
            enabled=False, disabled_note=note, updated_at=now
        )
        logger.warning("Reporting webhook %s disabled: %s", webhook.id, note)


DISABLED = "not sent: the endpoint was disabled"


def notifications_end_disabled(*, now: datetime, webhook_ids: set[int] | None = None) -> int:
    """Fails the pending notifications of disabled endpoints (of those given,
    or of all), each with an attempt row saying so; returns how many. Rows
    locked by a worker recording its batch are skipped (that worker ends
    them), so this never waits on, or deadlocks with, another batch."""
    disabled = ReportingWebhook.objects.filter(enabled=False)
    if webhook_ids is not None:
        disabled = disabled.filter(id__in=webhook_ids)
    reasons = {
        # Only the automatic disabling leaves a note.
        webhook_id: (f"{DISABLED} ({note})" if note else DISABLED)[:ERROR_MAX]
        for webhook_id, note in disabled.values_list("id", "disabled_note")
    }
    if not reasons:
        return 0
    with transaction.atomic():
        # By endpoint id: reportnotif_order_idx finds their pending rows.
        stranded = ReportingNotification.objects.select_for_update(
            skip_locked=True, of=("self",)
        ).filter(webhook_id__in=reasons, webhook__enabled=False, status=NotificationStatus.PENDING)
        rows = list(stranded.values_list("id", "webhook_id", "tries"))
        if not rows:
            return 0
        ReportingNotification.objects.filter(id__in=[row[0] for row in rows]).update(
            status=NotificationStatus.FAILED, tries=F("tries") + 1
        )
        counters.bulk_insert(
            ReportingDelivery,
            [
                (
                    webhook_id,
                    notification_id,
                    tries + 1,
                    None,
                    reasons[webhook_id],
                    now,
                    None,
                    0,
                )
                for notification_id, webhook_id, tries in rows
            ],
            _ATTEMPT_FIELDS,
        )
    return len(rows)


# --- Redelivery and the trigger -------------------------------------------------------


def delivery_redeliver(*, delivery: ReportingDelivery) -> ReportingNotification:
    """Sends the attempt's notification again (same webhook-id), with a new
    retry window, whatever its state."""
    now = timezone.now()
    ReportingNotification.objects.filter(id=delivery.notification_id).update(
        status=NotificationStatus.PENDING,
        next_attempt_at=now,
        retry_until=None,
        failures=0,
        delivered_at=None,
    )
    transaction.on_commit(delivery_kick)
    return ReportingNotification.objects.get(id=delivery.notification_id)


# One process enqueues at most one delivery task per this many seconds (a
# task runs until nothing is due, so more would only find nothing); a kick
# inside the interval sends one task delayed to its end, so the last
# notifications of a burst wait at most that long, not for beat.
KICK_INTERVAL = 0.25
_kicked_at = 0.0
_deferred_until = 0.0


def delivery_kick() -> None:
    """A delivery task (after the commit that made notifications due). A
    broker that is down loses nothing: beat's periodic run finds them."""
    global _kicked_at, _deferred_until
    from kombu.exceptions import OperationalError

    from messaging.reporting.tasks import deliver_reporting_webhooks

    now = time.monotonic()
    countdown = None
    if not settings.CELERY_TASK_ALWAYS_EAGER:  # eager: no beat, so every kick runs
        if now - _kicked_at < KICK_INTERVAL:
            if _deferred_until > now:
                return
            countdown = KICK_INTERVAL
            _deferred_until = now + KICK_INTERVAL
        else:
            _kicked_at = now
    try:
        deliver_reporting_webhooks.apply_async(countdown=countdown)
    except OperationalError:
        logger.warning("Could not enqueue reporting webhook delivery; beat's run will find it")
