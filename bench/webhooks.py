"""Webhook HTTP throughput against the ingestion core, in the same run.

50k SendGrid events (scale 1.0) for 10k email messages — processed,
deferred, delivered, open, click each — shuffled and cut into signed
1,000-event batches that mix many messages, as SendGrid's are. They are
POSTed to /webhooks/sendgrid/ on a real server (gunicorn, 2 sync workers, on
a free loopback port, same database) from a pool of client threads: verify,
store raw, parse, apply, answer. The core figure is apply_events alone on a
second set of messages with the same kind of batches, parsed beforehand,
in this one process (so the ratio sets two web workers, as PERFORMANCE.md's
figures use, against one in-process loop on the same two cores).
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import common

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000
EVENTS_PER_MESSAGE = 5
WORKERS = 2
CLIENT_THREADS = 4
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def run(scale: float) -> dict:
    import requests

    from bench.common import rate
    from messaging.ingest import apply_events
    from messaging.models import MessageEvent, WebhookRequest
    from messaging.webhooks.providers import base, sendgrid

    n_messages = max(int(10_000 * scale), BATCH // EVENTS_PER_MESSAGE)
    private_key, public_key = base.generate_p256_keypair()

    http_messages, http_action = _sent_messages("http", n_messages)
    core_messages, _ = _sent_messages("core", n_messages)
    warm_messages, _ = _sent_messages("warm", 2 * CLIENT_THREADS)

    http_bodies = [json.dumps(batch).encode() for batch in _batches(http_messages, seed=1)]
    signed = [(body, sendgrid.sign(body=body, secret=private_key)) for body in http_bodies]
    core_batches = [
        sendgrid.parse(json.dumps(batch).encode(), received_at=datetime.now(UTC))
        for batch in _batches(core_messages, seed=2)
    ]
    total = sum(len(batch) for batch in core_batches)
    http_total = sum(len(json.loads(body)) for body in http_bodies)
    warm = [
        json.dumps(batch).encode()
        for batch in _batches(warm_messages, seed=3, batch=EVENTS_PER_MESSAGE * 2)
    ]

    core = rate(total, lambda: [apply_events(batch) for batch in core_batches])

    server = _Server(public_key)
    try:
        server.start()
        local = threading.local()

        def post(body: bytes, headers: dict[str, str]) -> None:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            response = session.post(
                server.url,
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=120,
            )
            if response.status_code != 200 or response.json().get("inbox") != "applied":
                raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")

        with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
            # Warm both workers (imports, URLconf, connections) first.
            list(pool.map(lambda b: post(b, sendgrid.sign(body=b, secret=private_key)), warm))

            def send_all():
                list(pool.map(lambda item: post(*item), signed))

            http = rate(http_total, send_all)
    finally:
        server.stop()

    stored = MessageEvent.objects.filter(message__action=http_action, source="provider").count()
    if stored != http_total:
        raise RuntimeError(f"{stored} events stored over HTTP, expected {http_total}")
    if WebhookRequest.objects.exclude(status="applied").exists():
        raise RuntimeError("some webhook requests were not applied")
    return {
        "webhook_http_events_per_s": round(http, 1),
        "webhook_core_events_per_s": round(core, 1),
        "webhook_http_ratio": round(http / core, 3),
    }


def _sent_messages(label: str, n: int):
    from campaigns.models import Action, Campaign, Link
    from campaigns.vocabulary import Channel, Source
    from messaging.events import Event
    from messaging.ingest import apply_events
    from messaging.models import Person
    from messaging.sending import messages_create

    campaign = Campaign.objects.create(name=f"bench webhooks {label}")
    action = Action.objects.create(
        campaign=campaign, name="email", channel=Channel.EMAIL, subject="s", body="b"
    )
    Link.objects.create(action=action, url="https://shop.example.com/spring", position=0)
    people = Person.objects.bulk_create(
        [
            Person(external_id=f"bench-webhooks-{label}-{i}", email=f"w{label}{i}@example.com")
            for i in range(n)
        ],
        batch_size=5000,
    )
    messages = []
    for start in range(0, n, 5000):
        messages += messages_create(action=action, people=people[start : start + 5000], now=T0)
    for start in range(0, n, 1000):
        apply_events(
            [
                Event(
                    type=type_,
                    occurred_at=T0 + timedelta(seconds=1),
                    idempotency_key=f"{type_}:0",
                    source=Source.PIPELINE,
                    message_id=message.id,
                )
                for message in messages[start : start + 1000]
                for type_ in ("attempted", "sent")
            ]
        )
    return messages, action


def _batches(messages, *, seed: int, batch: int = BATCH) -> list[list[dict]]:
    rnd = random.Random(seed)
    events = []
    base_ts = int(T0.timestamp()) + 60
    for message in messages:
        sg_id = f"bench{message.id:012d}"
        common = {
            "email": message.address,
            "smtp-id": f"<{sg_id}@ismtpd-555>",
            "category": ["bench"],
            "sg_message_id": f"{sg_id}.filter0001.16648.5515E0B88.0",
            "tidings_message_id": str(message.id),
        }
        offset = rnd.randrange(3600)
        kinds = [
            ("processed", 0, {}),
            ("deferred", 5, {"response": "421 try again later", "attempt": "1"}),
            ("delivered", 60, {"response": "250 OK", "ip": "168.1.1.1", "tls": 1}),
            (
                "open",
                600,
                {"useragent": "Mozilla/5.0", "ip": "203.0.113.7", "sg_machine_open": False},
            ),
            (
                "click",
                700,
                {
                    "useragent": "Mozilla/5.0",
                    "ip": "203.0.113.7",
                    "url": "https://shop.example.com/spring",
                    "url_offset": {"index": 0, "type": "html"},
                },
            ),
        ]
        for k, (name, after, extra) in enumerate(kinds):
            events.append(
                {
                    **common,
                    "event": name,
                    "timestamp": base_ts + offset + after,
                    "sg_event_id": f"{sg_id}-{k}",
                    **extra,
                }
            )
    rnd.shuffle(events)
    return [events[start : start + batch] for start in range(0, len(events), batch)]


class _Server:
    """gunicorn config.wsgi, 2 sync workers, on a free loopback port."""

    def __init__(self, verification_key: str):
        self.verification_key = verification_key
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        import requests

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/webhooks/sendgrid/"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SENDGRID_WEBHOOK_VERIFICATION_KEY": self.verification_key,
            "LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.head(self.url, timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None:
            common.stop(self.process)
