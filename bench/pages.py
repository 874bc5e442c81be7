"""Server time of the marketer pages at 10k, 1M and 10M messages (PostgreSQL).

One campaign (email, SMS and push steps) whose messages spread over two
weeks at every stage of the journey, written in bulk with SQL
(INSERT ... SELECT generate_series) together with their counter rows, which
is what the pages read. Email recipients spread over every mailbox
provider (gmail.com, outlook.com, yahoo.com, icloud.com, hotmail.co.uk,
googlemail.com, example.com), so the deliverability section has five
providers, the top 20 of 25 bounce reasons and stale messages to count.
Timed through Django's test Client (the whole
request in process: URL routing, session, queries, template), median of
many requests after a warm-up:

- ``campaign_page``: ``/campaigns/<id>/``;
- ``deliveries``: the first page of ``/deliveries/``;
- ``deliveries_deep``: ``/deliveries/?status=delivered&before=<cursor>``
  with the cursor 1,000 pages (50,000 delivered messages) deep, the way the
  "Older" link reaches it.

- ``metrics_api``: ``/api/v1/campaigns/<id>/metrics/`` of the same campaign
  (the metrics_api module times a realistic campaign at 10k and synthetic
  counters at 1M; this one has real messages behind it at every size).

The campaign grows in place: 10k, then 1M, then 10M real message rows
(issue 18: pages flat to 10M; ``*_10m_over_10k`` compares each page with
itself at 10k, target at most 1.5). The messaging tables are emptied first
so "10k" means 10k messages in the log (earlier benchmarks of the same run
leave their own rows behind). scale=0.1 (BENCH_SCALE=small) builds 1k,
100k and 1M messages (and goes 100 pages deep) instead.
"""

from __future__ import annotations

REPEAT = 40
PAGE = 50  # messaging.views.PAGE_SIZE
START = "2026-11-01 00:00:00+00"


def _people(cursor, count: int) -> None:
    cursor.execute(
        """
        INSERT INTO messaging_person
            (external_id, email, phone, push_token, attributes, created_at, updated_at)
        SELECT 'bench-page-' || n, 'p' || n || '@example.com', '+1555' || lpad(n::text, 7, '0'),
               'token-' || n, jsonb_build_object('name', 'Person ' || n), now(), now()
        FROM generate_series(1, %s) AS n
        """,
        [count],
    )


# Each message's stage comes from a hash of its number: roughly 3% failed,
# 3% bounced, 4% sent only, 35% delivered, 25% opened, 20% clicked, 10%
# converted (push and SMS skip what they do not track).
_MESSAGES = """
WITH numbered AS (
    SELECT n,
           (n * 7919) %% 100 AS roll,
           CASE n %% 3 WHEN 0 THEN %(email)s WHEN 1 THEN %(sms)s ELSE %(push)s END AS action_id,
           CASE n %% 3 WHEN 0 THEN 'email' WHEN 1 THEN 'sms' ELSE 'push' END AS channel,
           %(start)s::timestamptz + (n %% 336) * interval '1 hour'
               + ((n * 37) %% 3600) * interval '1 second' AS created
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n
), staged AS (
    SELECT *,
           CASE
             WHEN roll < 3 THEN 'failed'
             WHEN roll < 6 AND channel <> 'push' THEN 'bounced'
             WHEN roll < 10 THEN 'sent'
             WHEN roll < 45 THEN (CASE WHEN channel = 'push' THEN 'sent' ELSE 'delivered' END)
             WHEN roll < 70 THEN (CASE channel WHEN 'sms' THEN 'delivered' ELSE 'opened' END)
             WHEN roll < 90 THEN 'clicked'
             ELSE 'converted'
           END AS status
    FROM numbered
)
INSERT INTO messaging_message
    (campaign_id, action_id, person_id, channel, address, subject, body, provider,
     provider_message_id, status, queued_at, attempted_at, sent_at, delivered_at, opened_at,
     clicked_at, converted_at, bounced_at, spammed_at, unsubscribed_at, failed_at, bounce_type,
     failure_reason, open_count, click_count, send_attempts, created_at, updated_at)
SELECT %(campaign)s, action_id, %(person_base)s + (n %% %(people)s), channel,
       CASE channel WHEN 'email' THEN 'p' || (n %% %(people)s) || '@'
                                      || (ARRAY['gmail.com', 'outlook.com', 'yahoo.com',
                                                'icloud.com', 'example.com', 'hotmail.co.uk',
                                                'googlemail.com'])[1 + (n %% %(people)s) %% 7]
                    WHEN 'sms' THEN '+1555' || lpad((n %% %(people)s)::text, 7, '0')
                    ELSE 'token-' || (n %% %(people)s) END,
       'Winter sale', 'Hello, our winter sale starts today: https://example.com/sale', 'simulated',
       CASE WHEN status = 'failed' THEN '' ELSE 'sim-' || n END,
       status, created, created,
       CASE WHEN status <> 'failed' THEN created + interval '1 minute' END,
       CASE WHEN channel <> 'push' AND status IN ('delivered', 'opened', 'clicked', 'converted')
            THEN created + interval '2 minutes' END,
       CASE WHEN channel <> 'sms' AND status IN ('opened', 'clicked', 'converted')
            THEN created + interval '30 minutes' END,
       CASE WHEN status IN ('clicked', 'converted') THEN created + interval '35 minutes' END,
       CASE WHEN status = 'converted' THEN created + interval '2 hours' END,
       CASE WHEN status = 'bounced' THEN created + interval '2 minutes' END,
       NULL, NULL,
       CASE WHEN status = 'failed' THEN created + interval '1 minute' END,
       CASE WHEN status = 'bounced' THEN 'hard' END,
       CASE WHEN status = 'failed' THEN 'provider refused the message' ELSE '' END,
       CASE WHEN channel <> 'sms' AND status IN ('opened', 'clicked', 'converted')
            THEN 1 ELSE 0 END,
       CASE WHEN status IN ('clicked', 'converted') THEN 1 ELSE 0 END,
       0, created, created + interval '3 hours'
FROM staged
"""

