"""Deliverability (DESIGN.md, CONTRACT.md "Deliverability"): counters by
mailbox provider, bounce reasons, the bulk-sender spam thresholds and stale
messages.

Writing side: ``add_contribution`` extends one email message's metric
contribution (campaigns.metrics.message_contribution) with the same action
and series counters under its mailbox provider (metric ``mp.<provider>.<metric>``)
and, for a bounced message, one bounce-reason counter. messaging.ingest moves
the counters by the difference before and after, reconcile_metrics recounts
them, exactly as the headline counters.

Reading side: ``campaign_deliverability`` turns those counters into the
metrics answer's ``by_mailbox_provider``, ``bounce_reasons`` and
``sender_health``, and counts ``stale`` messages with one indexed query each.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Case, Q, Sum, When
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual, LessThan
from django.utils import timezone

from campaigns import channels
from campaigns.mailbox import APPLE, GMAIL, MAILBOX_PROVIDERS, MICROSOFT, OTHER, YAHOO
from campaigns.mailbox import mailbox_provider as mailbox_provider
from campaigns.vocabulary import Channel, Status

__all__ = [
    "APPLE",
    "GMAIL",
    "MAILBOX_PROVIDERS",
    "MICROSOFT",
    "OTHER",
    "YAHOO",
    "add_contribution",
    "campaign_deliverability",
    "mailbox_metric",
    "normalise_bounce_reason",
    "pipeline_since",
]

MAILBOX_PREFIX = "mp."
TOP_BOUNCE_REASONS = 20
REASON_LENGTH = 200
NO_REASON = "(no reason given)"
STUCK_AFTER = timedelta(hours=1)
STALE_KINDS = ("awaiting_delivery", "stuck_in_pipeline")
# Channels whose provider reports delivery: a message sent there and never
# heard of again is "awaiting delivery" (the capability table decides).
REPORTING_CHANNELS = tuple(
    sorted(str(c) for c in channels.CAPABILITIES if channels.reports_delivery(c))
)
PIPELINE_STATUSES = (Status.QUEUED, Status.ATTEMPTED)


def mailbox_metric(provider: str, metric: str) -> str:
    return f"{MAILBOX_PREFIX}{provider}.{metric}"


@lru_cache(maxsize=8)
def _prefix(provider: str) -> str:
    return mailbox_metric(provider, "")


# --- Bounce reasons -------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)\S+")
_EMAIL = re.compile(r"<?[^\s<>@\"'(),;:]+@[^\s<>\"'(),;:]+>?")
_SMTP_PREFIX = re.compile(r"^\s*(?:smtp|x-postfix|x-unix)\s*;\s*")
_ENHANCED = re.compile(r"#?\b[245]\.\d{1,3}\.\d{1,3}\b")
_BASIC = re.compile(r"\b[245]\d\d(?=[\s\-:.,;)]|$)")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b")
_IPV6 = re.compile(r"\[?\b(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}\b\]?")
_HOST = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)+\b")
_BRACKETED = re.compile(r"[\[(<{][^\])>}]{0,80}[\])>}]")
# An id: a token with a digit in it (queue ids, message ids, hex, dates).
_ID = re.compile(r"\b[\w-]*\d[\w-]*\b")
_NOT_WORD = re.compile(r"[^a-z']+")


@lru_cache(maxsize=4096)
def normalise_bounce_reason(text: str) -> str:
    """A bounce text with what varies per message stripped: SMTP basic and
    enhanced status codes, addresses, URLs, host names, IP addresses and ids
    (any token holding a digit), then lower-cased with punctuation folded,
    so "550 5.1.1 <ada@example.com>: user unknown" and "550-5.1.1 User
    unknown (bob@example.org)" both read "user unknown"."""
    s = (text or "").lower()
    s = _SMTP_PREFIX.sub("", s)
    s = _URL.sub(" ", s)
    s = _EMAIL.sub(" ", s)
    s = _ENHANCED.sub(" ", s)
    s = _BASIC.sub(" ", s)
    s = _IPV4.sub(" ", s)
    s = _IPV6.sub(" ", s)
    s = _HOST.sub(" ", s)
    s = _BRACKETED.sub(" ", s)
    s = _ID.sub(" ", s)
    s = " ".join(word.strip("'") for word in _NOT_WORD.sub(" ", s).split())
    s = " ".join(word for word in s.split() if word)
    return s[:REASON_LENGTH].strip() or NO_REASON


