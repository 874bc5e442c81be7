"""The data migration that gives stored events their attempt derives it from
the rule the engine used until then: a `queued:<n>` event (n >= 1) starts a
new attempt, and every event at or after it belongs to that attempt."""

import importlib

import pytest
from django.db import connection

from campaigns.vocabulary import Channel
from messaging.models import MessageEvent
from tests.factories import event, message
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db

DERIVE = importlib.import_module("messaging.migrations.0004_event_attempt").DERIVE_ATTEMPTS


def test_stored_events_get_the_attempt_todays_clock_rule_gave_them():
    retried = message(Channel.EMAIL)
    apply(
        event(retried, "attempted", 1, key="attempted:0", source="pipeline"),
        event(retried, "failed", 2, key="failed:0", source="pipeline"),
        event(retried, "queued", 10, key="queued:1", source="pipeline", attempt=2),
        event(retried, "attempted", 11, key="attempted:1", source="pipeline", attempt=2),
        event(retried, "sent", 12, key="sent:1", source="pipeline", attempt=2),
        event(retried, "queued", 20, key="queued:2", source="pipeline", attempt=3),
    )
    untouched = message(Channel.EMAIL)
    apply(event(untouched, "sent", 1, key="sent:0", source="pipeline"))
    # As the rows were before the migration: no attempt stored.
    MessageEvent.objects.update(attempt=1)

    with connection.cursor() as cursor:
        cursor.execute(DERIVE)

    attempts = dict(
        MessageEvent.objects.filter(message=retried).values_list("idempotency_key", "attempt")
    )
    assert attempts == {
        "queued:0": 1,
        "attempted:0": 1,
        "failed:0": 1,
        "queued:1": 2,
        "attempted:1": 2,
        "sent:1": 2,
        "queued:2": 3,
    }
    assert set(
        MessageEvent.objects.filter(message=untouched).values_list("attempt", flat=True)
    ) == {1}
