import pytest

from campaigns.vocabulary import Channel
from messaging.conversions import person_event_record
from messaging.models import Message
from tests.factories import action, at, campaign, event, message, person
from tests.ingest.helpers import apply, assert_no_drift, metrics

pytestmark = pytest.mark.django_db


def sent(msg, minutes, delivered=None):
    events = [
        event(msg, "attempted", minutes, source="pipeline"),
        event(msg, "sent", minutes, source="pipeline"),
    ]
    if delivered is not None:
        events.append(event(msg, "delivered", delivered))
    apply(*events)
    return msg


@pytest.fixture
def setup():
    goal = campaign(conversion_event="purchase", conversion_window_hours=24)
    email = action(Channel.EMAIL, campaign_obj=goal)
    sms = action(Channel.SMS, campaign_obj=goal)
    return goal, email, sms, person()


def convert(recipient, minutes, event_id="order-1", name="purchase"):
    return person_event_record(
        person=recipient, name=name, occurred_at=at(minutes), event_id=event_id
    )[1]


def test_the_last_message_received_before_the_goal_converts(setup):
    goal, email, sms, recipient = setup
    first = sent(message(action_obj=email, person_obj=recipient), 0, delivered=1)
    second = sent(message(action_obj=sms, person_obj=recipient), 10, delivered=12)
    assert convert(recipient, 60) == [second.id]
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.status == "converted" and second.converted_at == at(60)
    assert first.status == "delivered"
    assert metrics(goal)["counts"]["converted"] == 1
    assert_no_drift()


def test_delivery_time_decides_which_message_reached_the_person_last(setup):
    _, email, sms, recipient = setup
    early_sent_late_delivered = sent(
        message(action_obj=email, person_obj=recipient), 0, delivered=30
    )
    sent(message(action_obj=sms, person_obj=recipient), 10, delivered=11)
    assert convert(recipient, 60) == [early_sent_late_delivered.id]


@pytest.mark.parametrize(
    "spoiler",
    [
        ("failed", {}),
        ("bounced", {"bounce_type": "hard"}),
        ("suppressed", {}),
        ("undeliverable", {}),
    ],
)
def test_a_failed_bounced_suppressed_or_undeliverable_message_never_converts(setup, spoiler):
    _, email, sms, recipient = setup
    good = sent(message(action_obj=sms, person_obj=recipient), 0, delivered=1)
    bad = sent(message(action_obj=email, person_obj=recipient), 10)
    type_, kw = spoiler
    apply(event(bad, type_, 20, **kw))
    assert convert(recipient, 60) == [good.id]


def test_a_drafted_message_never_converts(setup):
    goal, _, sms, recipient = setup
    drafts = action(Channel.EMAIL, campaign_obj=goal, send_as_draft=True)
    good = sent(message(action_obj=sms, person_obj=recipient), 0, delivered=1)
    draft = message(action_obj=drafts, person_obj=recipient, now=at(30))
    assert draft.status == "drafted"
    assert convert(recipient, 60) == [good.id]


def test_nothing_converts_outside_the_window(setup):
    _, email, _, recipient = setup
    sent(message(action_obj=email, person_obj=recipient), 0, delivered=1)
    assert convert(recipient, 24 * 60 + 2) == []


def test_a_message_reached_after_the_goal_does_not_convert(setup):
    _, email, sms, recipient = setup
    good = sent(message(action_obj=email, person_obj=recipient), 0, delivered=1)
    sent(message(action_obj=sms, person_obj=recipient), 90, delivered=91)
    assert convert(recipient, 60) == [good.id]


def test_a_repeated_goal_event_id_converts_nothing_twice(setup):
    goal, email, sms, recipient = setup
    first = sent(message(action_obj=email, person_obj=recipient), 0, delivered=1)
    assert convert(recipient, 60, event_id="order-7") == [first.id]
    sent(message(action_obj=sms, person_obj=recipient), 70, delivered=71)
    assert convert(recipient, 80, event_id="order-7") == []
    assert Message.objects.filter(converted_at__isnull=False).count() == 1
    assert metrics(goal)["counts"]["converted"] == 1


def test_only_channels_that_track_conversions_can_convert():
    goal = campaign(conversion_event="purchase")
    slack = action(Channel.SLACK, campaign_obj=goal)
    recipient = person()
    sent(message(action_obj=slack, person_obj=recipient), 0)
    assert convert(recipient, 10) == []


def test_an_event_with_another_name_converts_nothing(setup):
    _, email, _, recipient = setup
    sent(message(action_obj=email, person_obj=recipient), 0, delivered=1)
    assert convert(recipient, 10, name="signup") == []


def test_a_later_hard_bounce_takes_the_conversion_away(setup):
    # Issue 11 reverses the earlier rule ("a later bounce does not move a
    # conversion"): the bounce says the message never stayed delivered.
    goal, email, _, recipient = setup
    msg = sent(message(action_obj=email, person_obj=recipient), 0, delivered=1)
    convert(recipient, 10)
    apply(event(msg, "bounced", 30, bounce_type="hard"))
    msg.refresh_from_db()
    assert msg.status == "bounced" and msg.converted_at is None
    assert metrics(goal)["counts"]["converted"] == 0
    assert_no_drift()
