"""The hand-over (DESIGN.md "Status rules"): a provider may speak for a message
once it was handed to the provider's call, whatever came first of its report
and our own outcome; and whatever reached the provider's verdict or the
recipient counts as sent, so sent ≥ delivered for every message and campaign."""

import itertools

import pytest

from campaigns.vocabulary import Channel, Source
from messaging.ingest import EventRefused
from messaging.sending.services import message_retry
from tests.factories import action, event, message
from tests.ingest.helpers import apply, assert_no_drift, metrics, reload

pytestmark = pytest.mark.django_db

UNKNOWN = "outcome unknown: timeout"


@pytest.mark.parametrize("order", list(itertools.permutations(range(2))))
def test_a_report_and_our_unknown_outcome_give_one_state_in_either_order(order):
    # attempted; the provider took it and reports the delivery; our side
    # timed out and recorded "outcome unknown". Both orders: delivered, sent.
    msg = message(Channel.EMAIL)
    apply(event(msg, "attempted", 1, source=Source.PIPELINE, attempt=1))
    later = [
        event(msg, "delivered", 3, attempt=1),
        event(msg, "failed", 2, source=Source.PIPELINE, reason=UNKNOWN, attempt=1),
    ]
    for index in order:
        apply(later[index])
    msg = reload(msg)
    assert msg.status == "delivered"
    assert msg.sent_at is not None and msg.delivered_at is not None
    counts = metrics(msg.campaign)["counts"]
    assert (counts["sent"], counts["delivered"], counts["failed"]) == (1, 1, 0)
    assert_no_drift()


def test_a_message_never_handed_over_still_refuses_a_report():
    msg = message(Channel.EMAIL)
    result = apply(event(msg, "delivered", 3))
    assert result.refused == 1
    assert reload(msg).status == "queued"


def test_a_late_report_of_an_earlier_attempt_keeps_sent_at_least_delivered():
    campaign_action = action(Channel.SMS)
    msg = message(action_obj=campaign_action)
    other = message(action_obj=campaign_action)
    apply(
        event(other, "attempted", 1, source=Source.PIPELINE, attempt=1),
        event(other, "sent", 2, source=Source.PIPELINE, attempt=1),
        event(msg, "attempted", 1, source=Source.PIPELINE, attempt=1),
        event(msg, "sent", 2, source=Source.PIPELINE, attempt=1),
    )
    apply(event(msg, "failed", 3, reason="30003 unreachable", attempt=1))
    message_retry(message=reload(msg))
    msg = reload(msg)
    apply(
        event(msg, "attempted", 11, source=Source.PIPELINE, attempt=2),
        event(msg, "failed", 12, source=Source.PIPELINE, reason="rejected", attempt=2),
    )
    apply(event(msg, "delivered", 4, attempt=1))  # the provider's late word on attempt 1
    counts = metrics(msg.campaign)["counts"]
    assert counts["delivered"] <= counts["sent"]
    assert reload(msg).sent_at is not None
    assert_no_drift()


def test_push_opens_count_with_the_switch_off():
    push = action(Channel.PUSH, track_opens=False)
    msg = message(action_obj=push)
    apply(event(msg, "attempted", 1, source=Source.PIPELINE), event(msg, "sent", 2))
    apply(event(msg, "opened", 5, source=Source.API), strict=True)  # not refused
    apply(event(msg, "clicked", 8, source=Source.API), strict=True)
    msg = reload(msg)
    assert msg.open_count == 1 and msg.opened_at is not None
    block = metrics(msg.campaign)
    assert block["counts"]["opened"] == 1
    assert block["rates"]["open"] == 1.0
    assert_no_drift()


def test_email_opens_are_still_refused_with_the_switch_off():
    email = action(Channel.EMAIL, track_opens=False)
    msg = message(action_obj=email)
    apply(event(msg, "attempted", 1, source=Source.PIPELINE), event(msg, "sent", 2))
    with pytest.raises(EventRefused, match="open tracking is off for this action"):
        apply(event(msg, "opened", 5, source=Source.API), strict=True)
    assert metrics(msg.campaign)["counts"]["opened"] is None
