"""DNS rebinding: a reporting webhook's name that resolves publicly for the
guard's check and to this machine when the request connects reaches
nothing. Each connection resolves once, checks what it got and connects to
that (config.outbound.guarded_pool_manager)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest

from config import outbound
from tests.reporting.helpers import deliver_all, guard_refusals, sent_message, webhook
from tests.reporting.receiver import start_receiver

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.216.34"


@pytest.fixture
def rebinding(monkeypatch):
    """rebind.example: public for the first lookup through the guard, this
    machine for every later one; the system resolver says this machine."""
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [PUBLIC] if len(lookups) == 1 else ["127.0.0.1"]

    monkeypatch.setattr(outbound, "resolve", resolve)
    system = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return system("127.0.0.1" if host == "rebind.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_a_name_rebound_to_loopback_after_the_check_is_refused_when_connecting(
    receiver, settings, rebinding
):
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    port = urlsplit(receiver.url).port
    webhook(f"http://rebind.example:{port}/hook", events=["sent"])
    sent_message()
    attempts = guard_refusals(receiver, naming="127.0.0.1")
    # The first try: the check before the request (public), then the
    # connection's own lookup (this machine); any later try stops at its check.
    assert len(rebinding) == len(attempts) + 1


def test_the_demo_receiver_stays_reachable_with_debug_on(settings):
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    settings.DEBUG = True
    inbox = start_receiver(path="/dev/webhook-inbox/")
    try:
        settings.TIDINGS_PUBLIC_URL = inbox.url.removesuffix("/dev/webhook-inbox/")
        webhook(inbox.url, events=["sent"])
        sent_message()
        deliver_all(timeout=10)
        assert len(inbox.answered_ok()) == 1
    finally:
        inbox.server.shutdown()
        inbox.server.server_close()
