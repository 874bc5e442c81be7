"""The outbox's cost to ingest: no statement while no webhook is enabled
(the answer cached per process), exactly one INSERT per batch otherwise,
whatever the batch's size."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.vocabulary import EventType, Source
from messaging.reporting import outbox
from messaging.reporting.models import ReportingNotification
from tests import factories
from tests.ingest.helpers import apply
from tests.reporting.helpers import webhook

pytestmark = pytest.mark.django_db


def _batch(n: int):
    messages = [factories.message() for _ in range(n)]
    return [factories.event(m, EventType.SENT, 1) for m in messages] + [
        factories.event(m, EventType.DELIVERED, 2) for m in messages
    ]


def _outbox_statements(queries) -> list[str]:
    table = ReportingNotification._meta.db_table
    return [q["sql"] for q in queries if table in q["sql"] or "reportingwebhook" in q["sql"]]


def test_with_no_webhook_ingest_runs_no_outbox_statement_once_the_answer_is_cached():
    apply(*_batch(2))  # the first batch asks once
    batch = _batch(3)
    with CaptureQueriesContext(connection) as queries:
        apply(*batch)
    assert _outbox_statements(queries.captured_queries) == []


def test_a_batch_writes_its_notifications_with_one_statement_whatever_its_size():
    if connection.vendor != "postgresql":
        pytest.skip("One set-based statement on PostgreSQL; SQLite goes through the ORM.")
    webhook("https://hooks.example.com/a", events=["sent", "delivered"], occurrence="every")
    webhook("https://hooks.example.com/b", events=["delivered"])
    apply(*_batch(1))  # warms the cache
    for size in (2, 40):
        batch = _batch(size)
        before = ReportingNotification.objects.count()
        with CaptureQueriesContext(connection) as queries:
            apply(*batch)
        statements = _outbox_statements(queries.captured_queries)
        assert len(statements) == 1 and statements[0].lstrip().startswith("INSERT")
        assert ReportingNotification.objects.count() - before == size * 3


def test_rows_follow_the_order_events_were_applied_and_skip_machine_and_history_events():
    webhook(
        "https://hooks.example.com/a", events=["sent", "delivered", "opened"], occurrence="every"
    )
    message = factories.message()
    apply(
        factories.event(message, EventType.SENT, 1),
        factories.event(message, EventType.DELIVERED, 2),
        factories.event(message, EventType.OPENED, 3, source=Source.RECIPIENT, machine=True),
        factories.event(message, EventType.DEFERRED, 4),
        factories.event(message, EventType.OPENED, 5, source=Source.RECIPIENT),
    )
    rows = ReportingNotification.objects.order_by("id").values_list("event_type", flat=True)
    assert list(rows) == ["sent", "delivered", "opened"]


def test_a_webhook_saved_in_this_process_is_seen_by_the_next_batch_at_once(settings):
    settings.TIDINGS_REPORTING_CACHE_SECONDS = 3600
    apply(*_batch(1))
    assert outbox.subscribed_types() == frozenset()
    webhook("https://hooks.example.com/a", events=["sent"])
    apply(*_batch(1))
    assert ReportingNotification.objects.count() == 1


def test_events_no_webhook_subscribes_to_cost_no_statement():
    webhook("https://hooks.example.com/a", events=["clicked"])
    apply(*_batch(1))
    batch = _batch(2)
    with CaptureQueriesContext(connection) as queries:
        apply(*batch)
    assert _outbox_statements(queries.captured_queries) == []
