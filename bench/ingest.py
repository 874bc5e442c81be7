"""Ingestion core throughput against raw batched INSERTs of the same rows.

100k events (scale 1.0) for 20k messages — attempted, sent, delivered,
opened, clicked each — shuffled and applied in batches of 1,000 events that
mix many messages, as a provider's webhook batches do. The baseline inserts
the same rows, 1,000 per transaction, into a table shaped like the event
table (same columns, indexes and unique key), by the faster of two plain
batched INSERTs: one multi-row INSERT … VALUES per batch (Django's way), and
psycopg's pipelined executemany with server-side binding."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction

BATCH = 1000


_DOMAINS = ("gmail.com", "outlook.com", "yahoo.co.jp", "icloud.com", "example.com")


def run(scale: float) -> dict:
    from bench.common import email_messages, rate
    from campaigns.models import Link
    from messaging.events import Event
    from messaging.ingest import apply_events

    # Recipients at every mailbox provider, so ingest moves the per-provider
    # counters of each (campaigns.deliverability).
    _, action, messages = email_messages(
        "ingest", int(20_000 * scale), domains=_DOMAINS, conversion_event="purchase"
    )
    link = Link.objects.create(action=action, url="https://example.com/x", position=0)
    t0 = messages[0].created_at

    rnd = random.Random(7)
    events = []
    for message in messages:
        for offset, type_ in enumerate(("attempted", "sent", "delivered", "opened", "clicked")):
            events.append(
                Event(
                    type=type_,
                    occurred_at=t0 + timedelta(minutes=offset + rnd.random()),
                    idempotency_key=f"bench:{type_}",
                    source="provider",
                    message_id=message.id,
                    link_id=link.id if type_ == "clicked" else None,
                    detail={"event": type_, "sg_event_id": f"{message.id}-{offset}"},
                )
            )
    rnd.shuffle(events)
    total = len(events)

    def ingest():
        for start in range(0, total, BATCH):
            apply_events(events[start : start + BATCH])

    import json

    now = datetime.now(UTC)
    columns = (
        "message_id, type, occurred_at, received_at, source, idempotency_key, "
        "machine, link_id, bounce_type, reason, provider, detail, attempt, message_created_at"
    )
    created = {message.id: message.created_at for message in messages}
    rows = [
        (
            e.message_id,
            e.type,
            e.occurred_at,
            now,
            e.source,
            e.idempotency_key,
            False,
            e.link_id,
            "",
            "",
            "",
            json.dumps(e.detail),
            1,
            created[e.message_id],
        )
        for e in events
    ]

    def fresh_table():
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_raw_events")
            cursor.execute(
                "CREATE TABLE bench_raw_events (LIKE messaging_messageevent INCLUDING ALL)"
            )

    def values_insert():
        # Django's way: one multi-row INSERT … VALUES per batch.
        fresh_table()
        placeholder = "(" + ", ".join(["%s"] * 14) + ")"
        for start in range(0, total, BATCH):
            chunk = rows[start : start + BATCH]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO bench_raw_events ({columns}) VALUES "
                    + ", ".join([placeholder] * len(chunk)),
                    [value for row in chunk for value in row],
                )

    def executemany_insert():
        # psycopg 3's fastest plain path: executemany with server-side
        # binding, pipelined, one transaction per batch.
        import psycopg

        fresh_table()
        connection.ensure_connection()
        sql = f"INSERT INTO bench_raw_events ({columns}) VALUES ({', '.join(['%s'] * 14)})"
        for start in range(0, total, BATCH):
            with transaction.atomic(), psycopg.Cursor(connection.connection) as cursor:
                cursor.executemany(sql, rows[start : start + BATCH])

    # The baseline is the faster of the two plain batched INSERTs.
    raw = max(rate(total, values_insert), rate(total, executemany_insert))
    before = _updates()
    # Every statement's time is logged (Django's debug cursor, and
    # messaging.counters' bound statements): how much of ingest is the
    # database's, psycopg's encoding and decoding included.
    connection.force_debug_cursor = True
    connection.queries_log.clear()
    try:
        ingested = rate(total, ingest)
    finally:
        connection.force_debug_cursor = False
    in_statements = sum(float(query["time"]) for query in connection.queries_log)
    # Where the statements' time goes (printed, per 1,000 events).
    by_statement: Counter = Counter()
    for query in connection.queries_log:
        by_statement[" ".join(query["sql"].split()[:4])] += float(query["time"])
    for statement, seconds in by_statement.most_common(6):
        print(f"  {seconds / total * 1e6:6.1f} ms per 1k events  {statement} …")
    hot = _hot_ratios(before, _updates())
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_events")
    return {
        "ingest_events_per_s": round(ingested, 1),
        "raw_insert_rows_per_s": round(raw, 1),
        "ingest_ratio": round(ingested / raw, 3),
        # The statements alone, per 1,000 events, and the ratio ingest would
        # reach if everything outside them took no time (its ceiling).
        "ingest_statements_ms_per_1k": round(in_statements / total * 1000 * 1000, 1),
        "ingest_ratio_ceiling": round(total / in_statements / raw, 3),
        **hot,
    }


# Issue 18: how many of ingest's row updates were HOT (heap-only: no index
# entry rewritten), per table it updates, from pg_stat_user_tables.
_HOT_TABLES = {
    "message": "messaging_message",
    "action_counter": "campaigns_actioncounter",
    "series_counter": "campaigns_seriescounter",
}


def _updates() -> dict[str, tuple[int, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname = ANY(%s)",
            [list(_HOT_TABLES.values())],
        )
        return {name: (updated, hot) for name, updated, hot in cursor.fetchall()}


def _hot_ratios(before: dict, after: dict) -> dict[str, float]:
    figures = {}
    for label, table in _HOT_TABLES.items():
        updated = after[table][0] - before.get(table, (0, 0))[0]
        hot = after[table][1] - before.get(table, (0, 0))[1]
        figures[f"{label}_hot_update_ratio"] = round(hot / updated, 3) if updated else None
    return figures
