"""A provider request sent with chunked transfer encoding (no
Content-Length) through a real gunicorn server is read whole, verified and
applied — not read as empty and refused."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from messaging.models import WebhookRequest
from tests.pipeline import workers

from .helpers import fixture_json
from .kits import history, sent_message

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(kits):
    workers.require_postgresql()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        DATABASE_URL=workers.test_database_url(),
        SENDGRID_WEBHOOK_VERIFICATION_KEY=kits["sendgrid"].public,
        TIDINGS_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=workers.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.head(f"{base}/webhooks/sendgrid/", timeout=10)
            break
        except requests.RequestException:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode()) from None
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=20)


def test_a_chunked_sendgrid_batch_is_read_whole_and_applied(gunicorn, kits):
    message = sent_message(101)
    request = kits["sendgrid"].events(fixture_json("sendgrid", "delivered"))

    def chunks():
        # Several chunks, so the body is really streamed without a length.
        body = request.body
        for start in range(0, len(body), 50):
            yield body[start : start + 50]

    response = requests.post(
        f"{gunicorn}/webhooks/sendgrid/",
        data=chunks(),
        headers={**request.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    row = WebhookRequest.objects.get()
    assert bytes(row.body) == request.body
    assert row.headers.get("Transfer-Encoding") == "chunked"
    assert json.loads(bytes(row.body)) == fixture_json("sendgrid", "delivered")
    assert [e.type for e in history(message)] == ["delivered"]
