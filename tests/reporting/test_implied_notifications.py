"""Implied milestones reach reporting webhooks: a click implies an open,
engagement implies a delivery (messaging.status), and a subscriber to
"opened" or "delivered" learns of them as events of source "implied".

"first" sends one notification per message and type (the implied one, when
it came first); "every" sends the implied one once, then each real human
event. Per message, an implied milestone is written just before the first
event of the batch that implies it, delivered before opened: implied
delivered, implied opened, clicked (the journey's order)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from standardwebhooks import Webhook

from campaigns.vocabulary import Channel, EventType, Source
from messaging.reporting.models import ReportingNotification
from tests import factories
from tests.ingest.helpers import apply
from tests.reporting.helpers import deliver_all, sent_message, webhook

pytestmark = pytest.mark.django_db


def _rows(hook=None, message=None) -> list[tuple[str, str]]:
    rows = ReportingNotification.objects.order_by("id")
    if hook is not None:
        rows = rows.filter(webhook=hook)
    if message is not None:
        rows = rows.filter(message=message)
    return list(rows.values_list("event_type", "source"))


def _click(message, minutes, **fields):
    return factories.event(message, EventType.CLICKED, minutes, source=Source.RECIPIENT, **fields)


def _open(message, minutes, **fields):
    return factories.event(message, EventType.OPENED, minutes, source=Source.RECIPIENT, **fields)


def test_a_click_with_no_open_notifies_opened_as_implied_for_first_and_every():
    first = webhook("https://hooks.example.com/first", events=["opened"], occurrence="first")
    every = webhook("https://hooks.example.com/every", events=["opened"], occurrence="every")
    message = sent_message()
    apply(_click(message, 10))

    for hook in (first, every):
        [row] = ReportingNotification.objects.filter(webhook=hook)
        assert (row.message_id, row.event_type, row.source) == (message.id, "opened", "implied")
        assert row.occurred_at == factories.at(10)
        assert row.event_attempt == 1


def test_a_later_real_open_sends_nothing_more_for_first_and_one_more_for_every():
    first = webhook("https://hooks.example.com/first", events=["opened"], occurrence="first")
    every = webhook("https://hooks.example.com/every", events=["opened"], occurrence="every")
    message = sent_message()
    apply(_click(message, 10))
    apply(_open(message, 20))
    apply(_click(message, 30), _open(message, 40))

    assert _rows(first) == [("opened", "implied")]
    assert _rows(every) == [
        ("opened", "implied"),
        ("opened", Source.RECIPIENT),
        ("opened", Source.RECIPIENT),
    ]


def test_a_real_open_before_the_click_leaves_nothing_implied():
    hook = webhook(
        "https://hooks.example.com/every",
        events=["delivered", "opened", "clicked"],
        occurrence="every",
    )
    message = sent_message()
    apply(factories.event(message, EventType.DELIVERED, 5))
    apply(_open(message, 10))
    apply(_click(message, 20))
    assert _rows(hook) == [
        ("delivered", Source.PROVIDER),
        ("opened", Source.RECIPIENT),
        ("clicked", Source.RECIPIENT),
    ]


def test_a_real_open_in_the_same_batch_as_the_click_is_sent_instead():
    hook = webhook("https://hooks.example.com/every", events=["opened"], occurrence="every")
    message = sent_message()
    # The click is earlier (the milestone is its time), but a real open is
    # there: the subscriber hears of the open itself.
    apply(_click(message, 10), _open(message, 20))
    assert _rows(hook) == [("opened", Source.RECIPIENT)]


def test_engagement_with_no_delivery_report_implies_delivered_on_email():
    first = webhook("https://hooks.example.com/first", events=["delivered"], occurrence="first")
    every = webhook("https://hooks.example.com/every", events=["delivered"], occurrence="every")
    message = sent_message()
    apply(_open(message, 10))
    apply(_click(message, 15))
    apply(factories.event(message, EventType.DELIVERED, 20))

    [row] = ReportingNotification.objects.filter(webhook=first)
    assert (row.event_type, row.source, row.occurred_at) == (
        "delivered",
        "implied",
        factories.at(10),
    )
    assert _rows(every) == [("delivered", "implied"), ("delivered", Source.PROVIDER)]


def test_notifications_of_one_message_follow_the_journey_implied_delivered_then_opened_then_click():
    hook = webhook(
        "https://hooks.example.com/every",
        events=["sent", "delivered", "opened", "clicked"],
        occurrence="every",
    )
    message = factories.message()
    other = sent_message()  # sent is notified for it too
    apply(
        factories.event(message, EventType.SENT, 1),
        _click(other, 2),
        _click(message, 10),
        _click(message, 12),
    )
    assert _rows(hook, message) == [
        ("sent", Source.PROVIDER),
        ("delivered", "implied"),
        ("opened", "implied"),
        ("clicked", Source.RECIPIENT),
        ("clicked", Source.RECIPIENT),
    ]
    assert _rows(hook, other) == [
        ("sent", Source.PROVIDER),
        ("delivered", "implied"),
        ("opened", "implied"),
        ("clicked", Source.RECIPIENT),
    ]


def test_the_implied_milestone_takes_the_earliest_implying_event_and_comes_before_the_first():
    hook = webhook(
        "https://hooks.example.com/every", events=["opened", "clicked"], occurrence="every"
    )
    message = sent_message()
    # Applied out of clock order: the open is implied at the earlier click,
    # reported before the first click applied.
    apply(_click(message, 30), _click(message, 10))
    rows = ReportingNotification.objects.filter(webhook=hook).order_by("id")
    assert [(r.event_type, r.source, r.occurred_at) for r in rows] == [
        ("opened", "implied", factories.at(10)),
        ("clicked", Source.RECIPIENT, factories.at(30)),
        ("clicked", Source.RECIPIENT, factories.at(10)),
    ]


def test_machine_clicks_imply_nothing():
    hook = webhook("https://hooks.example.com/every", events=["delivered", "opened"])
    message = sent_message()
    apply(_click(message, 10, machine=True))
    assert _rows(hook) == []
    apply(_click(message, 20))
    assert _rows(hook) == [("delivered", "implied"), ("opened", "implied")]


def test_no_implied_open_when_the_action_does_not_track_opens():
    hook = webhook("https://hooks.example.com/every", events=["delivered", "opened"])
    action = factories.action(Channel.EMAIL, track_opens=False)
    message = sent_message(action_obj=action)
    apply(_click(message, 10))
    # The click still proves delivery.
    assert _rows(hook) == [("delivered", "implied")]


def test_no_implied_open_on_a_channel_that_does_not_track_opens():
    hook = webhook("https://hooks.example.com/every", events=["delivered", "opened"])
    message = sent_message(channel=Channel.SMS)
    apply(_click(message, 10))
    # SMS reports delivery, so the click implies it; it has no opens.
    assert _rows(hook) == [("delivered", "implied")]


def test_no_implied_delivered_on_a_channel_that_does_not_report_delivery():
    hook = webhook("https://hooks.example.com/every", events=["delivered", "opened"])
    message = sent_message(channel=Channel.PUSH)
    apply(_click(message, 10))
    assert _rows(hook) == [("opened", "implied")]


def test_the_implied_rows_go_in_the_batch_s_one_outbox_statement():
    if connection.vendor != "postgresql":
        pytest.skip("One set-based statement on PostgreSQL; SQLite goes through the ORM.")
    hook = webhook("https://hooks.example.com/every", events=["opened"], occurrence="every")
    messages = [sent_message() for _ in range(5)]
    table = ReportingNotification._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        apply(*[_click(m, 10) for m in messages])
    statements = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert len(statements) == 1
    assert _rows(hook) == [("opened", "implied")] * 5


def test_the_delivered_payload_says_the_event_was_implied(receiver):
    hook = webhook(receiver.url, events=["opened"], occurrence="first")
    message = sent_message()
    apply(_click(message, 10))
    apply(_open(message, 20))
    deliver_all()

    [request] = receiver.all()
    payload = Webhook(hook.secret).verify(request.body, request.headers)
    assert payload["type"] == "message.opened"
    assert payload["data"]["message"]["id"] == message.id
    assert payload["data"]["event"] == {
        "type": "opened",
        "occurred_at": factories.at(10).isoformat().replace("+00:00", "Z"),
        "attempt": 1,
        "source": "implied",
    }
