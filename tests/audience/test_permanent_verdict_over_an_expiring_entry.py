"""A hard bounce, a spam complaint or a provider's suppression verdict on an
address whose entry would expire (the soft-bounce policy's, or a manual one
with an expiry) makes that entry permanent, with its audit row: otherwise
the address would be mailable again when the old entry expired. A permanent
entry stays as it is (first cause wins)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditEntry
from messaging.audience.suppression import suppressed_addresses, suppression_add
from messaging.models import Suppression
from tests.audience.test_soft_bounce_policy import bounce_then
from tests.factories import event, message, person
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


def added(address):
    return list(AuditEntry.objects.filter(address=address, action="added").order_by("id"))


def test_a_hard_bounce_after_three_soft_bounces_makes_the_policys_entry_permanent():
    recipient = person(email="dee@example.com")
    for e in bounce_then(recipient, ["soft", "soft", "soft"]):
        apply(e)
    assert Suppression.objects.get().reason == "soft_bounce"

    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 100), event(msg, "bounced", 105, bounce_type="hard"))

    entry = Suppression.objects.get()
    assert (entry.address, entry.reason, entry.expires_at) == (
        "dee@example.com",
        "hard_bounce",
        None,
    )
    assert entry.message_id == msg.id
    policy, hard = added("dee@example.com")
    assert policy.reason.startswith("soft_bounce") and policy.source == "policy"
    assert hard.reason.startswith("hard_bounce") and "until" not in hard.reason
    assert (hard.source, hard.message_id) == ("provider", msg.id)
    # Still suppressed long after the policy's entry would have expired.
    later = timezone.now() + timedelta(days=365)
    assert suppressed_addresses({"dee@example.com"}, now=later) == {"dee@example.com"}


def test_a_late_delivery_does_not_lift_the_entry_a_hard_bounce_made_permanent():
    recipient = person(email="dee@example.com")
    events = bounce_then(recipient, ["soft", "soft", "soft", "delivered"])
    delivered = events.pop()
    for e in events:
        apply(e)
    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 100), event(msg, "bounced", 105, bounce_type="hard"))
    apply(delivered)
    assert Suppression.objects.get().reason == "hard_bounce"


def test_a_spam_complaint_over_a_manual_entry_with_an_expiry_makes_it_permanent(user):
    suppression_add(
        address="Eve@Example.com",
        note="paused for a week",
        expires_at=timezone.now() + timedelta(days=7),
        created_by=user,
    )
    msg = message(Channel.EMAIL, person_obj=person(email="eve@example.com"))
    apply(event(msg, "sent", 1), event(msg, "spammed", 5))

    entry = Suppression.objects.get()
    assert (entry.reason, entry.expires_at, entry.message_id) == ("spam_complaint", None, msg.id)
    assert entry.created_by is None  # the provider's entry now, not the user's
    manual, spam = added("eve@example.com")
    assert manual.reason.startswith("manual") and manual.actor_name == "dana"
    assert spam.reason.startswith("spam_complaint") and spam.source == "provider"
    assert (spam.actor_id, spam.message_id) == (None, msg.id)


def test_a_providers_suppression_verdict_makes_an_expiring_entry_permanent():
    suppression_add(address="fay@example.com", expires_at=timezone.now() + timedelta(days=1))
    msg = message(Channel.EMAIL, person_obj=person(email="fay@example.com"))
    apply(event(msg, "suppressed", 2, reason="Bounced Address", suppression="hard_bounce"))
    entry = Suppression.objects.get()
    assert (entry.reason, entry.expires_at, entry.note) == ("hard_bounce", None, "Bounced Address")
    assert len(added("fay@example.com")) == 2


def test_a_permanent_manual_entry_stays_as_it_is_after_a_hard_bounce():
    before = suppression_add(address="gus@example.com", note="asked us")
    msg = message(Channel.EMAIL, person_obj=person(email="gus@example.com"))
    apply(event(msg, "sent", 1), event(msg, "bounced", 5, bounce_type="hard"))
    entry = Suppression.objects.get()
    assert (entry.pk, entry.reason, entry.note, entry.message_id, entry.expires_at) == (
        before.pk,
        "manual",
        "asked us",
        None,
        None,
    )
    assert len(added("gus@example.com")) == 1


def test_one_batch_adds_new_entries_upgrades_expiring_ones_and_keeps_permanent_ones():
    suppression_add(address="old@example.com", expires_at=timezone.now() + timedelta(days=1))
    suppression_add(address="kept@example.com", reason="spam_complaint")
    events = []
    for address in ("new@example.com", "old@example.com", "kept@example.com"):
        msg = message(Channel.EMAIL, person_obj=person(email=address))
        events += [event(msg, "sent", 1), event(msg, "bounced", 5, bounce_type="hard")]
    apply(*events)
    assert dict(Suppression.objects.values_list("address", "reason")) == {
        "new@example.com": "hard_bounce",
        "old@example.com": "hard_bounce",
        "kept@example.com": "spam_complaint",
    }
    assert not Suppression.objects.filter(expires_at__isnull=False).exists()
    assert [len(added(a)) for a in ("new@example.com", "old@example.com", "kept@example.com")] == [
        1,
        2,
        1,
    ]


def test_a_new_address_costs_no_query_beyond_the_insert():
    msg = message(Channel.EMAIL, person_obj=person(email="hal@example.com"))
    apply(event(msg, "sent", 1))
    with CaptureQueriesContext(connection) as queries:
        apply(event(msg, "bounced", 5, bounce_type="hard"))
    on_the_list = [q["sql"] for q in queries if "messaging_suppression" in q["sql"]]
    # The expiry check of the address, then the insert: nothing per row.
    assert len(on_the_list) == 2, on_the_list
