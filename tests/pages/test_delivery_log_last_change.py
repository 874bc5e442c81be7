"""The delivery log's "Last change" is when the last thing happened to the
message (its latest event), with the time we received it on hover."""

import pytest

from campaigns.vocabulary import Channel
from messaging.ingest import apply_events
from messaging.models import Message, MessageEvent
from tests import factories
from tests.factories import at, event

pytestmark = pytest.mark.django_db


def test_last_change_is_the_latest_event_not_when_it_was_stored(logged_in):
    action = factories.action(Channel.EMAIL)
    early, late = factories.message(action_obj=action), factories.message(action_obj=action)
    # Both histories arrive in one batch, as after the demo or a late
    # webhook: stored the same second, they happened days apart.
    apply_events(
        [
            event(early, "sent", 1, source="pipeline"),
            event(early, "delivered", 3),
            event(late, "sent", 1, source="pipeline"),
            event(late, "delivered", 2),
            # Received last, happened before the delivery: not the last change.
            event(late, "opened", 60 * 24 * 3),
            event(late, "clicked", 60 * 24 * 3 + 5),
        ]
    )
    rows = {row["id"]: row for row in logged_in.get("/deliveries/").context["rows"]}
    assert rows[early.id]["changed"] == at(3).strftime("%Y-%m-%d %H:%M:%S")
    assert rows[late.id]["changed"] == at(60 * 24 * 3 + 5).strftime("%Y-%m-%d %H:%M:%S")
    clicked = MessageEvent.objects.get(message=late, type="clicked")
    assert rows[late.id]["received"] == clicked.received_at.strftime("%Y-%m-%d %H:%M:%S")
    # Stored together: the old column (updated_at) could not tell them apart.
    assert Message.objects.get(pk=early.pk).updated_at.date() == clicked.received_at.date()


def test_the_log_shows_the_received_time_on_hover(logged_in):
    message = factories.message(Channel.SMS)
    apply_events([event(message, "sent", 1, source="pipeline"), event(message, "delivered", 7)])
    page = logged_in.get("/deliveries/").content.decode()
    received = MessageEvent.objects.get(message=message, type="delivered").received_at
    shown = at(7).strftime("%Y-%m-%d %H:%M:%S")
    assert (
        f'<time datetime="{at(7).isoformat()}" '
        f'title="Received {received:%Y-%m-%d %H:%M:%S} UTC">{shown}</time>'
    ) in page


def test_a_message_with_only_its_queued_event_shows_that_moment(logged_in):
    message = factories.message(Channel.EMAIL)
    [row] = logged_in.get("/deliveries/").context["rows"]
    queued = MessageEvent.objects.get(message=message)
    assert row["changed"] == queued.occurred_at.strftime("%Y-%m-%d %H:%M:%S")
