import pytest

from campaigns.vocabulary import Channel
from tests.factories import at, event, message
from tests.ingest.helpers import apply, assert_no_drift, metrics, reload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.PUSH])
def test_a_click_implies_an_open_at_the_same_instant(channel):
    msg = message(channel)
    apply(event(msg, "sent", 1, source="pipeline"), event(msg, "clicked", 10))
    msg = reload(msg)
    assert msg.status == "clicked"
    assert msg.opened_at == msg.clicked_at == at(10)
    assert msg.open_count == 1 and msg.click_count == 1
    counts = metrics(msg.campaign)["counts"]
    assert counts["opened"] == counts["clicked"] == 1
    assert_no_drift()


def test_a_click_never_implies_an_open_on_sms():
    msg = message(Channel.SMS)
    apply(event(msg, "sent", 1, source="pipeline"), event(msg, "clicked", 10))
    msg = reload(msg)
    assert msg.status == "clicked"
    assert msg.opened_at is None and msg.open_count == 0
    by_channel = metrics(msg.campaign)["by_channel"]["sms"]
    assert by_channel["counts"]["opened"] is None
    assert by_channel["counts"]["clicked"] == 1


def test_a_real_open_after_the_click_keeps_the_earlier_implied_time():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1), event(msg, "opened", 20))
    apply(event(msg, "clicked", 10))
    msg = reload(msg)
    assert msg.opened_at == at(10)
    assert msg.open_count == 1
    assert_no_drift()
