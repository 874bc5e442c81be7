"""Reporting webhooks: notifications delivered per second by a real Celery
worker (prefork, concurrency 2) to a local receiver, next to ingest.

20k notifications (scale 1.0): 10k email messages get `sent` and `delivered`
events through the ingestion core, in batches of 1,000, with one webhook
subscribed to both (occurrence "every"), so ingest writes the outbox as it
would in production (that ingest rate is reported too). Then the worker
starts on the bench's own queue and delivers them, signed, to an HTTP/1.1
keep-alive receiver in this process (asyncio, in a thread), keeping each
message's order (a message's `delivered` waits for its `sent`). The figure is
notifications / (last delivered - first attempt), both stamped by the worker.

reporting_ratio divides it by ingest_events_per_s of the same run (the
ingest module's figure when it ran before in this run, else measured here
the same way): data out should keep up with data in (target >= 0.5).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import timedelta

from bench import common

BATCH = 1000


def run(scale: float) -> dict:
    from django.conf import settings

    broker = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    queue = f"bench-reporting-{os.getpid()}"
    settings.CELERY_BROKER_URL = broker
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = True
    import redis

    client = redis.Redis.from_url(broker)
    client.delete(queue)
    server = Receiver()
    try:
        ingest_rate = common.FIGURES.get("ingest_events_per_s")
        if ingest_rate is None:
            from bench import ingest

            ingest_rate = ingest.run(scale)["ingest_events_per_s"]
            print(f"   ingest (measured here): {ingest_rate:,.0f} events/s", flush=True)
        n_messages = max(500, int(10_000 * scale))
        with_outbox = _ingest_with_webhook(server, n_messages)
        print(f"   ingest writing the outbox: {with_outbox:,.0f} events/s", flush=True)
        delivered = _deliver(queue, broker, n_messages * 2)
        print(f"   delivered: {delivered:,.0f} notifications/s", flush=True)
    finally:
        server.shutdown()
        client.delete(queue)
    return {
        "reporting_notifications_per_s": delivered,
        "reporting_ratio": delivered / ingest_rate,
        "reporting_ingest_events_per_s": with_outbox,
    }


class Receiver:
    """A minimal HTTP/1.1 keep-alive receiver on asyncio, in a thread: it
    reads each request (headers, then content-length bytes) and answers 204.
    It stands in for a customer's production endpoint, so what is measured
    is Tidings' side (http.server's per-request parsing would be the
    bottleneck, not the delivery)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.received = 0
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


class _Protocol(asyncio.Protocol):
    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            start = head.find(b"content-length:")
            length = int(head[start + 15 : head.find(b"\r\n", start)]) if start >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.receiver.received += 1
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


def _ingest_with_webhook(server: Receiver, n_messages: int) -> float:
    from messaging.events import Event
    from messaging.ingest import apply_events
    from messaging.reporting.services import reporting_webhook_create

    reporting_webhook_create(
        url=f"http://127.0.0.1:{server.port}/hook",
        events=["sent", "delivered"],
        occurrence="every",
    )
    _, _, messages = common.email_messages("reporting", n_messages)
    t0 = messages[0].created_at
    events = [
        Event(
            type=type_,
            occurred_at=t0 + timedelta(minutes=offset),
            idempotency_key=f"bench:{type_}",
            source="provider",
            message_id=message.id,
        )
        for offset, type_ in enumerate(("sent", "delivered"), 1)
        for message in messages
    ]

    def ingest():
        for start in range(0, len(events), BATCH):
            apply_events(events[start : start + BATCH])

    return common.rate(len(events), ingest)


def _deliver(queue: str, broker: str, n: int) -> float:
    from django.db import connection
    from django.db.models import Max, Min

    from bench.pipeline import _Worker
    from messaging.reporting.models import (
        NotificationStatus,
        ReportingDelivery,
        ReportingNotification,
    )

    assert ReportingNotification.objects.count() == n, "the outbox does not hold every event"
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    worker = _Worker(queue, broker, TIDINGS_OUTBOUND_ALLOW_PRIVATE="true")
    try:
        pending = ReportingNotification.objects.filter(status=NotificationStatus.PENDING)
        deadline = time.monotonic() + 900
        while pending.exists():
            if time.monotonic() > deadline or worker.process.poll() is not None:
                raise RuntimeError(f"delivery did not finish:\n{worker.output()[-3000:]}")
            time.sleep(0.25)
    finally:
        worker.stop()
    delivered = ReportingNotification.objects.filter(status=NotificationStatus.DELIVERED)
    if delivered.count() != n:
        raise RuntimeError(f"{n - delivered.count()} of {n} notifications were not delivered")
    first = ReportingDelivery.objects.aggregate(first=Min("at"))["first"]
    last = delivered.aggregate(last=Max("delivered_at"))["last"]
    return n / (last - first).total_seconds()
