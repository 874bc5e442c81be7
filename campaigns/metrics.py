"""The metric definitions (DESIGN.md "Metric definitions"): the one module
that decides what a message counts for, and how counters become counts,
totals and rates.

Writing side: ``message_contribution`` says which counters one message adds
to; messaging.ingest moves the counters by the difference between a
message's contribution before and after a batch, and reconcile_metrics sums
contributions from scratch. Reading side: ``campaign_metrics`` reads the
counters (never the messages) and builds the API's shape.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from django.db.models import BigIntegerField, Q, Sum
from django.db.models.functions import Cast

from campaigns import channels
from campaigns.models import (
    Action,
    ActionCounter,
    Campaign,
    Link,
    LinkCounter,
    SeriesBasis,
    SeriesCounter,
)
from campaigns.vocabulary import SERIES_METRICS, BounceType, Channel, Status

# Reached counts: unique messages that ever reached the milestone.
REACHED = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "spammed",
    "unsubscribed",
)
BOUNCE_SPLIT = ("hard_bounced", "soft_bounced")
# Current counts shown in the API's counts (the rest of the buckets are the
# reached statuses above).
CURRENT_SHOWN = ("queued", "drafted", "attempted", "failed", "undeliverable", "suppressed")
TOTALS = ("opens", "clicks", "machine_opens", "machine_clicks")
SERIES = SERIES_METRICS
LINK_METRICS = ("clicks", "unique_clicks")
MESSAGES = "messages"

# Which capability each count and total needs; a channel without it shows null.
NEEDS = {
    "delivered": channels.DELIVERED,
    "opened": channels.OPENED,
    "clicked": channels.CLICKED,
    "converted": channels.CONVERTED,
    "bounced": channels.BOUNCED,
    "hard_bounced": channels.BOUNCED,
    "soft_bounced": channels.BOUNCED,
    "spammed": channels.SPAMMED,
    "unsubscribed": channels.UNSUBSCRIBED,
    "suppressed": channels.SUPPRESSED,
    "opens": channels.OPENED,
    "machine_opens": channels.OPENED,
    "clicks": channels.CLICKED,
    "machine_clicks": channels.CLICKED,
}

# rate: (numerator, denominator). "delivered" as a denominator means
# delivered where the channel reports delivery and sent where it does not.
RATES = {
    "delivery": ("delivered", "sent"),
    "open": ("opened", "delivered*"),
    "click": ("clicked", "delivered*"),
    "click_to_open": ("clicked", "opened"),
    "conversion": ("converted", "delivered*"),
    "bounce": ("bounced", "sent"),
    "spam": ("spammed", "delivered*"),
    "unsubscribe": ("unsubscribed", "delivered*"),
}
# What a rate's numerator needs: only messages whose channel (and action,
# for opens) tracks all of it count in its numerator and denominator.
RATE_NEEDS = {
    "delivery": (channels.DELIVERED,),
    "open": (channels.OPENED,),
    "click": (channels.CLICKED,),
    "click_to_open": (channels.CLICKED, channels.OPENED),
    "conversion": (channels.CONVERTED,),
    "bounce": (channels.BOUNCED,),
    "spam": (channels.SPAMMED,),
    "unsubscribe": (channels.UNSUBSCRIBED,),
}
RATE_FORMULAS = {
    name: f"{numerator} / {denominator.rstrip('*')}"
    for name, (numerator, denominator) in RATES.items()
}
REACHED_DENOMINATOR = "reached_denominator"  # internal counter behind "delivered*"


def current_metric(status: str) -> str:
    return f"current_{status}"


class StateLike(Protocol):
    status: str | None
    bounce_type: str | None
    open_count: int
    click_count: int
    machine_open_count: int
    machine_click_count: int
    link_clicks: tuple[tuple[int, int], ...]

    def at(self, milestone: str) -> datetime | None: ...


CounterKey = tuple  # ("action", action_id, metric) | ("link", link_id, metric)
#                     | ("series", action_id, basis, bucket, metric)


def hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def reached_milestone(channel: str) -> str:
    """The milestone at which a message reached the person: delivered where
    the channel reports delivery, else sent. What "delivered" means in a
    rate's denominator, and what "reached" means for conversions
    (messaging.attribution)."""
    return "delivered" if channels.reports_delivery(channel) else "sent"


_SEND = SeriesBasis.SEND.value
_EVENT = SeriesBasis.EVENT.value
_CURRENT = {status: f"current_{status}" for status in Status.values}


def message_contribution(
    *,
    action_id: int,
    channel: str,
    state: StateLike | None,
    created_at: datetime,
) -> dict[CounterKey, int]:
    """Every counter one message adds 1 (or its counts) to. ``state`` None
    means the message is out of the metrics (a discarded draft).

    Runs twice per message of every batch (before and after), so it writes
    plain dict entries: each key occurs once, except per-link keys."""
    out: dict[CounterKey, int] = {}
    if state is None or state.status is None:
        return out
    at = state.milestones
    if at["delivered"] is not None and state.status == Status.BOUNCED:
        # Delivered means it stayed delivered: a bounce after the delivery
        # report takes the message out of "delivered" (DESIGN.md).
        at = {**at, "delivered": None}
    if at["converted"] is not None and at[reached_milestone(channel)] is None:
        # Only a message that reached the person converts (DESIGN.md
        # "Converted"): attribution credits no other, and a conversion
        # event stored on one that never reached counts in no figure, so
        # the conversion rate stays within 100 %.
        at = {**at, "converted": None}
    out[("action", action_id, MESSAGES)] = 1
    out[("action", action_id, _CURRENT[state.status])] = 1
    for milestone in REACHED:
        if at[milestone] is not None:
            out[("action", action_id, milestone)] = 1
    if at["bounced"] is not None:
        split = "hard_bounced" if state.bounce_type == BounceType.HARD else "soft_bounced"
        out[("action", action_id, split)] = 1
    if at[reached_milestone(channel)] is not None:
        out[("action", action_id, REACHED_DENOMINATOR)] = 1
    for metric, value in (
        ("opens", state.open_count),
        ("clicks", state.click_count),
        ("machine_opens", state.machine_open_count),
        ("machine_clicks", state.machine_click_count),
    ):
        if value:
            out[("action", action_id, metric)] = value

    for link_id, clicks in state.link_clicks:  # one entry per link
        out[("link", link_id, "clicks")] = clicks
        out[("link", link_id, "unique_clicks")] = 1

    # Series: by send date every milestone lands in the hour the message was
    # sent (or created, before it is sent); by event date in its own hour.
    send_bucket = hour(at["sent"] or created_at)
    for milestone in SERIES:
        moment = at[milestone]
        if moment is None:
            continue
        out[("series", action_id, _SEND, send_bucket, milestone)] = 1
        event_bucket = send_bucket if moment == at["sent"] else hour(moment)
        out[("series", action_id, _EVENT, event_bucket, milestone)] = 1
    return out


def contribution_delta(
    before: Mapping[CounterKey, int], after: Mapping[CounterKey, int]
) -> dict[CounterKey, int]:
    delta: dict[CounterKey, int] = {}
    for key in before.keys() | after.keys():
        change = after.get(key, 0) - before.get(key, 0)
        if change:
            delta[key] = change
    return delta


# --- Reading ------------------------------------------------------------------


def rate(numerator: int | None, denominator: int | None) -> float | None:
    """A rate whose denominator is zero (or untracked) is undefined: None."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


