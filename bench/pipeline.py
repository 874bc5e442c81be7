"""Send pipeline throughput with a real Celery worker on Redis.

20k email messages (scale 1.0) through the capture provider: the messages
are created and their sending tasks (100 messages each) enqueued first, then
one prefork worker with concurrency 2 starts and sends them. The figure is
messages / (last `sent` - first `attempted`), both stamped by the worker.
Next to it, in the same run and with the same worker settings, the rate of a
no-op task: tasks drained from the queue per second, between 10 % and 100 %
drained (so worker start-up is not counted).

The bench uses its own queue on the broker, so nothing else on that Redis
database is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common

ROOT = Path(__file__).resolve().parent.parent


def run(scale: float) -> dict:
    from django.conf import settings

    broker = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    queue = f"bench-pipeline-{os.getpid()}"
    settings.CELERY_BROKER_URL = broker
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        settings.TIDINGS_PROVIDER_BY_CHANNEL, "capture"
    )
    import redis

    client = redis.Redis.from_url(broker)
    client.delete(queue)
    try:
        noop = _noop_rate(client, queue, broker, n=max(500, int(10_000 * scale)))
        print(f"   no-op tasks: {noop:,.0f}/s", flush=True)
        pipeline = _pipeline_rate(queue, broker, n=max(1000, int(20_000 * scale)))
        print(f"   pipeline: {pipeline:,.0f} messages/s", flush=True)
    finally:
        client.delete(queue)
    return {"pipeline_messages_per_s": pipeline, "celery_noop_tasks_per_s": noop}


def _noop_rate(client, queue: str, broker: str, *, n: int) -> float:
    from messaging.sending.tasks import noop

    with noop.app.producer_or_acquire() as producer:
        for _ in range(n):
            noop.apply_async(producer=producer)
    assert client.llen(queue) == n, "the no-op tasks did not reach the bench queue"
    worker = _Worker(queue, broker)
    try:
        started = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            left = client.llen(queue)
            now = time.monotonic()
            if started is None and left <= 0.9 * n:
                started, left_at_start = now, left
            if left == 0:
                break
            time.sleep(0.005)
        else:
            raise RuntimeError(f"no-op tasks not drained:\n{worker.output()[-2000:]}")
        return left_at_start / (time.monotonic() - started)
    finally:
        worker.stop()


def _pipeline_rate(queue: str, broker: str, *, n: int) -> float:
    from django.db import connection, transaction
    from django.db.models import Max, Min

    from campaigns.models import Action, Campaign
    from campaigns.vocabulary import Channel, EventType, Status
    from messaging.models import MessageEvent, Person
    from messaging.sending import messages_create, messages_enqueue

    campaign = Campaign.objects.create(name="bench pipeline", conversion_event="purchase")
    action = Action.objects.create(
        campaign=campaign,
        name="bench email",
        channel=Channel.EMAIL,
        subject="Hello {{ first_name|there }}",
        body="Hi {{ first_name|there }}, see https://example.com/x",
    )
    prefix = f"bench-pipeline-{os.getpid()}"
    people = Person.objects.bulk_create(
        [
            Person(
                external_id=f"{prefix}-{i}",
                email=f"p{i}@example.com",
                attributes={"first_name": f"P{i}"},
            )
            for i in range(n)
        ],
        batch_size=5000,
    )
    ids = []
    for start in range(0, n, 5000):
        with transaction.atomic():
            ids += [
                m.id for m in messages_create(action=action, people=people[start : start + 5000])
            ]
            messages_enqueue(ids[start:])
    # This machine's PostgreSQL runs with autovacuum off: without fresh
    # statistics the planner reads a message's events with a sequential scan.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    worker = _Worker(queue, broker)
    try:
        pending = action.messages.filter(status__in=[Status.QUEUED, Status.ATTEMPTED])
        deadline = time.monotonic() + 900
        while pending.exists():
            if time.monotonic() > deadline or worker.process.poll() is not None:
                raise RuntimeError(f"pipeline did not finish:\n{worker.output()[-3000:]}")
            time.sleep(0.25)
    finally:
        worker.stop()
    sent = action.messages.filter(status=Status.SENT).count()
    if sent != n:
        raise RuntimeError(f"{n - sent} of {n} messages were not sent")
    span = MessageEvent.objects.filter(message__action=action).aggregate(
        first=Min("occurred_at", filter=_type(EventType.ATTEMPTED)),
        last=Max("occurred_at", filter=_type(EventType.SENT)),
    )
    return n / (span["last"] - span["first"]).total_seconds()


def _type(event_type: str):
    from django.db.models import Q

    return Q(type=event_type)


class _Worker:
    """`celery -A config worker`, prefork, concurrency 2, on the bench queue."""

    def __init__(self, queue: str, broker: str, **extra_env: str):
        env = dict(os.environ)
        env.update(REDIS_URL=broker, TIDINGS_PROVIDERS="capture", PYTHONUNBUFFERED="1")
        env.update(extra_env)
        env.setdefault("CELERY_SKIP_CHECKS", "1")
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open while it runs
            prefix="bench-worker-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                f"--queues={queue}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        common.stop(self.process)
        Path(self.log.name).unlink(missing_ok=True)