# The counter rows ingest would have written for these messages (the pages
# read only these): per action, per link and per hour on both bases.
_ACTION_COUNTERS = """
INSERT INTO campaigns_actioncounter (campaign_id, action_id, metric, value)
SELECT %(campaign)s, action_id, metric, value FROM (
    SELECT action_id, 'messages' AS metric, count(*) AS value FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'current_' || status, count(*) FROM m GROUP BY 1, 2
    UNION ALL SELECT action_id, 'sent', count(sent_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'delivered', count(delivered_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'opened', count(opened_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'clicked', count(clicked_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'converted', count(converted_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'bounced', count(bounced_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'hard_bounced', count(bounced_at) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'reached_denominator',
                     count(CASE WHEN channel = 'push' THEN sent_at ELSE delivered_at END)
              FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'opens', sum(open_count) FROM m GROUP BY 1
    UNION ALL SELECT action_id, 'clicks', sum(click_count) FROM m GROUP BY 1
) AS counts
WHERE value > 0
"""
_SERIES_COUNTERS = """
INSERT INTO campaigns_seriescounter (campaign_id, action_id, basis, bucket, metric, value)
SELECT %(campaign)s, action_id, basis, bucket, metric, count(*) FROM (
    SELECT action_id, 'send' AS basis, date_trunc('hour', coalesce(sent_at, created_at)) AS bucket,
           metric
    FROM m, LATERAL (VALUES ('sent', sent_at), ('delivered', delivered_at),
                            ('opened', opened_at), ('clicked', clicked_at),
                            ('converted', converted_at), ('bounced', bounced_at)) AS v(metric, at)
    WHERE at IS NOT NULL
    UNION ALL
    SELECT action_id, 'event', date_trunc('hour', at), metric
    FROM m, LATERAL (VALUES ('sent', sent_at), ('delivered', delivered_at),
                            ('opened', opened_at), ('clicked', clicked_at),
                            ('converted', converted_at), ('bounced', bounced_at)) AS v(metric, at)
    WHERE at IS NOT NULL
) AS moments
GROUP BY 1, 2, 3, 4, 5
"""
# The same counters per mailbox provider (email only; campaigns.deliverability),
# and the bounce reasons.
_MAILBOX = """
ALTER TABLE m ADD COLUMN mp text;
UPDATE m SET mp = CASE split_part(address, '@', 2)
    WHEN 'gmail.com' THEN 'gmail' WHEN 'googlemail.com' THEN 'gmail'
    WHEN 'outlook.com' THEN 'microsoft' WHEN 'hotmail.co.uk' THEN 'microsoft'
    WHEN 'yahoo.com' THEN 'yahoo' WHEN 'icloud.com' THEN 'apple' ELSE 'other' END
WHERE channel = 'email';
"""
_MAILBOX_ACTION_COUNTERS = """
INSERT INTO campaigns_actioncounter (campaign_id, action_id, metric, value)
SELECT %(campaign)s, action_id, 'mp.' || mp || '.' || metric, value FROM (
    SELECT action_id, mp, 'messages' AS metric, count(*) AS value FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'current_' || status, count(*) FROM e GROUP BY 1, 2, 3
    UNION ALL SELECT action_id, mp, 'sent', count(sent_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'delivered', count(delivered_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'opened', count(opened_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'clicked', count(clicked_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'converted', count(converted_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'bounced', count(bounced_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'hard_bounced', count(bounced_at) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'reached_denominator', count(delivered_at) FROM e
              GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'opens', sum(open_count) FROM e GROUP BY 1, 2
    UNION ALL SELECT action_id, mp, 'clicks', sum(click_count) FROM e GROUP BY 1, 2
) AS counts
WHERE value > 0
"""
_MAILBOX_SERIES_COUNTERS = """
INSERT INTO campaigns_seriescounter (campaign_id, action_id, basis, bucket, metric, value)
SELECT %(campaign)s, action_id, basis, bucket, 'mp.' || mp || '.' || metric, count(*) FROM (
    SELECT action_id, mp, 'send' AS basis,
           date_trunc('hour', coalesce(sent_at, created_at)) AS bucket, metric
    FROM e, LATERAL (VALUES ('sent', sent_at), ('delivered', delivered_at),
                            ('opened', opened_at), ('clicked', clicked_at),
                            ('converted', converted_at), ('bounced', bounced_at)) AS v(metric, at)
    WHERE at IS NOT NULL
    UNION ALL
    SELECT action_id, mp, 'event', date_trunc('hour', at), metric
    FROM e, LATERAL (VALUES ('sent', sent_at), ('delivered', delivered_at),
                            ('opened', opened_at), ('clicked', clicked_at),
                            ('converted', converted_at), ('bounced', bounced_at)) AS v(metric, at)
    WHERE at IS NOT NULL
) AS moments
GROUP BY 1, 2, 3, 4, 5
"""
# 25 distinct reasons, so the page lists the top 20 of more.
_BOUNCE_REASONS = """
INSERT INTO campaigns_bouncereasoncounter (campaign_id, action_id, bounce_type, reason, value)
SELECT %(campaign)s, action_id, bounce_type,
       'recipient rejected ' || chr(97 + (id %% 25)::int) || ' by policy', count(*)
FROM e WHERE bounced_at IS NOT NULL
GROUP BY 1, 2, 3, 4
"""
_LINK_COUNTERS = """
INSERT INTO campaigns_linkcounter (campaign_id, link_id, metric, value)
SELECT %(campaign)s, link_id, metric, value FROM (
    SELECT %(link)s AS link_id, 'clicks' AS metric, sum(click_count) AS value FROM m
    WHERE action_id = %(email)s
    UNION ALL SELECT %(link)s, 'unique_clicks', count(clicked_at) FROM m
    WHERE action_id = %(email)s
) AS counts
"""


