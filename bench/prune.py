"""Retention: dropping a month of the event log against deleting it.

1M events (scale 1.0; 10 per message, 100k messages created in one month)
in that month's partition. The same rows are removed twice: once by a
DELETE of the month's rows (committed), and, after they are loaded again,
by prune_history's drop (messaging.history.history_drop: the lock, the
check that nothing arrived, the record, DETACH of the partition, commit —
``prune_detach_ms``, all that writers wait for — then DROP TABLE of the
detached table, files and all: ``prune_drop_s`` is both). The
checks prune_history runs before the drop (a recount of the month's
messages) are not part of either figure: the DELETE would need them too.

Both removals start from the state of a month old enough to prune:
- A partition filled once and never deleted from. The drop's copy is loaded
  into a new partition, not into the one the DELETE emptied: reloaded, that
  one's indexes come out about twice their size (pkey 63 MB instead of
  31.5, the idempotency key ~110 MB instead of 57), which the drop then
  pays to free.
- Its pages written out: a CHECKPOINT after the load, before each timed
  removal. A month is pruned long after its last write, so its pages were
  checkpointed long ago. The DELETE then writes a full-page image of every
  page it changes first, as it would in production; the DROP frees blocks
  that are allocated on disk (a freshly loaded file's may not be yet, which
  would make the drop cheaper than it is for an old month).
The DROP's cost is almost all the kernel's truncate() of the table's files
(PostgreSQL truncates them at commit): freeing their page cache, and, on
a file system that discards freed blocks synchronously, the discards.
"""

import time
from datetime import UTC, datetime

from django.db import connection, transaction

MONTH = datetime(2025, 6, 1, tzinfo=UTC)
EVENTS_PER_MESSAGE = 10


def run(scale: float) -> dict:
    from campaigns.models import Action, Campaign
    from campaigns.vocabulary import Channel, Status
    from messaging.history import (
        PrunePlan,
        drop_detached,
        history_detach,
        next_month,
        partition_name,
        partitions_ensure,
    )
    from messaging.models import Message, Person

    n_events = int(1_000_000 * scale)
    n_messages = n_events // EVENTS_PER_MESSAGE
    campaign = Campaign.objects.create(name="bench prune")
    action = Action.objects.create(
        campaign=campaign, name="email", channel=Channel.EMAIL, subject="s", body="b"
    )
    person = Person.objects.create(external_id="bench-prune", email="p@example.com")
    for start in range(0, n_messages, 10_000):
        Message.objects.bulk_create(
            [
                Message(
                    campaign=campaign,
                    action=action,
                    person=person,
                    channel=Channel.EMAIL,
                    address="p@example.com",
                    status=Status.DELIVERED,
                )
                for _ in range(min(10_000, n_messages - start))
            ],
            batch_size=10_000,
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET created_at = %s + (id %% 28) * interval '1 day' "
            "WHERE campaign_id = %s",
            [MONTH, campaign.id],
        )
    partitions_ensure(now=MONTH, ahead=0)
    name = partition_name(MONTH)
    month_rows = (
        "message_created_at >= %s AND message_created_at < %s",
        [MONTH, next_month(MONTH)],
    )

    def load() -> None:
        # Set-based: every message's ten events, as ingest would have stored them.
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO messaging_messageevent (message_id, type, occurred_at, "
                "received_at, source, idempotency_key, machine, bounce_type, reason, "
                "provider, detail, attempt, message_created_at) "
                "SELECT m.id, 'opened', m.created_at + k * interval '1 minute', "
                "m.created_at + k * interval '1 minute', 'provider', 'bench:' || k, false, "
                "'', '', 'sendgrid', jsonb_build_object('sg_event_id', m.id || '-' || k), 1, "
                "m.created_at FROM messaging_message m, generate_series(1, %s) k "
                "WHERE m.campaign_id = %s",
                [EVENTS_PER_MESSAGE, campaign.id],
            )
        # Both removals start from a table read and counted by the planner.
        with connection.cursor() as cursor:
            cursor.execute(f'VACUUM ANALYZE "{name}"')

    def written() -> None:
        # Pages of an old month were checkpointed long ago (see above).
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT count(*) FROM "{name}"')
            return cursor.fetchone()[0]

    load()
    assert count() == n_messages * EVENTS_PER_MESSAGE
    written()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM messaging_messageevent WHERE {month_rows[0]}", month_rows[1])
    deleted_s = time.perf_counter() - started
    assert count() == 0
    # What a DELETE leaves: the dead rows, whose space only VACUUM gives back
    # (the drop gives it back at once); reported beside the ratio.
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f'VACUUM "{name}"')
    vacuum_s = time.perf_counter() - started

    # The drop's copy in a new partition, filled once (see above).
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{name}"')
    partitions_ensure(now=MONTH, ahead=0)
    load()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(id) FROM messaging_messageevent WHERE " + month_rows[0], month_rows[1]
        )
        (last_id,) = cursor.fetchone()
    written()
    plan = PrunePlan(
        before=next_month(MONTH),
        months=[f"{MONTH:%Y-%m}"],
        partitions=[name],
        messages=n_messages,
        events=n_messages * EVENTS_PER_MESSAGE,
        last_event_id=last_id,
    )
    started = time.perf_counter()
    history_detach(plan, now=datetime.now(UTC))
    detached_s = time.perf_counter() - started
    assert drop_detached() == [name]
    dropped_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        assert cursor.fetchone()[0] is None
    return {
        "prune_delete_s": round(deleted_s, 3),
        "prune_delete_vacuum_s": round(vacuum_s, 3),
        "prune_detach_ms": round(detached_s * 1000, 1),
        "prune_drop_s": round(dropped_s, 4),
        "prune_ratio": round(dropped_s / deleted_s, 4),
    }
