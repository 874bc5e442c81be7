"""Ingest reads a batch's stored events by one index probe per message in
its own month's partition (messaging.message_states.STORED_FACTS_SQL): the read
costs what the batch's messages hold, not what their month holds. Before, a
range over the messages' created_at let the planner, its statistics taken
while the month was smaller, scan the whole month's partition and filter it (bench
ingest: 114,000 rows read to return 6,000, every batch)."""

import json

import pytest
from django.db import connection

from campaigns.vocabulary import Channel
from messaging import counters
from messaging.message_states import STORED_FACTS_SQL, stored_facts
from messaging.models import Person
from messaging.sending import messages_create
from tests import factories as f

pytestmark = pytest.mark.django_db


def _scans(plan: dict):
    if "Relation Name" in plan:
        yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _events(count: int, *, messages: int, key: str) -> None:
    # Set-based: ``count`` events for each of the first ``messages`` messages.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_messageevent (message_id, type, occurred_at, received_at,"
            " source, idempotency_key, machine, bounce_type, reason, provider, detail,"
            " attempt, message_created_at)"
            " SELECT m.id, 'opened', m.created_at, m.created_at, 'provider', %s || k, false,"
            " '', '', '', '{}'::jsonb, 1, m.created_at"
            " FROM (SELECT * FROM messaging_message ORDER BY id LIMIT %s) m,"
            " generate_series(1, %s) k",
            [key, messages, count],
        )


def _plan(sql: str, params: list) -> list[dict]:
    # Run as ingest runs it: bound on the server, arrays in binary.
    [[plan]] = counters.select_bound("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
    plan = plan if isinstance(plan, list) else json.loads(plan)
    # The scans that ran (the other months' are pruned: never executed).
    return [
        node
        for node in _scans(plan[0]["Plan"])
        if "messageevent" in node["Relation Name"] and node["Actual Loops"]
    ]


def test_a_batch_reads_only_its_own_messages_events_whatever_the_month_holds():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plan")
    action = f.action(Channel.EMAIL)
    people = Person.objects.bulk_create(
        [Person(external_id=f"read-{i}", email=f"read{i}@example.com") for i in range(2000)]
    )
    messages = messages_create(action=action, people=people, now=f.T0, backdate=True)
    # Statistics taken while the month held two events per message; then it
    # grew 25-fold before autovacuum came round again (bench ingest's month
    # was 7 times its statistics). A batch names a thousand messages.
    _events(2, messages=2000, key="early:")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_messageevent")
    _events(50, messages=2000, key="late:")

    batch = messages[:1000]
    ids, created = [m.id for m in batch], [m.created_at for m in batch]
    stored = 1000 * (1 + 2 + 50)  # queued, the early two and the late fifty, each
    scans = _plan(STORED_FACTS_SQL, [ids, created])
    assert scans
    read = 0
    for node in scans:
        # Probes by message, never a scan of the month filtered afterwards.
        assert node["Node Type"] != "Seq Scan"
        assert node.get("Rows Removed by Filter", 0) == 0
        assert node.get("Rows Removed by Index Recheck", 0) == 0
        read += node["Actual Rows"] * node["Actual Loops"]
    assert read == stored
    facts = list(stored_facts(ids, created=created))
    assert sorted({message_id for message_id, _ in facts}) == sorted(ids)
    assert len(facts) == stored