# --- Writing --------------------------------------------------------------------


def add_contribution(
    out: dict[tuple, int], *, channel: str, address: str, state: Any
) -> dict[tuple, int]:
    """Adds an email message's deliverability counters to its contribution
    ``out`` (as message_contribution built it): each action and series
    counter again under the recipient's mailbox provider, and a bounced
    message's normalised reason (its latest bounce's: the status engine's
    MessageState.bounce_reason). Other channels add nothing."""
    if channel != Channel.EMAIL or not out:
        return out
    prefix = _prefix(mailbox_provider(address))
    extra: dict[tuple, int] = {}
    action_id = None
    for key, value in out.items():
        kind = key[0]
        if kind == "action":
            action_id = key[1]
            extra[("action", key[1], prefix + key[2])] = value
        elif kind == "series":
            extra[("series", key[1], key[2], key[3], prefix + key[4])] = value
    bounce_type = getattr(state, "bounce_type", None)
    if bounce_type and action_id is not None:
        reason = normalise_bounce_reason(state.bounce_reason)
        extra[("bounce", action_id, bounce_type, reason)] = 1
    out.update(extra)
    return out


# --- Reading --------------------------------------------------------------------


def mailbox_raw(raw: Mapping[str, int]) -> dict[str, Counter]:
    """Per mailbox provider, its counters under their plain metric names."""
    split: dict[str, Counter] = {provider: Counter() for provider in MAILBOX_PROVIDERS}
    for metric, value in raw.items():
        if not metric.startswith(MAILBOX_PREFIX):
            continue
        provider, _, name = metric[len(MAILBOX_PREFIX) :].partition(".")
        if provider in split:
            split[provider][name] += value
    return split


def by_mailbox_provider(
    actions: Iterable[tuple[bool, Mapping[str, int]]],
) -> dict[str, dict[str, Any]]:
    """The metric blocks per mailbox provider of some email actions, each given
    as (its open-tracking switch, its counters), so an action whose open
    tracking is off counts in no open rate (campaigns.metrics)."""
    from campaigns import metrics

    split: dict[str, list[tuple[bool, Counter]]] = {p: [] for p in MAILBOX_PROVIDERS}
    for opens, raw in actions:
        for provider, counts in mailbox_raw(raw).items():
            split[provider].append((opens, counts))
    return {provider: metrics.email_block(slices) for provider, slices in split.items()}