class Unit(NamedTuple):
    """The counters of one action (or any set of messages of one channel and
    one open-tracking switch): what a rate may count."""

    channel: str
    opens: bool  # the action's open tracking switch
    raw: Mapping[str, int]


def unit_tracks(unit: Unit, capability: str) -> bool:
    if capability == channels.OPENED:
        return channels.opens_tracked(unit.channel, unit.opens)
    return channels.tracks(unit.channel, capability)


def _block(units: Sequence[Unit]) -> dict[str, Any]:
    """counts, totals, rates and each rate's terms from the counters of some
    units. A count that none of them tracks is None; a rate's numerator and
    denominator sum only the units that track its numerator (DESIGN.md
    "Rates"), so every rate lies in [0, 1]. No units at all (nothing to go
    by): every count 0 and every rate None."""

    def total(metric: str, members: Iterable[Unit]) -> int:
        return sum(unit.raw.get(metric, 0) for unit in members)

    def value(metric: str, *, key: str | None = None) -> int | None:
        need = NEEDS.get(metric)
        members = units if need is None else [u for u in units if unit_tracks(u, need)]
        if units and not members:
            return None
        return total(key or metric, members)

    counts = {name: value(name) for name in REACHED + BOUNCE_SPLIT}
    for status in CURRENT_SHOWN:
        counts[status] = value(status, key=current_metric(status))
    totals = {name: value(name) for name in TOTALS}
    terms = {}
    for name, (numerator, denominator) in RATES.items():
        members = [u for u in units if all(unit_tracks(u, need) for need in RATE_NEEDS[name])]
        top = bottom = None
        if members:
            top = total(numerator, members)
            bottom = total(
                REACHED_DENOMINATOR if denominator == "delivered*" else denominator, members
            )
        terms[name] = {
            "formula": RATE_FORMULAS[name],
            "numerator": top,
            "denominator": bottom,
            "value": rate(top, bottom),
            # The channels whose messages the rate counts.
            "channels": sorted({u.channel for u in members}),
        }
    rates = {name: term["value"] for name, term in terms.items()}
    return {"counts": counts, "totals": totals, "rates": rates, "terms": terms}


