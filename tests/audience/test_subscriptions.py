"""Unsubscribe and resubscribe: scope (only channels addressed to the
person), the API, and providers' resubscribe events."""

import pytest

from campaigns.vocabulary import Channel, Source
from messaging.audience.audit import AuditEntry
from messaging.models import Person
from messaging.sending import messages_presend_check
from tests.factories import at, event, message, person
from tests.ingest.helpers import apply, reload

pytestmark = pytest.mark.django_db


def test_an_unsubscribe_can_be_undone_through_the_api(api):
    person(external_id="ann")
    assert api.post("/api/v1/people/ann/unsubscribe/").json()["unsubscribed_at"] is not None
    body = api.post("/api/v1/people/ann/resubscribe/").json()
    assert body["unsubscribed_at"] is None
    assert Person.objects.get(external_id="ann").unsubscribed_at is None
    # Repeating it changes nothing and records nothing more.
    assert api.post("/api/v1/people/ann/resubscribe/", {}).status_code == 200
    assert AuditEntry.objects.filter(action="resubscribed").count() == 1


def test_resubscribe_answers_404_for_an_unknown_person_and_400_for_a_body(api):
    assert api.post("/api/v1/people/nobody/resubscribe/").status_code == 404
    person(external_id="ann")
    response = api.post("/api/v1/people/ann/resubscribe/", {"x": 1}, format="json")
    assert response.status_code == 400


def test_a_resubscribed_person_gets_email_again():
    recipient = person()
    apply(event(message(Channel.EMAIL, person_obj=recipient), "sent", 1))
    from messaging.audience.subscription import person_resubscribe, person_unsubscribe

    person_unsubscribe(person=recipient)
    stopped = message(Channel.EMAIL, person_obj=recipient)
    assert messages_presend_check([stopped]) == {stopped.id}
    person_resubscribe(person=recipient)
    goes = message(Channel.EMAIL, person_obj=recipient)
    assert messages_presend_check([goes]) == set()


@pytest.mark.parametrize(
    ("channel", "stopped"),
    [
        (Channel.EMAIL, True),
        (Channel.SMS, True),
        (Channel.PUSH, True),
        (Channel.AIRSHIP, True),
        (Channel.SLACK, False),
        (Channel.WEBHOOK, False),
    ],
)
def test_an_unsubscribe_stops_only_the_channels_addressed_to_the_person(channel, stopped):
    from messaging.audience.subscription import person_unsubscribe

    recipient = person_unsubscribe(person=person())
    msg = message(channel, person_obj=recipient)
    assert (messages_presend_check([msg]) == {msg.id}) is stopped
    msg = reload(msg)
    if stopped:
        assert (msg.status, msg.failure_reason) == ("undeliverable", "person unsubscribed")
    else:
        assert msg.status == "queued"


def resubscribe_event(msg, minutes):
    return event(msg, "unknown", minutes, suppression="resubscribed", reason="group_resubscribe")


def test_a_provider_resubscribe_clears_an_earlier_unsubscribe():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1), event(msg, "unsubscribed", 5))
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at == at(5)
    apply(resubscribe_event(msg, 10))
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is None
    assert reload(msg).status == "unsubscribed"  # history: the message's status stays
    rows = AuditEntry.objects.filter(person_id=msg.person_id).order_by("id")
    assert [(r.action, r.source, r.message_id) for r in rows] == [
        ("unsubscribed", "provider", msg.id),
        ("resubscribed", "provider", msg.id),
    ]


def test_a_resubscribe_older_than_the_unsubscribe_changes_nothing():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1), event(msg, "unsubscribed", 10))
    apply(resubscribe_event(msg, 5))
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at == at(10)


def test_an_unsubscribe_that_happened_before_a_resubscribe_arrives_late_and_changes_nothing():
    from messaging.audience.audit import AuditSource, Change
    from messaging.audience.subscription import person_resubscribe, person_unsubscribe

    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1))
    recipient = person_unsubscribe(person=msg.person)
    person_resubscribe(person=recipient, change=Change(source=AuditSource.ADMIN))
    # A provider's unsubscribe dated long before the admin's resubscribe.
    apply(event(msg, "unsubscribed", 5, source=Source.PROVIDER))
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is None


def test_patch_still_cannot_set_unsubscribed(api):
    person(external_id="ann")
    response = api.patch("/api/v1/people/ann/", {"unsubscribed": False}, format="json")
    assert response.status_code == 400
