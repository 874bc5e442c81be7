from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.vocabulary import Channel, EventType
from messaging.models import Message, Person, PersonEvent
from tests import factories
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


def _at(message, event_type, moment):
    return replace(factories.event(message, event_type), occurred_at=moment)


@pytest.fixture
def delivered():
    """An email of a campaign whose goal is "purchase", delivered 10 minutes ago."""
    message = factories.message(Channel.EMAIL, now=timezone.now() - timedelta(hours=1))
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    apply(
        _at(message, EventType.SENT, ten_minutes_ago),
        _at(message, EventType.DELIVERED, ten_minutes_ago),
    )
    return message


def test_a_goal_event_converts_the_message_that_reached_the_person(api, delivered):
    response = api.post(
        "/api/v1/events/",
        {"person": delivered.person.external_id, "name": "purchase", "id": "order-1"},
    )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"person", "name", "id", "timestamp", "converted_messages"}
    assert body["converted_messages"] == [delivered.id]
    assert body["id"] == "order-1"
    message = api.get(f"/api/v1/messages/{delivered.id}/").json()
    assert message["status"] == "converted"
    assert message["converted_at"] is not None


def test_a_repeated_event_id_converts_nothing_twice(api, delivered):
    body = {"person": delivered.person.external_id, "name": "purchase", "id": "order-1"}
    api.post("/api/v1/events/", body)
    again = api.post("/api/v1/events/", body)
    assert again.status_code == 202
    assert again.json()["converted_messages"] == []
    assert PersonEvent.objects.count() == 1
    metrics = api.get(f"/api/v1/campaigns/{delivered.campaign_id}/metrics/").json()
    assert metrics["counts"]["converted"] == 1


def test_an_event_that_is_no_goal_converts_nothing(api, delivered):
    response = api.post(
        "/api/v1/events/", {"person": delivered.person.external_id, "name": "page_view"}
    )
    assert response.status_code == 202
    assert response.json()["converted_messages"] == []
    assert Message.objects.get(pk=delivered.id).status == "delivered"


def test_an_event_of_an_unknown_person_creates_the_person(api):
    at = "2026-01-05T10:00:00+02:00"
    response = api.post("/api/v1/events/", {"person": "new-1", "name": "signup", "timestamp": at})
    assert response.status_code == 202
    assert response.json()["timestamp"] == "2026-01-05T08:00:00Z"
    assert Person.objects.filter(external_id="new-1").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "purchase"}, "person"),
        ({"person": "p"}, "name"),
        ({"person": "p", "name": ""}, "name"),
        ({"person": "p", "name": "x" * 201}, "name"),
        ({"person": "p", "name": "n", "timestamp": "2026-01-05T10:00:00"}, "timestamp"),
        ({"person": "p", "name": "n", "timestamp": "2999-01-01T00:00:00Z"}, "timestamp"),
        ({"person": "p", "name": "n", "id": ""}, "id"),
        ({"person": "p", "name": "n", "value": 10}, "value"),
    ],
)
def test_invalid_events_are_refused_naming_the_field(api, body, field):
    response = api.post("/api/v1/events/", body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Person.objects.count() == 0
