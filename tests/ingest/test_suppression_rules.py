import pytest

from campaigns.vocabulary import Channel
from messaging.audience.suppression import suppression_remove
from messaging.models import Message, Suppression
from messaging.sending import messages_presend_check
from tests.factories import action, event, message, person
from tests.ingest.helpers import apply, assert_no_drift, reload

pytestmark = pytest.mark.django_db


def send_next_email(recipient):
    msg = message(Channel.EMAIL, person_obj=recipient)
    stopped = messages_presend_check([msg])
    return reload(msg), stopped


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ([("bounced", {"bounce_type": "hard"})], "hard_bounce"),
        ([("spammed", {})], "spam_complaint"),
    ],
)
def test_hard_bounce_and_spam_suppress_the_address_and_the_next_email(events, reason):
    recipient = person(email="Someone@Example.com")
    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 1), *[event(msg, t, 5, **kw) for t, kw in events])
    entry = Suppression.objects.get()
    assert entry.address == "someone@example.com"
    assert entry.reason == reason
    assert entry.message_id == msg.id

    nxt, stopped = send_next_email(recipient)
    assert stopped == {nxt.id}
    assert nxt.status == "suppressed"
    assert nxt.failure_reason == "address on the suppression list"
    assert_no_drift()


def test_a_soft_bounce_suppresses_nothing():
    recipient = person()
    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 1), event(msg, "bounced", 5, bounce_type="soft"))
    assert not Suppression.objects.exists()
    nxt, stopped = send_next_email(recipient)
    assert stopped == set() and nxt.status == "queued"


def test_an_sms_hard_bounce_suppresses_nothing():
    msg = message(Channel.SMS)
    apply(event(msg, "sent", 1), event(msg, "bounced", 5, bounce_type="hard"))
    assert reload(msg).status == "bounced"
    assert not Suppression.objects.exists()


def test_removing_a_suppression_lets_later_messages_go_out():
    recipient = person()
    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 1), event(msg, "spammed", 5))
    suppression_remove(suppression=Suppression.objects.get())
    nxt, stopped = send_next_email(recipient)
    assert stopped == set() and nxt.status == "queued"


def test_a_provider_suppression_verdict_suppresses_the_message_and_adds_our_entry():
    msg = message(Channel.EMAIL)
    apply(event(msg, "suppressed", 2, reason="Bounced Address", suppression="hard_bounce"))
    assert reload(msg).status == "suppressed"
    assert Suppression.objects.get().reason == "hard_bounce"


def test_suppression_is_for_email_only():
    recipient = person()
    email = message(Channel.EMAIL, person_obj=recipient)
    apply(event(email, "sent", 1), event(email, "bounced", 5, bounce_type="hard"))
    sms = message(Channel.SMS, action_obj=action(Channel.SMS), person_obj=recipient)
    assert messages_presend_check([sms]) == set()
    assert Message.objects.get(pk=sms.pk).status == "queued"
