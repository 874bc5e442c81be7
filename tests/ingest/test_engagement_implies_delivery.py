import pytest

from campaigns.vocabulary import Channel
from tests.factories import at, event, message
from tests.ingest.helpers import apply, assert_no_drift, metrics, reload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
def test_a_click_proves_delivery_on_channels_that_report_delivery(channel):
    msg = message(channel)
    apply(event(msg, "sent", 1), event(msg, "clicked", 10))
    msg = reload(msg)
    assert msg.delivered_at == at(10)
    counts = metrics(msg.campaign)["counts"]
    assert counts["sent"] >= counts["delivered"] >= counts["clicked"] == 1
    assert_no_drift()


@pytest.mark.parametrize("type_", ["opened", "spammed", "unsubscribed"])
def test_engagement_on_email_proves_delivery(type_):
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1), event(msg, type_, 10))
    assert reload(msg).delivered_at == at(10)


def test_a_later_delivery_report_keeps_the_earlier_proof():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1), event(msg, "opened", 5), event(msg, "delivered", 30))
    msg = reload(msg)
    assert msg.status == "opened"
    assert msg.delivered_at == at(5)


def test_push_does_not_report_delivery():
    msg = message(Channel.PUSH)
    apply(event(msg, "sent", 1), event(msg, "clicked", 10))
    assert reload(msg).delivered_at is None
    assert metrics(msg.campaign)["by_channel"]["push"]["counts"]["delivered"] is None
