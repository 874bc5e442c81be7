"""Delivering reporting webhooks to a real HTTP receiver (http.server on
loopback, started by the test): Standard Webhooks signatures checked with
the `standardwebhooks` verifier, first vs every, retries with one
webhook-id after 500s and timeouts, order per message, a failing message
holding back no other, nothing for a rolled-back batch."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from standardwebhooks import Webhook

from campaigns.vocabulary import EventType, Source
from messaging.conversions import person_event_record
from messaging.models import Person
from messaging.reporting.delivery import (
    DeliveryReport,
    Outcome,
    notifications_claim,
    notifications_deliver,
    outcomes_record,
)
from messaging.reporting.models import (
    NotificationStatus,
    ReportingDelivery,
    ReportingNotification,
    ReportingWebhook,
)
from messaging.reporting.payload import messages_shown
from tests import factories
from tests.ingest.helpers import apply
from tests.reporting.helpers import (
    api_detail,
    deliver_all,
    guard_refusals,
    pending,
    sent_message,
    webhook,
    without,
)
from tests.reporting.receiver import Answer

pytestmark = pytest.mark.django_db


def test_a_notification_is_signed_per_standard_webhooks_and_verifies(receiver):
    hook = webhook(receiver.url, events=["sent"])
    message = sent_message()
    deliver_all()

    [request] = receiver.all()
    payload = Webhook(hook.secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    assert payload["type"] == "message.sent"
    shown = without(api_detail(message.pk).json(), "events", "subject", "body")
    assert payload["data"]["message"] == shown
    assert payload["data"]["message"]["headers"]["List-Unsubscribe"].startswith("<http")
    assert "events" not in payload["data"]["message"]
    assert "body" not in payload["data"]["message"]
    assert payload["data"]["event"] == {
        "type": "sent",
        "occurred_at": factories.at(1).isoformat().replace("+00:00", "Z"),
        "attempt": 1,
        "source": Source.PROVIDER,
    }
    assert payload["timestamp"]


def test_a_wrong_secret_does_not_verify(receiver):
    webhook(receiver.url, events=["sent"])
    sent_message()
    deliver_all()
    [request] = receiver.all()
    other = webhook("https://example.com/other", events=["sent"])
    with pytest.raises(Exception, match="signature"):
        Webhook(other.secret).verify(request.body, request.headers)


def test_content_is_sent_only_when_the_webhook_includes_it(receiver):
    webhook(receiver.url, events=["sent"], include_content=True)
    message = sent_message()
    deliver_all()
    shown = receiver.all()[0].payload["data"]["message"]
    assert shown["subject"] == message.subject and shown["body"] == message.body
    assert shown == without(api_detail(message.pk).json(), "events")


def test_first_sends_one_per_message_and_type_and_every_sends_each_human_event(receiver):
    first = webhook(receiver.url + "?first", events=["clicked"], occurrence="first")
    every = webhook(receiver.url + "?every", events=["clicked"], occurrence="every")
    message = sent_message()
    apply(factories.event(message, EventType.CLICKED, 2, source=Source.RECIPIENT))
    apply(
        factories.event(message, EventType.CLICKED, 3, source=Source.RECIPIENT),
        factories.event(message, EventType.CLICKED, 4, source=Source.RECIPIENT, machine=True),
    )
    deliver_all()

    by_webhook = {first.id: 0, every.id: 0}
    for request in receiver.all():
        for hook in (first, every):
            try:
                Webhook(hook.secret).verify(request.body, request.headers)
                by_webhook[hook.id] += 1
            except Exception:
                pass
    assert by_webhook == {first.id: 1, every.id: 2}
    assert {r.type for r in receiver.all()} == {"message.clicked"}


def test_only_subscribed_events_of_enabled_webhooks_are_written(receiver):
    webhook(receiver.url, events=["delivered"])
    webhook(receiver.url, events=["sent"], enabled=False)
    message = sent_message()
    assert ReportingNotification.objects.count() == 0
    apply(factories.event(message, EventType.DELIVERED, 2))
    assert list(ReportingNotification.objects.values_list("event_type", flat=True)) == ["delivered"]


def test_a_rolled_back_batch_notifies_nothing(receiver):
    webhook(receiver.url, events=["sent", "delivered"])
    message = factories.message()
    with pytest.raises(RuntimeError), transaction.atomic():
        apply(
            factories.event(message, EventType.SENT, 1),
            factories.event(message, EventType.DELIVERED, 2),
        )
        raise RuntimeError("the batch's transaction fails after ingest")
    assert ReportingNotification.objects.count() == 0
    notifications_deliver(budget_seconds=1)
    assert receiver.all() == []

    apply(factories.event(message, EventType.SENT, 1))
    deliver_all()
    assert [r.type for r in receiver.all()] == ["message.sent"]


def test_a_500_is_retried_with_the_same_webhook_id_until_a_2xx(receiver):
    webhook(receiver.url, events=["sent"])
    answers = iter([500, 503, 204])
    receiver.answer = lambda request: Answer(next(answers))
    sent_message()
    deliver_all()

    requests = receiver.all()
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    attempts = list(ReportingDelivery.objects.order_by("id"))
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 500), (2, 503), (3, 204)]
    assert attempts[0].error.startswith("HTTP 500")
    assert attempts[0].next_retry_at is not None and attempts[2].next_retry_at is None
    notification = ReportingNotification.objects.get()
    assert notification.status == NotificationStatus.DELIVERED and notification.tries == 3


def test_a_timeout_is_retried_with_the_same_webhook_id(receiver):
    webhook(receiver.url, events=["sent"])
    stalls = iter([1.5, 0])
    receiver.answer = lambda request: Answer(204, stall=next(stalls))
    sent_message()
    deliver_all()

    requests = receiver.all()
    assert (
        len(requests) == 2
        and requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
    )
    first, second = ReportingDelivery.objects.order_by("id")
    assert first.status_code is None and "timed out" in first.error
    assert second.status_code == 204


def test_notifications_of_one_message_arrive_in_order_under_retries(receiver):
    webhook(receiver.url, events=["sent", "delivered", "opened", "clicked"], occurrence="every")
    failures = {"message.sent": 2, "message.delivered": 1, "message.opened": 0}

    def answer(request):
        if failures.get(request.type, 0):
            failures[request.type] -= 1
            return Answer(500)
        return Answer(204)

    receiver.answer = answer
    message = factories.message()
    apply(
        factories.event(message, EventType.SENT, 1),
        factories.event(message, EventType.DELIVERED, 2),
        factories.event(message, EventType.OPENED, 3, source=Source.RECIPIENT),
        factories.event(message, EventType.CLICKED, 4, source=Source.RECIPIENT),
    )
    deliver_all()

    sequence = [(r.type, r.ok) for r in receiver.all()]
    assert sequence == [
        ("message.sent", False),
        ("message.sent", False),
        ("message.sent", True),
        ("message.delivered", False),
        ("message.delivered", True),
        ("message.opened", True),
        ("message.clicked", True),
    ]


def test_a_failing_message_does_not_hold_back_another(receiver):
    webhook(receiver.url, events=["sent", "delivered"], occurrence="every")
    stuck = factories.message()
    receiver.answer = lambda request: Answer(500 if request.message_id == stuck.id else 204)
    apply(
        factories.event(stuck, EventType.SENT, 1),
        factories.event(stuck, EventType.DELIVERED, 2),
    )
    others = [sent_message() for _ in range(3)]
    apply(*(factories.event(m, EventType.DELIVERED, 2) for m in others))

    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        notifications_deliver(budget_seconds=1)
        time.sleep(0.02)
    delivered = [r for r in receiver.all() if r.ok]
    assert sorted((r.message_id, r.type) for r in delivered) == sorted(
        (m.id, t) for m in others for t in ("message.sent", "message.delivered")
    )
    stuck_requests = [r for r in receiver.all() if r.message_id == stuck.id]
    # Retried many times, and its later notification waits behind it.
    assert len(stuck_requests) >= 3
    assert {r.type for r in stuck_requests} == {"message.sent"}


def test_connections_to_an_endpoint_are_kept_alive_across_notifications(receiver, settings):
    settings.TIDINGS_REPORTING_CONNECTIONS = 2
    webhook(receiver.url, events=["sent"])
    for _ in range(5):
        sent_message()
    deliver_all()
    deliver_all()
    for _ in range(5):
        sent_message()
    deliver_all()
    assert len(receiver.all()) == 10
    # At most two lanes, each on a kept-alive connection, across batches.
    assert len({r.connection for r in receiver.all()}) <= 2


def test_the_outbound_guard_refuses_a_private_url_at_send_time(receiver, settings):
    webhook(receiver.url, events=["sent"])
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    sent_message()
    guard_refusals(receiver, naming="loopback")


def test_after_the_retry_window_a_notification_fails_and_a_dead_endpoint_is_disabled(
    receiver, settings
):
    settings.TIDINGS_REPORTING_RETRY_HOURS = 0.5 / 3600  # half a second
    settings.TIDINGS_REPORTING_DISABLE_AFTER_HOURS = 0.5 / 3600
    hook = webhook(receiver.url, events=["sent"])
    receiver.answer = lambda request: Answer(500)
    sent_message()
    deliver_all(timeout=10)

    notification = ReportingNotification.objects.get()
    assert notification.status == NotificationStatus.FAILED
    last = ReportingDelivery.objects.order_by("-id").first()
    assert last.next_retry_at is None and last.status_code == 500
    hook.refresh_from_db()
    assert hook.enabled is False
    assert hook.disabled_note.startswith("Disabled automatically")
    assert "HTTP 500" in hook.disabled_note

    # Disabled: new events notify nothing.
    sent_message()
    assert pending() == 0


def test_a_success_clears_an_endpoints_failure_record(receiver):
    hook = webhook(receiver.url, events=["sent"])
    answers = iter([500, 204])
    receiver.answer = lambda request: Answer(next(answers))
    sent_message()
    notifications_deliver(budget_seconds=0.5, limit=1)
    hook.refresh_from_db()
    assert hook.failing_since is not None
    deliver_all()
    hook.refresh_from_db()
    assert hook.failing_since is None and hook.enabled


def test_a_claimed_notification_is_leased_so_no_other_claim_takes_it(receiver):
    webhook(receiver.url, events=["sent"])
    sent_message()
    first = notifications_claim(limit=10)
    assert len(first) == 1
    assert notifications_claim(limit=10) == []
    notification = ReportingNotification.objects.get()
    assert notification.next_attempt_at > notification.created_at + timedelta(seconds=30)
    assert not ReportingWebhook.objects.filter(enabled=False).exists()


def test_the_message_in_a_notification_is_exactly_what_the_api_shows():
    bounced = sent_message()
    apply(factories.event(bounced, EventType.BOUNCED, 2, bounce_type="hard", reason="550 gone"))
    failed = factories.message("sms")
    apply(factories.event(failed, EventType.FAILED, 1, reason="provider down"))
    clicked = sent_message()
    apply(factories.event(clicked, EventType.CLICKED, 3, source=Source.RECIPIENT))
    draft = factories.message(action_obj=factories.action(send_as_draft=True))
    # Tracked links: the first rewritten in the HTML body (the second is text,
    # which HTML bodies leave alone), and an open pixel.
    linked = sent_message(
        action_obj=factories.action(
            body='<html><body><a href="https://example.com/a">A</a> '
            "https://example.com/b</body></html>"
        )
    )
    sms_linked = sent_message(action_obj=factories.action("sms", body="Go https://example.com/b"))
    # Credited with a conversion: delivered, then the person's goal event.
    converted = sent_message()
    apply(factories.event(converted, EventType.DELIVERED, 2))
    person = Person.objects.get(pk=converted.person_id)
    person_event_record(person=person, name="purchase", occurred_at=factories.at(30), event_id="o1")
    messages = [bounced, failed, clicked, draft, linked, sms_linked, converted]
    with CaptureQueriesContext(connection) as queries:
        shown, contents = messages_shown(
            [m.id for m in messages], content_ids=[failed.id, linked.id, converted.id]
        )
    # The messages, their actions' links, their conversion events, the goal
    # events those name: four reads for the batch, none per message.
    assert len(queries.captured_queries) == 4
    for message in messages:
        detail = api_detail(message.id)
        assert shown[message.id] == without(detail.data, "events", "subject", "body")
        assert json.loads(json.dumps(shown[message.id])) == without(
            detail.json(), "events", "subject", "body"
        )
        if message.id in contents:
            assert contents[message.id] == without(detail.data, *shown[message.id], "events")
    assert set(contents) == {failed.id, linked.id, converted.id}
    # Each case shows what it is here for.
    assert [link["url"] for link in shown[linked.id]["tracking"]["links"]] == [
        "https://example.com/a"
    ]
    assert shown[linked.id]["tracking"]["open_pixel"]
    assert [link["url"] for link in shown[sms_linked.id]["tracking"]["links"]] == [
        "https://example.com/b"
    ]
    assert shown[failed.id]["headers"] == {}
    assert shown[failed.id]["tracking"]["unsubscribe_url"] is None
    assert set(shown[bounced.id]["headers"]) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
    assert [c["event_id"] for c in shown[converted.id]["conversions"]] == ["o1"]
    assert all(shown[m.id]["conversions"] == [] for m in messages if m is not converted)


def test_a_delivery_batch_reads_the_same_whatever_its_size(receiver):
    def batch_queries(n: int) -> int:
        for _ in range(n):
            sent_message()
        with CaptureQueriesContext(connection) as queries:
            notifications_deliver(budget_seconds=10)
        assert pending() == 0
        return len(queries.captured_queries)

    webhook(receiver.url, events=["sent"], include_content=True)
    assert batch_queries(2) == batch_queries(8)


def test_a_webhook_deleted_while_its_notification_is_in_flight_records_nothing(receiver):
    hook = webhook(receiver.url, events=["sent"])
    sent_message()
    [claimed] = notifications_claim(limit=10)
    hook.delete()
    outcomes_record(
        [(claimed, Outcome(status_code=204), claimed.created_at)],
        released=[],
        report=DeliveryReport(),
    )
    assert not ReportingDelivery.objects.exists()
    assert not ReportingNotification.objects.exists()
