"""Erase keeps the metrics where they were, the counters by mailbox provider
included: an erased email message keeps only which provider it went to
(campaigns.mailbox.erased_address), so later events of it and reconcile
file it where its earlier events were filed."""

import pytest

from campaigns.mailbox import erased_address, mailbox_provider
from campaigns.vocabulary import Channel, Source
from messaging.audience.audit import Change
from messaging.audience.erase import person_erase
from messaging.models import Message
from tests.factories import action, event, message, person
from tests.ingest.helpers import apply, assert_no_drift, metrics, reload

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("address", "kept"),
    [
        ("Ana@Gmail.com", "@gmail.com"),
        ("bo@hotmail.co.uk", "@outlook.com"),
        ("cy@yahoo.co.jp", "@yahoo.com"),
        ("di@me.com", "@icloud.com"),
        ("ed@ed-family.example", ""),  # a domain of one's own could name them
    ],
)
def test_an_erased_address_keeps_only_its_mailbox_provider(address, kept):
    assert erased_address(address) == kept
    assert mailbox_provider(kept) == mailbox_provider(address)


def test_a_late_event_after_erase_moves_the_same_mailbox_providers_counters():
    email = action(Channel.EMAIL)
    ana = person(email="ana@gmail.com")
    msg = message(action_obj=email, person_obj=ana)
    apply(
        event(msg, "attempted", 1, source=Source.PIPELINE),
        event(msg, "sent", 2, source=Source.PIPELINE),
        event(msg, "delivered", 3),
        event(msg, "spammed", 4),
    )
    before = metrics(msg.campaign)["by_mailbox_provider"]
    assert before["gmail"]["counts"]["spammed"] == 1

    person_erase(person=ana, change=Change(source="api"))
    assert reload(msg).address == "@gmail.com"
    assert not Message.objects.filter(address__icontains="ana").exists()
    assert metrics(msg.campaign)["by_mailbox_provider"] == before
    assert_no_drift()

    apply(event(msg, "bounced", 6, bounce_type="hard", reason="550 5.1.1 user unknown"))
    after = metrics(msg.campaign)["by_mailbox_provider"]
    assert after["gmail"]["counts"]["bounced"] == 1
    assert after["other"]["counts"]["sent"] == 0
    assert all(
        value is None or value >= 0
        for block in after.values()
        for value in block["counts"].values()
    )
    assert_no_drift()
