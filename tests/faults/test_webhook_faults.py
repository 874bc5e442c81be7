"""Faults on the way in: the same provider batches delivered concurrently,
and database connections terminated mid-request. Afterwards every
acknowledged (200) event is applied exactly once — by the sweeper alone, no
manual replay — and reconcile_metrics is clean."""

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.faults import harness
from tests.pipeline import workers
from tests.webhooks.kits import sent_message

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web(sendgrid_key):
    workers.require_postgresql()
    server = harness.WebServer(
        {
            "SENDGRID_WEBHOOK_VERIFICATION_KEY": sendgrid_key[1],
            # The suite's short recovery clock (bench/recovery.py measures the defaults).
            "TIDINGS_WEBHOOK_FIRST_RETRY_SECONDS": "1",
        }
    )
    yield server
    server.stop()


def test_concurrent_duplicate_batches_store_each_event_once(web, sendgrid_key):
    messages = [sent_message() for _ in range(10)]
    batches = []
    for message in messages:
        events = harness.sendgrid_events(message, 6)
        batches += [events, events]  # the same bytes twice (a provider retry)
        batches += [events[:4], events[2:]]  # overlapping batches with the same events
    random.Random(13).shuffle(batches)
    provider = harness.Provider(web.url, sendgrid_key[0])

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(provider.deliver, batches))

    assert provider.answers[200] == len(batches)
    assert len(provider.acknowledged) == 60
    harness.assert_acknowledged_applied_once(provider.acknowledged)
    assert harness.unapplied_requests() == 0
    stored = harness.stored_keys(m.pk for m in messages)
    assert sum(1 for (_, key) in stored if key.startswith("sendgrid:")) == 60
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.open_count) == ("opened", 5)
    harness.assert_reconcile_clean()


def test_killed_connections_lose_no_acknowledged_event_and_the_sweeper_alone_applies_them(
    web, sendgrid_key, broker, start_worker
):
    messages = [sent_message() for _ in range(8)]
    batches = [
        harness.sendgrid_events(message, 5, start=start)
        for message in messages
        for start in (0, 5, 10)
    ]
    random.Random(7).shuffle(batches)
    provider = harness.Provider(web.url, sendgrid_key[0])
    killer = harness.ConnectionKiller(spare={harness.own_backend_pid()}, pause=0.08)
    killer.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(provider.deliver, batches))
    finally:
        killer.stop()
    connection.close()  # ours was spared, but start afresh

    assert killer.killed > 0
    assert len(provider.acknowledged) == 8 * 15
    left = harness.unapplied_requests()
    assert left > 0, "no kill landed between a request's store and its apply"
    # Now only the sweeper (a worker with beat) recovers; nobody replays.
    start_worker(
        broker,
        TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS="1",
        TIDINGS_WEBHOOK_STALE_PENDING_SECONDS="2",
        TIDINGS_WEBHOOK_FIRST_RETRY_SECONDS="1",
    )
    workers.wait_until(
        lambda: harness.unapplied_requests() == 0,
        timeout=45,
        message=f"the sweeper left requests unapplied ({left} after the burst)",
    )
    harness.assert_acknowledged_applied_once(provider.acknowledged)
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.open_count) == ("opened", 14)
    harness.assert_reconcile_clean()
