"""The fault suite's harness: real processes (gunicorn for the webhook
endpoints, Celery workers with beat), a "provider" that posts signed
SendGrid batches and retries until it gets its 200, a database-connection
killer, and the checks every fault test ends with."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
import requests
from django.db import connection

from messaging.models import CapturedMessage, Message, MessageEvent, WebhookRequest
from messaging.reconcile import find_drift
from messaging.webhooks.providers import sendgrid
from tests.pipeline import workers

SEND_AT = 1717236000  # the fixtures' day; every event later than the send


def sendgrid_events(message: Message, n: int, *, start: int = 0) -> list[dict]:
    """n distinct SendGrid events (opens after a delivery) for one message."""
    events = []
    for i in range(start, start + n):
        kind = "delivered" if i == 0 else "open"
        events.append(
            {
                "email": f"p{message.pk}@example.com",
                "timestamp": SEND_AT + 60 + i,
                "event": kind,
                "sg_event_id": f"fault-{message.pk}-{i}",
                "sg_message_id": f"sg-{message.pk}.filter0001",
                "tidings_message_id": str(message.pk),
                "sg_machine_open": False,
            }
        )
    return events


def event_keys(batch: list[dict]) -> set[tuple[int, str]]:
    return {(int(e["tidings_message_id"]), f"sendgrid:{e['sg_event_id']}") for e in batch}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """gunicorn serving config.wsgi on the test database."""

    def __init__(self, env: dict[str, str], processes: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PYTEST"))}
        full.update(
            DJANGO_SETTINGS_MODULE="config.test_settings",
            DATABASE_URL=workers.test_database_url(),
            TIDINGS_PUBLIC_URL=self.url,
            **env,
        )
        full.pop("REDIS_URL", None)  # webhooks never need the broker
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                str(processes),
                "--threads",
                "2",
            ],
            cwd=workers.ROOT,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.head(f"{self.url}/webhooks/sendgrid/", timeout=10)
                return
            except requests.RequestException:
                if self.process.poll() is not None:
                    raise AssertionError("gunicorn exited at start") from None
                time.sleep(0.2)
        raise AssertionError("gunicorn did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class Provider:
    """Posts signed SendGrid batches as SendGrid does: a batch is delivered
    again until it is answered 200 (its events are then acknowledged)."""

    url: str
    private_key: str
    acknowledged: set[tuple[int, str]] = field(default_factory=set)
    answers: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, batch: list[dict], *, max_tries: int = 200) -> None:
        body = json.dumps(batch).encode()
        for _ in range(max_tries):
            headers = {
                **sendgrid.sign(body=body, secret=self.private_key),
                "Content-Type": "application/json",
            }
            try:
                response = requests.post(
                    f"{self.url}/webhooks/sendgrid/", data=body, headers=headers, timeout=30
                )
                status = response.status_code
            except requests.RequestException:
                status = "connection error"
            with self.lock:
                self.answers[status] += 1
                if status == 200:
                    self.acknowledged |= event_keys(batch)
                    return
            time.sleep(0.05)
        raise AssertionError(f"a batch was never acknowledged: {self.answers}")


class ConnectionKiller(threading.Thread):
    """Terminates every backend on the test database but the test's own, over
    and over (pg_terminate_backend), until stopped."""

    def __init__(self, spare: set[int], pause: float = 0.01):
        super().__init__(daemon=True)
        self.spare = spare
        self.pause = pause
        self.stopped = threading.Event()
        self.killed = 0

    def run(self) -> None:
        name = connection.settings_dict["NAME"]
        with psycopg.connect(workers.test_database_url(), autocommit=True) as conn:
            own = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            spare = [*self.spare, own]
            while not self.stopped.is_set():
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> ALL(%s)",
                    [name, spare],
                ).fetchall()
                self.killed += sum(1 for (done,) in rows if done)
                time.sleep(self.pause)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def own_backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def stored_keys(message_ids) -> Counter:
    return Counter(
        MessageEvent.objects.filter(message_id__in=list(message_ids)).values_list(
            "message_id", "idempotency_key"
        )
    )


def assert_acknowledged_applied_once(acknowledged: set[tuple[int, str]]) -> None:
    """No acknowledged event lost, none applied twice."""
    stored = stored_keys({message_id for message_id, _ in acknowledged})
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} acknowledged events never applied: {sorted(missing)[:5]}"
    twice = [key for key, n in stored.items() if n > 1]
    assert not twice, twice


def assert_one_key_per_message(message_ids) -> None:
    """No message sent twice under different keys (the provider's record)."""
    keys = Counter(
        CapturedMessage.objects.filter(message_id__in=list(message_ids)).values_list(
            "message_id", flat=True
        )
    )
    assert all(n == 1 for n in keys.values()), {m: n for m, n in keys.items() if n > 1}


def assert_reconcile_clean() -> None:
    drift, _, _ = find_drift(None)
    assert not drift.counters, drift.counters
    assert not drift.messages, drift.messages


def unapplied_requests() -> int:
    return WebhookRequest.objects.exclude(status="applied").count()


class PrivateRedis:
    """A Redis server of the test's own (the shared one is never touched), so
    the test can kill it — losing every queued task, as a Redis without
    persistence does — and start it again on the same port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