def email_block(actions: Iterable[tuple[bool, Mapping[str, int]]]) -> dict[str, Any]:
    """counts, totals and rates of email counters of some actions, each given
    as (its open-tracking switch, its counters) — a mailbox provider's slice."""
    return _block([Unit(Channel.EMAIL, opens, raw) for opens, raw in actions])


SPAM_RATE_WARNING = 0.001
SPAM_RATE_DANGER = 0.003


def spam_rate_status(*spam_rates: float | None) -> str:
    """ "danger" when a rate reaches 0.3 %, "warning" at 0.1 %, else "ok"."""
    worst = max((value for value in spam_rates if value is not None), default=None)
    if worst is None or worst < SPAM_RATE_WARNING:
        return "ok"
    return "danger" if worst >= SPAM_RATE_DANGER else "warning"


def status_buckets(raw: Mapping[str, int]) -> dict[str, int]:
    """Every message sits in exactly one bucket, its current status."""
    return {status: raw.get(current_metric(status), 0) for status in Status.values}


def campaign_metrics(campaign: Campaign, *, basis: str = SeriesBasis.SEND) -> dict[str, Any]:
    actions = list(Action.objects.filter(campaign=campaign).order_by("id"))
    per_action: dict[int, Counter] = defaultdict(Counter)
    for action_id, metric, value in ActionCounter.objects.filter(campaign=campaign).values_list(
        "action_id", "metric", "value"
    ):
        per_action[action_id][metric] += value

    overall: Counter = Counter()
    units = []
    per_channel: dict[str, list[Unit]] = defaultdict(list)
    by_action = []
    for action in actions:
        raw = per_action[action.id]
        overall.update(raw)
        unit = Unit(action.channel, action.track_opens, raw)
        units.append(unit)
        per_channel[action.channel].append(unit)
        by_action.append(
            {
                "action": action.id,
                "name": action.name,
                "channel": action.channel,
                **_block([unit]),
            }
        )

    links: dict[int, dict[str, Any]] = {}
    for link_id, url, metric, value in LinkCounter.objects.filter(campaign=campaign).values_list(
        "link_id", "link__url", "metric", "value"
    ):
        row = links.setdefault(
            link_id, {"link": link_id, "url": url, "clicks": 0, "unique_clicks": 0}
        )
        row[metric] += value
    for link_id, url in (
        Link.objects.filter(action__campaign=campaign)
        .exclude(id__in=links.keys())
        .values_list("id", "url")
    ):
        links[link_id] = {"link": link_id, "url": url, "clicks": 0, "unique_clicks": 0}

    # One row per hour, summed over actions and pivoted by metric in SQL: a
    # two-week campaign has thousands of (action, hour, metric) rows, and
    # loading each one's timestamp dominated the campaign page's time.
    series: dict[datetime, dict[str, Any]] = {}
    span = campaign_span(campaign)
    for row in (
        SeriesCounter.objects.filter(
            campaign=campaign, basis=basis, metric__in=SERIES, bucket__range=span
        )
        .values("bucket")
        .annotate(
            **{
                # bigint, not numeric: SUM(bigint) would load as Decimal.
                metric: Cast(Sum("value", filter=Q(metric=metric)), BigIntegerField())
                for metric in SERIES
            }
        )
        .order_by("bucket")
    ):
        bucket = row["bucket"]
        series[bucket] = {
            "bucket": bucket.isoformat(),
            **{metric: row[metric] or 0 for metric in SERIES},
        }

    return {
        "campaign": campaign.id,
        "messages": overall.get(MESSAGES, 0),
        **_block(units),
        "status_buckets": status_buckets(overall),
        "by_action": by_action,
        "by_channel": {
            channel: _block(members) for channel, members in sorted(per_channel.items())
        },
        "links": [links[key] for key in sorted(links)],
        "series": [row for _, row in sorted(series.items()) if any(row[m] for m in SERIES)],
        **_deliverability(campaign.id, units),
    }