def _rebuild_counters(cursor, ids: dict) -> None:
    cursor.execute("DELETE FROM campaigns_actioncounter WHERE campaign_id = %s", [ids["campaign"]])
    cursor.execute("DELETE FROM campaigns_seriescounter WHERE campaign_id = %s", [ids["campaign"]])
    cursor.execute("DELETE FROM campaigns_linkcounter WHERE campaign_id = %s", [ids["campaign"]])
    cursor.execute(
        "DELETE FROM campaigns_bouncereasoncounter WHERE campaign_id = %s", [ids["campaign"]]
    )
    # Only the columns the counters need: at 10M messages the whole rows
    # would make a temporary table of several gigabytes.
    cursor.execute(
        "CREATE TEMP TABLE m ON COMMIT DROP AS SELECT id, action_id, channel, address, status,"
        " bounce_type, created_at, sent_at, delivered_at, opened_at, clicked_at, converted_at,"
        " bounced_at, open_count, click_count FROM messaging_message WHERE campaign_id = %s",
        [ids["campaign"]],
    )
    cursor.execute(_MAILBOX)
    cursor.execute("CREATE TEMP TABLE e ON COMMIT DROP AS SELECT * FROM m WHERE mp IS NOT NULL")
    for sql in (
        _ACTION_COUNTERS,
        _SERIES_COUNTERS,
        _LINK_COUNTERS,
        _MAILBOX_ACTION_COUNTERS,
        _MAILBOX_SERIES_COUNTERS,
        _BOUNCE_REASONS,
    ):
        cursor.execute(sql, ids)


