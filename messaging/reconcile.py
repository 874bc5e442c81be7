"""Recounts every metric counter (and every message's derived state) from the
event log, and reports or repairs the drift."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import (
    Action,
    ActionCounter,
    BounceReasonCounter,
    LinkCounter,
    SeriesCounter,
)
from messaging import counters
from messaging.ingest import (
    assign_state,
    contribution_of,
    fact_of,
    save_message_states,
    state_of_message,
)
from messaging.models import Message, MessageEvent

_CHUNK = 2000


@dataclass
class Drift:
    counters: dict[tuple, tuple[int, int]] = field(default_factory=dict)  # key: (stored, recounted)
    messages: list[int] = field(default_factory=list)  # ids whose derived fields differ

    def __bool__(self) -> bool:
        return bool(self.counters or self.messages)


def _messages(campaign_id: int | None) -> Iterator[list[Message]]:
    queryset = Message.objects.order_by("id")
    if campaign_id is not None:
        queryset = queryset.filter(campaign_id=campaign_id)
    last = 0
    while True:
        chunk = list(queryset.filter(id__gt=last)[:_CHUNK])
        if not chunk:
            return
        last = chunk[-1].id
        yield chunk


def recount(campaign_id: int | None = None) -> tuple[Counter, list[Message]]:
    expected: Counter = Counter()
    drifted: list[Message] = []
    for chunk in _messages(campaign_id):
        facts = defaultdict(list)
        for row in MessageEvent.objects.filter(message__in=chunk).values(
            "message_id",
            "type",
            "occurred_at",
            "idempotency_key",
            "machine",
            "bounce_type",
            "reason",
            "link_id",
        ):
            facts[row["message_id"]].append(fact_of(row))
        for message in chunk:
            state = state_of_message(message, facts[message.id])
            expected.update(contribution_of(message, state, facts[message.id]))
            if state is not None and assign_state(message, state):
                drifted.append(message)
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
    return drift, expected, drifted


def repair(
    campaign_id: int | None, drift: Drift, expected: Counter, drifted: list[Message]
) -> None:
    """Moves every drifted counter to its recounted value (as a delta, so the
    unique rows stay), and rewrites drifted messages' derived fields."""
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