def _deliverability(campaign_id: int, units: Sequence[Unit]) -> dict[str, Any]:
    from campaigns.deliverability import campaign_deliverability

    return campaign_deliverability(
        campaign_id, [(unit.opens, unit.raw) for unit in units if unit.channel == Channel.EMAIL]
    )


def campaigns_overview(campaign_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The headline block (messages, counts, totals, rates) of many campaigns
    in one query, for the campaigns list: the same counters and the same
    ``_block`` as ``campaign_metrics``, so both pages show the same numbers."""
    ids = list(campaign_ids)
    raw: dict[int, dict[int, Counter]] = {campaign_id: {} for campaign_id in ids}
    kinds: dict[int, tuple[str, bool]] = {}
    for campaign_id, action_id, channel, opens, metric, value in ActionCounter.objects.filter(
        campaign_id__in=ids
    ).values_list(
        "campaign_id", "action_id", "action__channel", "action__track_opens", "metric", "value"
    ):
        raw[campaign_id].setdefault(action_id, Counter())[metric] += value
        kinds[action_id] = (channel, opens)
    overview = {}
    for campaign_id, per_action in raw.items():
        units = [Unit(*kinds[action_id], counts) for action_id, counts in per_action.items()]
        messages = sum(unit.raw.get(MESSAGES, 0) for unit in units)
        overview[campaign_id] = {"messages": messages, **_block(units)}
    return overview


# Stored times may run this far past their receipt (messaging.ingest).
CLOCK_SKEW = timedelta(minutes=5)
SPAN_MARGIN = timedelta(days=1)


def campaign_span(campaign: Campaign, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The hours a campaign's chart may show: from its first message to now.
    Stored times are bounded (messaging.ingest clamps them to [message
    created, received + 5 min]), but rows written before they were could lie
    anywhere. The first message is found through the counters, like every
    other figure here: the earliest bucket by send date (a message's send,
    or its creation before it is sent)."""
    from django.db.models import Min
    from django.utils import timezone

    now = now or timezone.now()
    first = SeriesCounter.objects.filter(
        campaign=campaign, basis=_SEND, metric__in=SERIES
    ).aggregate(first=Min("bucket"))["first"]
    if first is None:
        return hour(now), now + CLOCK_SKEW
    # Its first message may have been created a while before it was sent (a
    # draft, a long queue): a day of margin keeps its own events, while what
    # lay years away (stored before clocks were bounded) stays out.
    return first - SPAN_MARGIN, now + CLOCK_SKEW
