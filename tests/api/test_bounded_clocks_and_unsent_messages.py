"""Through the API: clocks are bounded (400 far outside [message created,
now + 5 min], clamped within), and only a sent message can be engaged with."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.vocabulary import Channel, EventType
from messaging.models import MessageEvent
from tests import factories
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


def test_a_reported_open_dated_year_1_is_a_400_naming_the_timestamp(api):
    message = factories.message(Channel.PUSH, now=timezone.now())
    apply(factories.event(message, EventType.SENT, 0))
    response = api.post(
        f"/api/v1/messages/{message.id}/opened/", {"timestamp": "0001-01-01T00:00:00Z"}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["timestamp"]
    assert not MessageEvent.objects.filter(message=message, type=EventType.OPENED).exists()


def test_a_reported_open_a_little_before_the_message_was_created_is_clamped(api):
    created = timezone.now() - timedelta(hours=1)
    message = factories.message(Channel.PUSH, now=created)
    apply(factories.event(message, EventType.SENT, 0))
    skewed = created - timedelta(minutes=2)
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {"timestamp": skewed.isoformat()})
    assert response.status_code == 202
    event = MessageEvent.objects.get(message=message, type=EventType.OPENED)
    assert event.occurred_at == message.created_at
    assert event.detail["clock_adjusted"] == skewed.isoformat()


def test_an_open_reported_for_a_message_never_sent_is_history_only(api):
    message = factories.message(Channel.PUSH, now=timezone.now())
    Message = type(message)
    response = api.post(f"/api/v1/messages/{message.id}/opened/", {})
    assert response.status_code == 202
    message = Message.objects.get(pk=message.pk)
    assert message.status == "queued" and message.opened_at is None
    event = MessageEvent.objects.get(message=message, type=EventType.REFUSED)
    assert event.detail["refused_type"] == "opened"
    assert event.detail["refused_reason"] == "not sent"


def test_a_message_and_its_events_show_their_attempt(api):
    message = factories.message(Channel.PUSH)
    apply(factories.event(message, EventType.SENT, 1))
    body = api.get(f"/api/v1/messages/{message.id}/").json()
    assert body["attempt"] == 1
    assert {event["attempt"] for event in body["events"]} == {1}
