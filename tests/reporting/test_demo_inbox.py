"""`make run`'s demo: bootstrap_demo points a reporting webhook at the
demo's own /dev/webhook-inbox/ (DEBUG only), which verifies each POST with
the standardwebhooks verifier and lists what arrived."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from campaigns.vocabulary import EventType
from config.outbound import OutboundRefused
from messaging.reporting import devinbox
from messaging.reporting.guard import reporting_url_check
from messaging.reporting.models import ReportingDelivery, ReportingWebhook
from tests import factories
from tests.ingest.helpers import apply
from tests.reporting.helpers import deliver_all

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(settings, live_server):
    settings.DEBUG = True
    settings.ROOT_URLCONF = "tests.reporting.dev_urls"
    settings.TIDINGS_PUBLIC_URL = live_server.url
    # The guard stays on: the demo's own inbox is the one exception.
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    devinbox._received.clear()
    factories.campaign()  # not empty: bootstrap_demo seeds nothing
    call_command("bootstrap_demo", stdout=io.StringIO())
    yield live_server
    devinbox._received.clear()


def test_the_demo_webhook_delivers_to_the_inbox_which_verifies_and_lists_it(demo, client):
    hook = ReportingWebhook.objects.get()
    assert hook.url == f"{demo.url}/dev/webhook-inbox/"
    assert hook.occurrence == "every" and "clicked" in hook.events

    message = factories.message()
    apply(
        factories.event(message, EventType.SENT, 1),
        factories.event(message, EventType.DELIVERED, 2),
    )
    deliver_all()

    # queued (the message's creation), sent, delivered: newest first on the page.
    assert [d.status_code for d in ReportingDelivery.objects.order_by("id")] == [204, 204, 204]
    assert [row["type"] for row in devinbox.received()] == [
        "message.delivered",
        "message.sent",
        "message.queued",
    ]
    client.force_login(get_user_model().objects.get(username="admin"))
    page = client.get("/dev/webhook-inbox/").content.decode()
    assert "message.delivered" in page and f"/messages/{message.id}/" in page

    call_command("bootstrap_demo", stdout=io.StringIO())  # a second run adds none
    assert ReportingWebhook.objects.count() == 1


def test_the_inbox_refuses_an_unsigned_or_forged_post(demo):
    request = urllib.request.Request(
        f"{demo.url}/dev/webhook-inbox/",
        data=b'{"type": "message.sent"}',
        headers={
            "content-type": "application/json",
            "webhook-id": "msg_x",
            "webhook-timestamp": "1700000000",
            "webhook-signature": "v1,AAAA",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    assert devinbox.received() == []


def test_only_the_demo_inbox_is_exempt_from_the_guard_and_only_with_debug(demo, settings):
    reporting_url_check(f"{demo.url}/dev/webhook-inbox/")
    with pytest.raises(OutboundRefused):
        reporting_url_check(f"{demo.url}/dev/other/")
    settings.DEBUG = False
    with pytest.raises(OutboundRefused):
        reporting_url_check(f"{demo.url}/dev/webhook-inbox/")
