import pytest
from django.utils import timezone

from campaigns.vocabulary import Channel
from messaging.audience.suppression import person_delete, person_unsubscribe
from messaging.models import Person
from messaging.sending import messages_presend_check
from tests.factories import action, event, message, person
from tests.ingest.helpers import apply, assert_no_drift, metrics, reload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS, Channel.PUSH])
def test_an_unsubscribed_person_gets_undeliverable_messages(channel):
    recipient = person_unsubscribe(person=person())
    msg = message(channel, person_obj=recipient)
    assert messages_presend_check([msg]) == {msg.id}
    msg = reload(msg)
    assert msg.status == "undeliverable"
    assert msg.failure_reason == "person unsubscribed"
    assert metrics(msg.campaign)["counts"]["undeliverable"] == 1
    assert_no_drift()


def test_a_deleted_person_gets_undeliverable_messages():
    recipient = person_delete(person=person())
    msg = message(Channel.EMAIL, person_obj=recipient)
    messages_presend_check([msg])
    msg = reload(msg)
    assert (msg.status, msg.failure_reason) == ("undeliverable", "person deleted")


@pytest.mark.parametrize(
    ("channel", "blank", "reason"),
    [
        (Channel.EMAIL, {"email": ""}, "no email address"),
        (Channel.SMS, {"phone": ""}, "no phone number"),
        (Channel.PUSH, {"push_token": ""}, "no push token"),
    ],
)
def test_a_person_without_an_address_for_the_channel_gets_undeliverable(channel, blank, reason):
    msg = message(channel, person_obj=person(**blank))
    messages_presend_check([msg])
    msg = reload(msg)
    assert (msg.status, msg.failure_reason) == ("undeliverable", reason)


def test_an_unsubscribe_event_marks_the_person_unsubscribed_person_wide():
    recipient = person()
    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 1), event(msg, "unsubscribed", 10))
    assert reload(msg).status == "unsubscribed"
    assert Person.objects.get(pk=recipient.pk).unsubscribed_at is not None
    sms = message(Channel.SMS, action_obj=action(Channel.SMS), person_obj=recipient)
    messages_presend_check([sms])
    assert reload(sms).status == "undeliverable"


def test_a_person_in_good_standing_passes_the_checks():
    msg = message(Channel.EMAIL)
    assert messages_presend_check([msg]) == set()
    assert reload(msg).status == "queued"
    assert Person.objects.filter(unsubscribed_at__lte=timezone.now()).count() == 0
