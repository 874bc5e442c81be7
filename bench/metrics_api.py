"""Server time of GET /api/v1/campaigns/<id>/metrics/ for a campaign of 10k
and of 1M messages (PostgreSQL).

The endpoint reads the pre-aggregated counters only, so what matters is how
many counter rows a campaign has, not how many messages:

- **10k**: built for real. 10k people, a campaign with an email step (two
  tracked links), an SMS step (one link) and a push step; messages created
  by the pipeline's own ``messages_create``; a realistic journey per message
  (sent over two weeks; delivered, bounced hard/soft, opened, machine opens,
  clicks per link, unsubscribes, spam complaints, conversions, with delays
  of minutes to days) applied through ``messaging.ingest.apply_events``,
  which moves the counters exactly as production does.
- **1M**: *synthetic counters, no messages.* Creating and ingesting 1M
  messages would take most of an hour on this machine and the endpoint
  never reads them. Instead the same three steps get, with one
  ``INSERT ... SELECT generate_series`` per counter table, every counter row
  1M messages sent over the same two weeks would produce: each action
  metric (values of a 1M-message campaign), each link counter, and a series
  row for every (action, basis, hour, metric) of the two weeks plus a
  three-day tail of late events — a full grid, i.e. at least as many rows as
  the real 1M campaign would have (the 10k campaign leaves some hours empty).

Timed through Django's test Client with a token (URL routing, token
authentication, the counter queries, JSON rendering, all in process; no
network), the median of REPEAT requests after a warm-up, for each basis.
scale=0.1 builds 1k messages and 100k synthetic ones instead.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

REPEAT = 60
START = datetime(2026, 11, 1, tzinfo=UTC)
SEND_HOURS = 14 * 24
TAIL_HOURS = 3 * 24


def _build_steps(name: str):
    from campaigns.services import action_create, campaign_create

    campaign = campaign_create(name=name, conversion_event="purchase")
    email = action_create(
        campaign=campaign,
        name="Email",
        channel="email",
        subject="Spring",
        body='<a href="https://example.com/sale">Sale</a> <a href="https://example.com/faq">FAQ</a>',
    )
    sms = action_create(
        campaign=campaign, name="SMS", channel="sms", body="Sale: https://example.com/s"
    )
    push = action_create(campaign=campaign, name="Push", channel="push", body="Sale today")
    return campaign, [email, sms, push]


def _journey(rnd: random.Random, message, links: list[int]) -> list:
    """The events of one message, as providers and recipients would report them."""
    from campaigns.vocabulary import BounceType, Channel, EventType, Source
    from messaging.events import Event

    sent = START + timedelta(seconds=rnd.uniform(0, SEND_HOURS * 3600))
    events = []

    def add(type_, after_s, source=Source.PROVIDER, **fields):
        events.append(
            Event(
                type=type_,
                occurred_at=sent + timedelta(seconds=after_s),
                idempotency_key=f"bench:{type_}:{len(events)}",
                source=source,
                message_id=message.id,
                **fields,
            )
        )

    add(EventType.SENT, 0, Source.PIPELINE)
    channel = message.channel
    if channel in (Channel.EMAIL, Channel.SMS):
        roll = rnd.random()
        if roll < 0.02:
            add(EventType.BOUNCED, rnd.uniform(5, 600), bounce_type=BounceType.HARD)
            return events
        if roll < 0.04:
            add(EventType.BOUNCED, rnd.uniform(5, 600), bounce_type=BounceType.SOFT)
        add(EventType.DELIVERED, rnd.uniform(5, 900))
    engaged = rnd.random() < {"email": 0.35, "push": 0.2, "sms": 0.0}[channel]
    if engaged:
        first = rnd.expovariate(1 / 7200)
        for n in range(rnd.choice((1, 1, 1, 2, 3))):
            add(EventType.OPENED, first + n * rnd.uniform(60, 86400))
    if channel == Channel.EMAIL and rnd.random() < 0.1:
        add(EventType.OPENED, rnd.uniform(1, 30), machine=True)
    if links and (engaged or channel == Channel.SMS) and rnd.random() < 0.3:
        for _ in range(rnd.choice((1, 1, 2))):
            add(EventType.CLICKED, rnd.expovariate(1 / 10800), link_id=rnd.choice(links))
        if rnd.random() < 0.2:
            add(EventType.CONVERTED, rnd.expovariate(1 / 86400), Source.API)
    if channel == Channel.EMAIL:
        if rnd.random() < 0.005:
            add(EventType.UNSUBSCRIBED, rnd.uniform(600, 86400))
        elif rnd.random() < 0.001:
            add(EventType.SPAMMED, rnd.uniform(600, 86400))
    return events


def _campaign_of_messages(count: int):
    from campaigns.models import Link
    from messaging.ingest import apply_events
    from messaging.models import Person
    from messaging.sending import messages_create

    campaign, actions = _build_steps("bench metrics 10k")
    people = Person.objects.bulk_create(
        [
            Person(
                external_id=f"bench-metrics-{n}",
                email=f"m{n}@example.com",
                phone=f"+1666{n:07d}",
                push_token=f"mtoken-{n}",
            )
            for n in range(count)
        ],
        batch_size=5000,
    )
    rnd = random.Random(11)
    links = {
        action.id: list(Link.objects.filter(action=action).values_list("id", flat=True))
        for action in actions
    }
    # Half email, a quarter SMS, a quarter push.
    shares = [(actions[0], people[: count // 2]), (actions[1], people[count // 2 : 3 * count // 4])]
    shares.append((actions[2], people[3 * count // 4 :]))
    events = []
    for action, audience in shares:
        for start in range(0, len(audience), 5000):
            for message in messages_create(
                action=action, people=audience[start : start + 5000], now=START, backdate=True
            ):
                events += _journey(rnd, message, links[action.id])
    rnd.shuffle(events)  # providers interleave messages in their batches
    for start in range(0, len(events), 2000):
        apply_events(events[start : start + 2000])
    return campaign


def _campaign_of_counters(messages: int):
    """Counter rows of a ``messages``-strong campaign, in bulk (see above)."""
    from django.db import connection

    from campaigns.metrics import (
        BOUNCE_SPLIT,
        CURRENT_SHOWN,
        MESSAGES,
        REACHED,
        REACHED_DENOMINATOR,
        SERIES,
        TOTALS,
        current_metric,
    )
    from campaigns.models import Link

    campaign, actions = _build_steps("bench metrics 1m")
    per_action = messages // len(actions)
    # Shares of a step's messages per metric, close to what the 10k journey gives.
    shares = {
        MESSAGES: 1.0,
        "sent": 1.0,
        "delivered": 0.96,
        REACHED_DENOMINATOR: 0.96,
        "opened": 0.3,
        "clicked": 0.1,
        "converted": 0.02,
        "bounced": 0.04,
        "hard_bounced": 0.02,
        "soft_bounced": 0.02,
        "spammed": 0.001,
        "unsubscribed": 0.005,
        "opens": 0.5,
        "clicks": 0.13,
        "machine_opens": 0.1,
        "machine_clicks": 0.0,
        **{current_metric(s): 0.0 for s in CURRENT_SHOWN},
        current_metric("delivered"): 0.6,
        current_metric("opened"): 0.2,
        current_metric("clicked"): 0.08,
        current_metric("converted"): 0.02,
        current_metric("bounced"): 0.04,
        current_metric("sent"): 0.06,
    }
    assert set(REACHED + BOUNCE_SPLIT + TOTALS) <= set(shares)
    metrics = list(shares)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_actioncounter (campaign_id, action_id, metric, value)
            SELECT %s, action_id, metric, (%s * share)::bigint
            FROM unnest(%s::bigint[]) AS action_id,
                 unnest(%s::text[], %s::float8[]) AS m(metric, share)
            """,
            [campaign.id, per_action, [a.id for a in actions], metrics, list(shares.values())],
        )
        link_ids = list(Link.objects.filter(action__in=actions).values_list("id", flat=True))
        cursor.execute(
            """
            INSERT INTO campaigns_linkcounter (campaign_id, link_id, metric, value)
            SELECT %s, link_id, metric, (%s * share)::bigint
            FROM unnest(%s::bigint[]) AS link_id,
                 unnest(ARRAY['clicks', 'unique_clicks'], ARRAY[0.08, 0.06]) AS m(metric, share)
            """,
            [campaign.id, per_action, link_ids],
        )
        # Every hour of the two weeks (send basis) and of the two weeks plus
        # the tail of late events (event basis), every series metric.
        cursor.execute(
            """
            INSERT INTO campaigns_seriescounter
                (campaign_id, action_id, basis, bucket, metric, value)
            SELECT %(campaign)s, action_id, basis,
                   %(start)s::timestamptz + make_interval(hours => hour), metric,
                   1 + (random() * %(per_hour)s)::bigint
            FROM unnest(%(actions)s::bigint[]) AS action_id,
                 unnest(ARRAY['send', 'event'], ARRAY[%(send)s, %(event)s]) AS b(basis, hours),
                 LATERAL generate_series(0, hours - 1) AS hour,
                 unnest(%(metrics)s::text[]) AS metric
            """,
            {
                "campaign": campaign.id,
                "start": START,
                "per_hour": 2 * per_action // SEND_HOURS,
                "actions": [a.id for a in actions],
                "send": SEND_HOURS,
                "event": SEND_HOURS + TAIL_HOURS,
                "metrics": list(SERIES),
            },
        )
        cursor.execute("ANALYZE campaigns_actioncounter, campaigns_linkcounter")
        cursor.execute("ANALYZE campaigns_seriescounter")
    return campaign


