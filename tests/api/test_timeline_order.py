"""The API's events and the message page tell one history in one order
(messaging.message_states.timeline_order / timeline_implied): an implied
event sits just before the stored event that implies it, after an event of
the same instant that arrived earlier."""

import pytest

from campaigns.vocabulary import Channel, Source
from messaging.api import message_timeline as api_timeline
from messaging.views import message_timeline as page_timeline
from tests.factories import event, message
from tests.ingest.helpers import apply, reload

pytestmark = pytest.mark.django_db


def test_the_page_and_the_api_order_the_timeline_alike():
    msg = message(Channel.EMAIL)
    apply(
        event(msg, "attempted", 1, source=Source.PIPELINE),
        event(msg, "sent", 2, source=Source.PIPELINE),
    )
    apply(event(msg, "delivered", 5))  # received first
    apply(event(msg, "clicked", 5, source=Source.RECIPIENT))  # same instant, later
    msg = reload(msg)
    api = [(row["type"], row["source"]) for row in api_timeline(msg)]
    page = [(row["type"], row["source"]) for row in page_timeline(msg)]
    assert api == page
    assert page == [
        ("queued", "pipeline"),
        ("attempted", "pipeline"),
        ("sent", "pipeline"),
        ("delivered", "provider"),
        ("opened", "implied"),
        ("clicked", "recipient"),
    ]
