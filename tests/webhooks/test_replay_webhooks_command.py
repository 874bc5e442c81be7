"""manage.py replay_webhooks [--since] [--provider] [--failed] [--waiting]:
re-applies stored requests from their raw bodies; idempotent."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from campaigns.vocabulary import Channel
from messaging.models import MessageEvent, WebhookRequest
from tests.ingest.helpers import assert_no_drift, counters_snapshot

from .inbox_helpers import event_inserts_failing
from .kits import history, sent_message

pytestmark = pytest.mark.django_db


def replay(*args) -> str:
    out = StringIO()
    call_command("replay_webhooks", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def message(kits):
    return sent_message(101)


def test_replaying_everything_twice_changes_nothing(client, kits, message):
    sms = sent_message(102, channel=Channel.SMS)
    kits["sendgrid"].request("open").post(client)
    kits["mailgun"].request("clicked").post(client)
    kits["twilio"].request("delivered", message_id=102).post(client)
    events, counters = MessageEvent.objects.count(), counters_snapshot()

    assert "Replayed 3 webhook requests: 3 applied" in replay()
    assert "Replayed 3 webhook requests: 3 applied" in replay()

    assert MessageEvent.objects.count() == events
    assert counters_snapshot() == counters
    message.refresh_from_db()
    sms.refresh_from_db()
    assert (message.status, message.open_count, message.click_count) == ("clicked", 1, 1)
    assert sms.status == "delivered"
    assert set(WebhookRequest.objects.values_list("attempts", flat=True)) == {3}
    assert_no_drift()


def test_failed_replays_only_the_requests_whose_apply_failed(client, kits, message):
    kits["sendgrid"].request("processed").post(client)
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
    failed = WebhookRequest.objects.get(status="failed")

    output = replay("--failed")

    assert "Replayed 1 webhook requests: 1 applied" in output
    failed.refresh_from_db()
    assert failed.status == "applied"
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_replay_that_still_fails_says_so_and_exits_1(client, kits, message):
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
        with pytest.raises(CommandError) as raised:
            replay("--failed")
    assert raised.value.returncode == 1
    assert WebhookRequest.objects.get().attempts == 2


def test_waiting_replays_requests_whose_message_appeared(client, kits):
    kits["postmark"].request("delivery").post(client)
    message = sent_message(101)
    assert "1 applied" in replay("--waiting")
    message.refresh_from_db()
    assert message.status == "delivered"


def test_provider_limits_the_replay_to_that_providers_requests(client, kits, message):
    kits["sendgrid"].request("delivered").post(client)
    kits["postmark"].request("open").post(client)
    assert "Replayed 1 webhook requests" in replay("--provider", "postmark")


@pytest.mark.parametrize("since", ["2h", "ISO"])
def test_since_limits_the_replay_to_recent_requests(client, kits, message, since):
    kits["sendgrid"].request("delivered").post(client)
    kits["sendgrid"].request("open").post(client)
    old = WebhookRequest.objects.order_by("id").first()
    WebhookRequest.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=3))
    value = (timezone.now() - timedelta(hours=2)).isoformat() if since == "ISO" else since
    assert "Replayed 1 webhook requests" in replay("--since", value)


def test_a_bad_since_is_an_error(kits):
    with pytest.raises(CommandError, match="--since"):
        replay("--since", "last tuesday")


def test_replay_reads_the_stored_raw_request_not_a_reparsed_copy(client, kits, message):
    # Twilio's event time is the time we received the callback: a replay
    # must date it the same, so it is a duplicate and not a second event.
    sms = sent_message(102, channel=Channel.SMS)
    kits["twilio"].request("delivered", message_id=102).post(client)
    before = [(e.type, e.occurred_at) for e in history(sms)]
    replay()
    assert [(e.type, e.occurred_at) for e in history(sms)] == before