def _grow(ids: dict, first: int, last: int, people: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            _MESSAGES,
            {**ids, "first": first, "last": last, "people": people, "start": START},
        )
        _rebuild_counters(cursor, ids)
    with connection.cursor() as cursor:
        # Fresh statistics and visibility map, as autovacuum would leave them.
        cursor.execute("VACUUM ANALYZE messaging_message")
        cursor.execute("ANALYZE campaigns_actioncounter")
        cursor.execute("ANALYZE campaigns_seriescounter")
        cursor.execute("ANALYZE campaigns_bouncereasoncounter")


def _timer(client, url: str):
    def get() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")

    return get


def _deep_cursor(depth_pages: int) -> int | None:
    from django.db import connection

    with connection.cursor() as cursor:
        # Set-up only (not timed): the id a reader reaches after clicking
        # "Older" depth_pages times.
        cursor.execute(
            "SELECT id FROM messaging_message WHERE status = 'delivered'"
            " ORDER BY id DESC OFFSET %s LIMIT 1",
            [depth_pages * PAGE - 1],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def run(scale: float) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from bench.common import p50_ms
    from campaigns.models import Action, Campaign, Link
    from campaigns.vocabulary import Channel

    small, large, huge = int(10_000 * scale), int(1_000_000 * scale), int(10_000_000 * scale)
    people = max(1, large // 5)
    deep_pages = int(1000 * scale)

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE messaging_messageevent, messaging_message, messaging_person,"
            " campaigns_actioncounter, campaigns_seriescounter, campaigns_linkcounter,"
            " campaigns_bouncereasoncounter,"
            " campaigns_link, campaigns_action, campaigns_campaign RESTART IDENTITY CASCADE"
        )
        _people(cursor, people)
        cursor.execute("SELECT min(id) FROM messaging_person")
        person_base = cursor.fetchone()[0]

    campaign = Campaign.objects.create(name="Bench: winter sale", conversion_event="purchase")
    actions = {
        channel: Action.objects.create(
            campaign=campaign, name=f"{channel} step", channel=channel, subject="Hi", body="b"
        )
        for channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH)
    }
    link = Link.objects.create(action=actions["email"], url="https://example.com/sale", position=0)
    ids = {
        "campaign": campaign.id,
        "email": actions["email"].id,
        "sms": actions["sms"].id,
        "push": actions["push"].id,
        "link": link.id,
        "person_base": person_base,
    }

    user, _ = get_user_model().objects.get_or_create(
        username="bench-pages", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    campaign_url = f"/campaigns/{campaign.id}/"
    metrics_url = f"/api/v1/campaigns/{campaign.id}/metrics/"

    figures: dict[str, float] = {}

    def measure(size: str, *, deep: bool) -> None:
        def timed(url: str) -> float:
            return p50_ms(_timer(client, url), repeat=REPEAT)

        figures[f"campaign_page_p50_ms_{size}"] = timed(campaign_url)
        figures[f"deliveries_p50_ms_{size}"] = timed("/deliveries/")
        if deep:
            cursor_id = _deep_cursor(deep_pages)
            if cursor_id is None:
                raise RuntimeError("not enough delivered messages to go that deep")
            deep_url = f"/deliveries/?status=delivered&before={cursor_id}"
            figures[f"deliveries_deep_p50_ms_{size}"] = timed(deep_url)
        # metrics_api_p50_ms_10k and _1m are the metrics_api module's (its 1M
        # is counters only); this campaign's have real messages behind them.
        suffix = "" if size == "10m" else "_real"
        figures[f"metrics_api_p50_ms_{size}{suffix}"] = timed(metrics_url)

    _grow(ids, 0, small - 1, people)
    measure("10k", deep=False)
    _grow(ids, small, large - 1, people)
    measure("1m", deep=True)
    # Issue 18: the same campaign grown to 10M real message rows (1M with
    # BENCH_SCALE=small), written set-based like the rest.
    _grow(ids, large, huge - 1, people)
    measure("10m", deep=True)
    # Each 10M figure against the same page of the same campaign at 10k
    # (target at most 1.5).
    for name in ("campaign_page", "deliveries", "metrics_api"):
        figures[f"{name}_10m_over_10k"] = (
            figures[f"{name}_p50_ms_10m"]
            / figures[f"{name}_p50_ms_10k_real" if name == "metrics_api" else f"{name}_p50_ms_10k"]
        )
    figures["deliveries_deep_10m_over_1m"] = (
        figures["deliveries_deep_p50_ms_10m"] / figures["deliveries_deep_p50_ms_1m"]
    )
    return {key: round(value, 3) for key, value in figures.items()}