def _counter_rows(campaign) -> int:
    from campaigns.models import ActionCounter, LinkCounter, SeriesCounter

    return sum(
        model.objects.filter(campaign=campaign).count()
        for model in (ActionCounter, LinkCounter, SeriesCounter)
    )


def run(scale: float) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from bench.common import p50_ms
    from config.access import user_role_set

    small = _campaign_of_messages(int(10_000 * scale))
    large = _campaign_of_counters(int(1_000_000 * scale))
    print(
        f"   counter rows: {_counter_rows(small)} ({int(10_000 * scale)} messages), "
        f"{_counter_rows(large)} (synthetic {int(1_000_000 * scale)})",
        flush=True,
    )

    user = get_user_model().objects.create_user("bench-metrics-api")
    user_role_set(user=user, role="viewer")  # the API reads need a role
    token = Token.objects.create(user=user)
    client = Client(HTTP_AUTHORIZATION=f"Token {token.key}", HTTP_HOST="127.0.0.1")

    def timed(campaign, basis: str) -> float:
        url = f"/api/v1/campaigns/{campaign.id}/metrics/?basis={basis}"

        def request():
            response = client.get(url)
            assert response.status_code == 200, response.content[:200]

        return p50_ms(request, repeat=REPEAT, warmup=5)

    figures = {}
    for label, campaign in (("10k", small), ("1m", large)):
        send_ms, event_ms = timed(campaign, "send"), timed(campaign, "event")
        print(f"   {label}: p50 {send_ms:.2f} ms (basis=send), {event_ms:.2f} ms (basis=event)")
        figures[f"metrics_api_p50_ms_{label}"] = round(send_ms, 3)
    ratio = figures["metrics_api_p50_ms_1m"] / figures["metrics_api_p50_ms_10k"]
    print(f"   1m / 10k: {ratio:.2f} (target at most 1.5; 1m target at most 30 ms)")
    return figures
