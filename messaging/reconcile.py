"""Recounts every metric counter (and every message's derived state) from the
event log, attributes every goal event again, and reports or repairs the
drift."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from campaigns.models import (
    Action,
    ActionCounter,
    BounceReasonCounter,
    LinkCounter,
    SeriesCounter,
)
from messaging import counters
from messaging.history import pruned_contribution, retained_from
from messaging.message_states import (
    assign_state,
    contribution_of,
    save_message_states,
    state_of_message,
    stored_facts,
)
from messaging.models import Message, MessageEvent
from messaging.reattribution import ConversionDrift, conversion_drift, repair_conversions
from messaging.status import AFTER_SEND_TYPES, HANDED_OVER

_CHUNK = 2000


@dataclass
class Drift:
    counters: dict[tuple, tuple[int, int]] = field(default_factory=dict)  # key: (stored, recounted)
    messages: list[int] = field(default_factory=list)  # ids whose derived fields differ
    # Stored events that break a rule ingest enforces (message id, event id,
    # which rule): recounting cannot repair them, a person must look.
    breaches: list[tuple[int, int, str]] = field(default_factory=list)
    # Stored conversions the credit rules do not make, and the reverse.
    conversions: list[ConversionDrift] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.counters or self.messages or self.breaches or self.conversions)


def _messages(queryset) -> Iterator[list[Message]]:
    # The action's open tracking switch rides along (the status engine needs it).
    queryset = queryset.annotate(track_opens=F("action__track_opens")).order_by("id")
    last = 0
    while True:
        chunk = list(queryset.filter(id__gt=last)[:_CHUNK])
        if not chunk:
            return
        last = chunk[-1].id
        yield chunk


def retained_messages(campaign_id: int | None = None):
    """The messages whose history the log still holds (messaging.history)."""
    queryset = Message.objects.all()
    if campaign_id is not None:
        queryset = queryset.filter(campaign_id=campaign_id)
    start = retained_from()
    if start is not None:
        queryset = queryset.filter(created_at__gte=start)
    return queryset


def recount_messages(queryset) -> tuple[Counter, list[Message], dict[tuple, int]]:
    """The counters' contribution of these messages recounted from their
    events, the messages whose derived fields differ, and each key's campaign."""
    expected: Counter = Counter()
    drifted: list[Message] = []
    campaign_of_key: dict[tuple, int] = {}
    for chunk in _messages(queryset):
        facts = defaultdict(list)
        created = [message.created_at for message in chunk]
        for message_id, fact in stored_facts([m.id for m in chunk], created=created):
            facts[message_id].append(fact)
        for message in chunk:
            state = state_of_message(message, facts[message.id])
            contribution = contribution_of(message, state)
            expected.update(contribution)
            for key in contribution:
                campaign_of_key[key] = message.campaign_id
            if state is not None and assign_state(message, state):
                drifted.append(message)
    return +expected, drifted, campaign_of_key


def recount(campaign_id: int | None = None) -> tuple[Counter, list[Message]]:
    """Every counter as the log makes it: the retained messages recounted
    from their events, plus what pruned messages contributed when their
    history was dropped (recorded then, checked exact)."""
    expected, drifted, _ = recount_messages(retained_messages(campaign_id))
    expected.update(pruned_contribution(campaign_id))
    return +expected, drifted


def stored_counters(campaign_id: int | None = None) -> Counter:
    def scoped(model):
        queryset = model.objects.all()
        return queryset.filter(campaign_id=campaign_id) if campaign_id is not None else queryset

    stored: Counter = Counter()
    for action_id, metric, value in scoped(ActionCounter).values_list(
        "action_id", "metric", "value"
    ):
        stored[("action", action_id, metric)] += value
    for link_id, metric, value in scoped(LinkCounter).values_list("link_id", "metric", "value"):
        stored[("link", link_id, metric)] += value
    for action_id, basis, bucket, metric, value in scoped(SeriesCounter).values_list(
        "action_id", "basis", "bucket", "metric", "value"
    ):
        stored[("series", action_id, basis, bucket, metric)] += value
    for action_id, bounce_type, reason, value in scoped(BounceReasonCounter).values_list(
        "action_id", "bounce_type", "reason", "value"
    ):
        stored[("bounce", action_id, bounce_type, reason)] += value
    return stored


def find_drift(campaign_id: int | None = None) -> tuple[Drift, Counter, list[Message]]:
    expected, drifted = recount(campaign_id)
    stored = stored_counters(campaign_id)
    drift = Drift()
    for key in stored.keys() | expected.keys():
        if stored.get(key, 0) != expected.get(key, 0):
            drift.counters[key] = (stored.get(key, 0), expected.get(key, 0))
    drift.messages = [message.id for message in drifted]
    drift.breaches = rule_breaches(campaign_id)
    drift.conversions = list(conversion_drift(campaign_id))
    return drift, expected, drifted


def rule_breaches(campaign_id: int | None = None) -> list[tuple[int, int, str]]:
    """Stored events that break the rules ingest enforces (DESIGN.md "Status
    rules"): an attempt the message never reached, a time outside [message
    created, received + 5 min], engagement or a delivery verdict that counts
    for a message never handed to a provider."""
    from messaging.ingest import CLOCK_SKEW

    events = MessageEvent.objects.all()
    if campaign_id is not None:
        events = events.filter(message__campaign_id=campaign_id)
    checks = (
        (
            "attempt beyond the message's",
            Q(attempt__lt=1) | Q(attempt__gt=F("message__send_attempts") + 1),
        ),
        (
            "time outside [created, received + 5 min]",
            Q(occurred_at__lt=F("message__created_at"))
            | Q(occurred_at__gt=F("received_at") + CLOCK_SKEW),
        ),
    )
    found = []
    for rule, condition in checks:
        for event_id, message_id in events.filter(condition).values_list("id", "message_id"):
            found.append((message_id, event_id, rule))
    # Handed to a provider (messaging.status.HANDED_OVER): a provider's
    # callback may beat the commit of our "sent", and then counts.
    handed_over = MessageEvent.objects.filter(
        message_id=OuterRef("message_id"), type__in=list(HANDED_OVER)
    )
    unsent = (
        events.filter(type__in=AFTER_SEND_TYPES)
        .filter(~Exists(handed_over))
        .values_list("id", "message_id")
    )
    for event_id, message_id in unsent:
        found.append((message_id, event_id, "counts for a message never handed to a provider"))
    return sorted(found)


def repair(
    campaign_id: int | None, drift: Drift, expected: Counter, drifted: list[Message]
) -> None:
    """Moves every drifted counter to its recounted value (as a delta, so the
    unique rows stay), and rewrites drifted messages' derived fields.
    Drifted conversions are attributed again first (which moves counters by
    their own difference), then the counters are recounted."""
    if drift.conversions:
        repair_conversions(drift.conversions)
        drift, expected, drifted = find_drift(campaign_id)
    campaign_of_action = dict(Action.objects.values_list("id", "campaign_id"))
    delta = {key: recounted - stored for key, (stored, recounted) in drift.counters.items()}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Writers must not move counters between our read and our write.
            with connection.cursor() as cursor:
                cursor.execute(
                    "LOCK TABLE campaigns_actioncounter, campaigns_linkcounter, "
                    "campaigns_seriescounter, campaigns_bouncereasoncounter "
                    "IN SHARE ROW EXCLUSIVE MODE"
                )
        counters.apply_delta(delta, campaign_of_action)
        save_message_states(drifted, timezone.now())
