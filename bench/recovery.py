"""recovery_seconds: how long after a burst of webhook requests during which
database connections were killed until every acknowledged event is applied,
by the sweeper alone, with the sweeper interval and the inbox's recovery
delays at their defaults (TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS=30).

A real gunicorn (2 workers) takes signed SendGrid batches of 100 events from
client threads that, as SendGrid does, deliver a batch again until it is
answered 200; meanwhile a thread terminates every other backend of the
database (pg_terminate_backend) every 100 ms. A Celery worker with --beat
runs from before the burst, as in production. The clock starts when the
last batch is acknowledged and stops when the event log holds every
acknowledged event. Target (issue 13): at most two sweeper intervals.
Needs REDIS_URL (the worker's broker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bench import common
from bench.webhooks import ROOT, _batches, _sent_messages, _Server

CLIENT_THREADS = 4
BATCH = 100
KILL_PAUSE = 0.1
LIMIT_SECONDS = 300


def run(scale: float) -> dict:
    import requests
    from django.conf import settings
    from django.db import connection

    from messaging.models import MessageEvent, WebhookRequest
    from messaging.webhooks.providers import base, sendgrid

    if not os.environ.get("REDIS_URL"):
        print("   REDIS_URL is unset: recovery needs a worker's broker; skipped")
        return {}
    interval = settings.TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS
    n_messages = max(int(2000 * scale), 100)
    private_key, public_key = base.generate_p256_keypair()
    messages, action = _sent_messages("recovery", n_messages)
    batches = _batches(messages, seed=13, batch=BATCH)
    bodies = [json.dumps(batch).encode() for batch in batches]
    wanted = {
        (int(event["tidings_message_id"]), f"sendgrid:{event['sg_event_id']}")
        for batch in batches
        for event in batch
    }
    connection.close()

    worker = _worker()
    server = _Server(public_key)
    killer = _Killer(os.environ["DATABASE_URL"], settings.DATABASES["default"]["NAME"])
    answers: dict[object, int] = {}
    lock = threading.Lock()
    try:
        server.start()
        killer.start()
        local = threading.local()

        def deliver(body: bytes) -> None:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            for _ in range(500):
                headers = {
                    **sendgrid.sign(body=body, secret=private_key),
                    "Content-Type": "application/json",
                }
                try:
                    status = session.post(server.url, data=body, headers=headers, timeout=60)
                    status = status.status_code
                except requests.RequestException:
                    status = "error"
                    session = local.session = requests.Session()
                with lock:
                    answers[status] = answers.get(status, 0) + 1
                if status == 200:
                    return
                time.sleep(0.05)
            raise RuntimeError("a batch was never acknowledged")

        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            list(pool.map(deliver, bodies))
        burst_end = time.monotonic()
        killer.stop()
        connection.close()
        unapplied = WebhookRequest.objects.exclude(status="applied").count()
        ids = [m.id for m in messages]

        def missing() -> int:
            stored = set(
                MessageEvent.objects.filter(
                    message_id__in=ids, idempotency_key__startswith="sendgrid:"
                ).values_list("message_id", "idempotency_key")
            )
            return len(wanted - stored)

        while missing():
            if time.monotonic() - burst_end > LIMIT_SECONDS:
                raise RuntimeError(f"{missing()} acknowledged events still unapplied")
            time.sleep(0.25)
        recovery = time.monotonic() - burst_end
    finally:
        killer.stop()
        server.stop()
        common.stop(worker)
    print(
        f"   {len(wanted)} events in {len(bodies)} batches; answers {answers}; "
        f"{killer.killed} connections killed; {unapplied} requests unapplied after the burst"
    )
    return {
        "recovery_seconds": round(recovery, 1),
        "recovery_sweep_interval_seconds": interval,
        "recovery_in_sweep_intervals": round(recovery / interval, 2),
        "recovery_unapplied_after_burst": unapplied,
    }


def _worker() -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    log = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the worker
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--beat",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    time.sleep(3)  # imports and the broker connection; beat's clock starts now
    if process.poll() is not None:
        raise RuntimeError(f"the worker exited with {process.returncode}")
    return process


class _Killer(threading.Thread):
    def __init__(self, url: str, name: str):
        super().__init__(daemon=True)
        self.url = url
        self.name = name
        self.halt = threading.Event()
        self.killed = 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.halt.is_set():
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.name],
                ).fetchall()
                self.killed += sum(1 for (done,) in rows if done)
                time.sleep(KILL_PAUSE)

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=10)
