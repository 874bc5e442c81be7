"""Integration: real Celery worker processes on Redis and PostgreSQL deliver
reporting webhooks to a real HTTP receiver. A worker killed mid-delivery
loses nothing (the notification is sent again, same webhook-id, once its
lease runs out); two pool processes keep each message's order under
retries."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict

import pytest

from campaigns.vocabulary import EventType, Source
from messaging.reporting.models import NotificationStatus, ReportingNotification
from tests import factories
from tests.ingest.helpers import apply
from tests.pipeline.workers import WorkerProcess, broker_for_workers, wait_until, worker_env
from tests.reporting.helpers import webhook
from tests.reporting.receiver import Answer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WORKER_SETTINGS = {
    "TIDINGS_OUTBOUND_ALLOW_PRIVATE": "true",
    "TIDINGS_REPORTING_TIMEOUT_SECONDS": "6",
    "TIDINGS_REPORTING_LEASE_SECONDS": "7",
    "TIDINGS_REPORTING_RETRY_BASE_SECONDS": "1",
    "TIDINGS_REPORTING_SWEEP_INTERVAL_SECONDS": "1",
    "TIDINGS_REPORTING_CACHE_SECONDS": "0",
}


@pytest.fixture
def broker(settings):
    yield from broker_for_workers(settings)


@pytest.fixture
def workers():
    started = []

    def start(broker, *, beat: bool = False):
        worker = WorkerProcess(
            worker_env(broker, **WORKER_SETTINGS), extra_args=("--beat",) if beat else ()
        )
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def _delivered() -> bool:
    return not ReportingNotification.objects.exclude(status=NotificationStatus.DELIVERED).exists()


def test_a_worker_killed_mid_delivery_loses_nothing(broker, workers, receiver):
    webhook(receiver.url, events=["sent"])
    first_arrived = threading.Event()

    def answer(request):
        if not first_arrived.is_set():
            first_arrived.set()
            return Answer(204, stall=4)  # still in flight when the worker dies
        return Answer(204)

    receiver.answer = answer
    doomed = workers(broker)
    message = factories.message()
    apply(factories.event(message, EventType.SENT, 1))  # commits: the task is enqueued
    assert first_arrived.wait(30), doomed.output()[-3000:]
    doomed.kill()
    assert not _delivered()

    worker = workers(broker, beat=True)
    wait_until(_delivered, timeout=60, message=worker.output()[-3000:])
    requests = receiver.all()
    assert len(requests) >= 2
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert any(r.ok for r in requests)


def test_two_pool_processes_keep_each_messages_order_under_retries(broker, workers, receiver):
    webhook(receiver.url, events=["sent", "delivered", "opened"], occurrence="every")
    counter = itertools.count()
    lock = threading.Lock()

    def answer(request):
        with lock:
            n = next(counter)
        return Answer(500 if n % 4 == 1 else 204)  # every fourth request fails

    receiver.answer = answer
    worker = workers(broker, beat=True)
    messages = [factories.message() for _ in range(20)]
    for message in messages:
        apply(
            factories.event(message, EventType.SENT, 1),
            factories.event(message, EventType.DELIVERED, 2),
            factories.event(message, EventType.OPENED, 3, source=Source.RECIPIENT),
        )
    wait_until(_delivered, timeout=120, message=worker.output()[-3000:])

    seen: dict[int, list[tuple[str, bool]]] = defaultdict(list)
    for request in receiver.all():
        seen[request.message_id].append((request.type, request.ok))
    assert set(seen) == {m.id for m in messages}
    order = ["message.sent", "message.delivered", "message.opened"]
    for message_id, sequence in seen.items():
        # Each type is first sent only once the one before it got its 2xx.
        firsts = [next(i for i, (t, _) in enumerate(sequence) if t == kind) for kind in order]
        oks = [next(i for i, (t, ok) in enumerate(sequence) if t == kind and ok) for kind in order]
        assert firsts == sorted(firsts), (message_id, sequence)
        assert oks[0] < firsts[1] and oks[1] < firsts[2], (message_id, sequence)
    assert any(not ok for sequence in seen.values() for _, ok in sequence)  # retries happened
