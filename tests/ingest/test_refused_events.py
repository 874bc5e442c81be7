import pytest

from campaigns.vocabulary import Channel
from messaging.ingest import EventRefused
from messaging.models import MessageEvent
from tests.factories import event, message
from tests.ingest.helpers import apply, reload

pytestmark = pytest.mark.django_db


def test_an_sms_open_is_refused_strictly_and_nothing_is_stored():
    msg = message(Channel.SMS)
    before = MessageEvent.objects.count()
    with pytest.raises(EventRefused, match="sms message does not track 'opened'"):
        apply(event(msg, "delivered", 1), event(msg, "opened", 5), strict=True)
    assert MessageEvent.objects.count() == before
    assert reload(msg).status == "queued"


def test_an_airship_click_is_refused():
    msg = message(Channel.AIRSHIP)
    with pytest.raises(EventRefused):
        apply(event(msg, "clicked", 5), strict=True)
    result = apply(event(msg, "sent", 1), event(msg, "clicked", 5))
    assert result.refused == 1
    msg = reload(msg)
    assert msg.status == "sent" and msg.click_count == 0


@pytest.mark.parametrize(
    ("channel", "type_"),
    [
        (Channel.SLACK, "delivered"),
        (Channel.WEBHOOK, "opened"),
        (Channel.PUSH, "bounced"),
        (Channel.SMS, "spammed"),
        (Channel.SMS, "unsubscribed"),
        (Channel.SLACK, "converted"),
    ],
)
def test_untracked_events_are_refused_per_the_capability_table(channel, type_):
    msg = message(channel)
    with pytest.raises(EventRefused):
        apply(event(msg, type_, 5), strict=True)