def sender_health(blocks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Gmail's and Yahoo's spam rates (spammed / delivered) against the
    bulk-sender thresholds."""
    from campaigns import metrics

    def spam_rate(provider: str) -> float | None:
        counts = blocks[provider]["counts"]
        return metrics.rate(counts["spammed"], counts["delivered"])

    gmail, yahoo = spam_rate(GMAIL), spam_rate(YAHOO)
    return {
        "gmail_spam_rate": gmail,
        "yahoo_spam_rate": yahoo,
        "status": metrics.spam_rate_status(gmail, yahoo),
    }


def campaigns_sender_health(campaign_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``sender_health`` of many campaigns in one query (the campaigns list)."""
    from campaigns.models import ActionCounter

    ids = list(campaign_ids)
    names = [
        mailbox_metric(provider, metric)
        for provider in (GMAIL, YAHOO)
        for metric in ("spammed", "delivered")
    ]
    raw: dict[int, Counter] = {campaign_id: Counter() for campaign_id in ids}
    for campaign_id, metric, value in (
        ActionCounter.objects.filter(campaign_id__in=ids, metric__in=names)
        .values("campaign_id", "metric")
        .annotate(total=Sum("value"))
        .values_list("campaign_id", "metric", "total")
    ):
        raw[campaign_id][metric] += value
    return {
        campaign_id: sender_health(by_mailbox_provider([(True, counts)]))
        for campaign_id, counts in raw.items()
    }


def bounce_reasons(campaign_id: int, limit: int = TOP_BOUNCE_REASONS) -> list[dict[str, Any]]:
    from campaigns.models import BounceReasonCounter

    rows = (
        BounceReasonCounter.objects.filter(campaign_id=campaign_id)
        .values("bounce_type", "reason")
        .annotate(count=Sum("value"))
        .filter(count__gt=0)
        .order_by("-count", "bounce_type", "reason")[:limit]
    )
    return [
        {"bounce_type": row["bounce_type"], "reason": row["reason"], "count": row["count"]}
        for row in rows
    ]


def stale_hours() -> int:
    return int(getattr(settings, "TIDINGS_STALE_HOURS", 24))


def pipeline_since() -> Case:
    """When a queued or attempted message entered its current status: the
    milestone of its current attempt (queued_at while queued, attempted_at
    while attempted). The status engine dates both from the current
    attempt's pipeline events only, so a retry or a sent draft starts the
    clock again; the sweeper's re-queue or re-send and a transient retry
    touch updated_at only, and leave it running.

    A row written without its pipeline event (made directly, not through
    messages_create) may sit in queued or attempted with no milestone:
    there it is the row's created_at, the earliest it can have entered the
    status (never updated_at, which the sweeper resets every
    TIDINGS_SEND_STALE_SECONDS). Never NULL, so "stuck" and "recent"
    (stale_counts) split the pipeline exactly.

    The one definition of the clock: stale_q, stale_counts and the index
    that serves them (Message.Meta.indexes, message_stuck_idx) all use it;
    the planner matches the index on this very expression."""
    return Case(
        When(status=Status.ATTEMPTED, then=Coalesce("attempted_at", "created_at")),
        default=Coalesce("queued_at", "created_at"),
    )


def in_pipeline_q() -> Q:
    """The messages that can be stuck: queued or attempted, not discarded
    (message_stuck_idx's condition)."""
    return Q(status__in=PIPELINE_STATUSES, discarded_at__isnull=True)


def stale_q(kind: str, now: datetime | None = None) -> Q:
    """The messages of one stale kind, written so that its partial index
    (Message.Meta.indexes) serves it: awaiting delivery is status "sent" (no
    delivery, bounce or failure since: any of them moves the status on) on a
    channel that reports delivery, sent before the cut-off; stuck is queued
    or attempted for more than an hour (pipeline_since: the time in that
    status, not since the row was last touched)."""
    now = now or timezone.now()
    if kind == "awaiting_delivery":
        return Q(
            status=Status.SENT,
            channel__in=REPORTING_CHANNELS,
            discarded_at__isnull=True,
            sent_at__lt=now - timedelta(hours=stale_hours()),
        )
    if kind == "stuck_in_pipeline":
        return in_pipeline_q() & Q(LessThan(pipeline_since(), now - STUCK_AFTER))
    raise ValueError(f"unknown stale kind {kind!r}")


def stale_counts(campaign_id: int, now: datetime | None = None) -> dict[str, int]:
    """Both stale kinds of one campaign, in one statement (one snapshot).

    Counting the stale messages themselves reads every one of them: at 10M
    messages a campaign may hold hundreds of thousands sent and never heard
    of again. The current-status counters already hold how many messages
    sit in "sent" (or queued/attempted); the stale ones are those minus the
    recent ones, and only the recent ones (sent within TIDINGS_STALE_HOURS,
    queued or attempted within the hour by pipeline_since) are read,
    through the same partial indexes.
    The result equals ``Message.objects.filter(stale_q(kind))`` exactly
    (tests/deliverability states it): the counters hold non-discarded
    messages only, like stale_q."""
    from django.db import connection

    from campaigns.metrics import current_metric
    from campaigns.models import Action, ActionCounter
    from messaging.models import Message

    now = now or timezone.now()
    awaiting_cut = now - timedelta(hours=stale_hours())
    stuck_cut = now - STUCK_AFTER
    quote = connection.ops.quote_name
    message = quote(Message._meta.db_table)
    counter = quote(ActionCounter._meta.db_table)
    action = quote(Action._meta.db_table)
    if connection.vendor != "postgresql":
        # SQLite (the embedded default): the plain per-kind counts.
        return {
            kind: Message.objects.filter(stale_q(kind, now), campaign_id=campaign_id).count()
            for kind in STALE_KINDS
        }
    reporting = ", ".join(["%s"] * len(REPORTING_CHANNELS))
    pipeline = ", ".join(["%s"] * len(PIPELINE_STATUSES))
    # The pipeline's recent messages, compiled from pipeline_since (one
    # definition of the clock) so message_stuck_idx serves the range.
    recent_in_pipeline, recent_params = (
        Message.objects.filter(
            in_pipeline_q(),
            GreaterThanOrEqual(pipeline_since(), stuck_cut),
            campaign_id=campaign_id,
        )
        .order_by()
        .values("id")
        .query.sql_with_params()
    )
    # The complement of stale_q among the messages the counters hold: a sent
    # message without a send time (none should exist) is not stale there.
    # Two range counts, not one OR, so each stays an index range scan.
    sql = f"""
        SELECT
          (SELECT coalesce(sum(c.value), 0) FROM {counter} c JOIN {action} a ON a.id = c.action_id
            WHERE c.campaign_id = %s AND c.metric = %s AND a.channel IN ({reporting}))
          - (SELECT count(*) FROM {message}
              WHERE campaign_id = %s AND status = %s AND channel IN ({reporting})
                AND discarded_at IS NULL AND sent_at >= %s)
          - (SELECT count(*) FROM {message}
              WHERE campaign_id = %s AND status = %s AND channel IN ({reporting})
                AND discarded_at IS NULL AND sent_at IS NULL),
          (SELECT coalesce(sum(value), 0) FROM {counter}
            WHERE campaign_id = %s AND metric IN ({pipeline}))
          - (SELECT count(*) FROM ({recent_in_pipeline}) AS recent)
    """
    statuses = [str(s) for s in PIPELINE_STATUSES]
    params = [
        *(campaign_id, current_metric(Status.SENT), *REPORTING_CHANNELS),
        *(campaign_id, str(Status.SENT), *REPORTING_CHANNELS, awaiting_cut),
        *(campaign_id, str(Status.SENT), *REPORTING_CHANNELS),
        *(campaign_id, *(current_metric(s) for s in statuses)),
        *recent_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        awaiting, stuck = cursor.fetchone()
    # Never below zero: a drifted counter (reconcile_metrics reports and
    # repairs it) shows as no stale messages rather than a negative count.
    return dict(zip(STALE_KINDS, (max(0, int(awaiting)), max(0, int(stuck))), strict=True))


def campaign_deliverability(
    campaign_id: int, email_actions: Sequence[tuple[bool, Mapping[str, int]]]
) -> dict[str, Any]:
    """The metrics answer's deliverability keys; ``email_actions`` are the
    campaign's email actions as (open-tracking switch, counters), which
    campaign_metrics has at hand."""
    blocks = by_mailbox_provider(email_actions)
    return {
        "by_mailbox_provider": blocks,
        "bounce_reasons": bounce_reasons(campaign_id),
        "sender_health": sender_health(blocks),
        "stale": stale_counts(campaign_id),
    }
