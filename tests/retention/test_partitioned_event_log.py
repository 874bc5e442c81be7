"""The event log on PostgreSQL is partitioned by the month its message was
created (messaging.history): partitions exist ahead of time, a row of a month
without one is kept in the default partition and moved when its month is
created, and idempotency is exactly what it was."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from campaigns.vocabulary import Channel, EventType, Source
from messaging import counters
from messaging.history import month_start, next_month, partition_name, partitions
from messaging.ingest import _INSERT_FIELDS, _row, apply_events
from messaging.models import MessageEvent
from messaging.sending.tasks import sweep_messages
from tests.factories import message
from tests.retention.helpers import history, partition_of, table_exists

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite keeps the event log in one table"
    ),
]

MARCH = datetime(2026, 3, 15, 9, tzinfo=UTC)


def test_the_sweeper_creates_this_month_and_the_next_two_ahead_of_time():
    this_month = month_start(timezone.now())
    ahead = [this_month, next_month(this_month), next_month(next_month(this_month))]
    with connection.cursor() as cursor:
        for month in ahead:
            cursor.execute(f'DROP TABLE IF EXISTS "{partition_name(month)}"')
    assert not any(table_exists(partition_name(month)) for month in ahead)

    summary = sweep_messages()

    assert summary["partitions_created"] == 3
    assert all(table_exists(partition_name(month)) for month in ahead)
    assert set(ahead) <= set(partitions())
    assert sweep_messages()["partitions_created"] == 0  # idempotent


def test_the_command_creates_partitions_further_ahead(capsys):
    this_month = month_start(timezone.now())
    fourth = this_month
    for _ in range(4):
        fourth = next_month(fourth)
    assert not table_exists(partition_name(fourth))
    call_command("ensure_partitions", "--ahead", "4")
    assert table_exists(partition_name(fourth))
    assert f"created {partition_name(fourth)}" in capsys.readouterr().out


def test_an_event_is_stored_in_the_partition_of_its_messages_month():
    msg = message(Channel.EMAIL)  # created 2026-11-01, a month the migration made
    apply_events(history(msg, "sent", "delivered"))
    for event in MessageEvent.objects.filter(message=msg):
        assert event.message_created_at == msg.created_at
        assert partition_of(event.id) == partition_name(month_start(msg.created_at))


def test_a_month_without_a_partition_lands_in_the_default_one_and_moves_when_created():
    old = message(Channel.EMAIL, now=MARCH)
    apply_events(history(old, "sent", "delivered", "opened"))
    ids = list(MessageEvent.objects.filter(message=old).values_list("id", flat=True))
    assert {partition_of(i) for i in ids} == {"messaging_messageevent_default"}

    from messaging.history import partitions_ensure

    assert partitions_ensure(now=MARCH, ahead=0) == ["messaging_messageevent_p2026_03"]

    assert {partition_of(i) for i in ids} == {"messaging_messageevent_p2026_03"}
    assert old.events.count() == len(ids) == 4  # the queued event and three
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_messageevent_default")
        assert cursor.fetchone()[0] == 0


def test_a_provider_retry_received_months_later_is_still_a_duplicate():
    msg = message(Channel.EMAIL)
    [delivered] = history(msg, "delivered")
    assert apply_events([delivered]).stored == 1
    assert apply_events([delivered]).duplicates == 1
    # The database's own key holds too (the partition key is fixed per
    # message, so the unique index sees the first copy): a raw insert of the
    # same row with a later received_at stores nothing.
    later = datetime(2027, 2, 1, tzinfo=UTC)
    row = _row(replace(delivered, attempt=1), later, msg.created_at)
    counters.bulk_insert(MessageEvent, [row], _INSERT_FIELDS)
    assert msg.events.filter(idempotency_key=delivered.idempotency_key).count() == 1


def test_the_orm_still_creates_reads_and_deletes_events_by_id():
    msg = message(Channel.EMAIL)
    created = MessageEvent.objects.create(
        message=msg,
        type=EventType.DEFERRED,
        occurred_at=msg.created_at,
        received_at=msg.created_at,
        source=Source.PIPELINE,
        idempotency_key="orm",
    )
    assert created.pk is not None
    assert created.message_created_at == msg.created_at
    assert MessageEvent.objects.get(pk=created.pk).idempotency_key == "orm"
    MessageEvent.objects.filter(pk=created.pk).delete()
    assert not MessageEvent.objects.filter(pk=created.pk).exists()
