"""Providers' resubscribe events (SendGrid group_resubscribe, Postmark
SubscriptionChange reactivation) clear the person's unsubscribe, through the
real endpoints, and land in the audit trail with their cause."""

import pytest

from messaging.audience.audit import AuditEntry
from messaging.models import Person

from .kits import sent_message

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("provider", "unsubscribe", "resubscribe"),
    [
        ("sendgrid", "group_unsubscribe", "group_resubscribe"),
        ("postmark", "subscription_change_unsubscribe", "subscription_change_reactivated"),
    ],
)
def test_a_providers_resubscribe_clears_the_unsubscribe(
    client, kits, provider, unsubscribe, resubscribe
):
    message = sent_message(101)
    assert kits[provider].request(unsubscribe).post(client).status_code == 200
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is not None

    assert kits[provider].request(resubscribe).post(client).status_code == 200
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is None
    rows = AuditEntry.objects.filter(person_id=message.person_id).order_by("id")
    assert [(r.action, r.source, r.message_id) for r in rows] == [
        ("unsubscribed", "provider", message.id),
        ("resubscribed", "provider", message.id),
    ]
    # The message keeps its history: the resubscribe moves no status.
    message.refresh_from_db()
    assert message.status == "unsubscribed"


def test_a_resubscribe_arriving_before_its_unsubscribe_leaves_the_later_unsubscribe(client, kits):
    message = sent_message(101)
    # Postmark's reactivation (June 2) is later than the unsubscribe (June 1):
    # whatever the arrival order, the person ends resubscribed.
    kits["postmark"].request("subscription_change_reactivated").post(client)
    kits["postmark"].request("subscription_change_unsubscribe").post(client)
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is None
