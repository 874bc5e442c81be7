"""The soft-bounce policy: TIDINGS_SOFT_BOUNCE_LIMIT consecutive soft
bounces of one address (no delivery in between) suppress it for
TIDINGS_SOFT_BOUNCE_SUPPRESS_DAYS days."""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from campaigns.vocabulary import Channel
from messaging.models import Suppression
from tests.factories import event, message, person
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


def bounce_then(recipient, outcomes):
    """One sent email per outcome ("soft", "hard" or "delivered"), in order."""
    events = []
    for n, outcome in enumerate(outcomes):
        msg = message(Channel.EMAIL, person_obj=recipient)
        events.append(event(msg, "sent", 10 * n))
        if outcome == "delivered":
            events.append(event(msg, "delivered", 10 * n + 5))
        else:
            events.append(event(msg, "bounced", 10 * n + 5, bounce_type=outcome))
    return events


def test_three_consecutive_soft_bounces_suppress_the_address_for_seven_days():
    recipient = person(email="Dee@Example.com")
    before = timezone.now()
    for e in bounce_then(recipient, ["soft", "soft", "soft"]):
        apply(e)
    entry = Suppression.objects.get()
    assert (entry.address, entry.reason) == ("dee@example.com", "soft_bounce")
    assert before + timedelta(days=7) <= entry.expires_at <= timezone.now() + timedelta(days=7)


def test_two_soft_bounces_suppress_nothing():
    for e in bounce_then(person(), ["soft", "soft"]):
        apply(e)
    assert not Suppression.objects.exists()


def test_a_delivery_in_between_resets_the_count():
    for e in bounce_then(person(), ["soft", "soft", "delivered", "soft", "soft"]):
        apply(e)
    assert not Suppression.objects.exists()


def test_the_limit_and_the_days_come_from_the_settings(settings):
    settings.TIDINGS_SOFT_BOUNCE_LIMIT = 2
    settings.TIDINGS_SOFT_BOUNCE_SUPPRESS_DAYS = 30
    for e in bounce_then(person(), ["soft", "soft"]):
        apply(e)
    entry = Suppression.objects.get()
    assert entry.expires_at > timezone.now() + timedelta(days=29)


def test_soft_bounces_on_sms_suppress_nothing():
    recipient = person()
    for n in range(4):
        msg = message(Channel.SMS, person_obj=recipient)
        apply(event(msg, "sent", 10 * n), event(msg, "bounced", 10 * n + 5, bounce_type="soft"))
    assert not Suppression.objects.exists()


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    outcomes=st.lists(st.sampled_from(["soft", "delivered"]), min_size=1, max_size=6),
    order=st.randoms(use_true_random=False),
)
def test_the_verdict_depends_on_the_events_not_on_their_arrival_order(outcomes, order):
    Suppression.objects.all().delete()
    recipient = person()
    events = bounce_then(recipient, outcomes)
    # Our own "sent" comes first, as the pipeline's does (a provider verdict on
    # a message never sent is refused, DESIGN.md); the providers' verdicts
    # arrive in any order.
    sends = [e for e in events if e.type == "sent"]
    verdicts = [e for e in events if e.type != "sent"]
    order.shuffle(verdicts)
    for e in sends + verdicts:
        apply(e)
    streak = 0
    for outcome in reversed(outcomes):
        if outcome != "soft":
            break
        streak += 1
    assert Suppression.objects.filter(reason="soft_bounce").exists() == (streak >= 3)


def test_a_late_delivery_dated_after_the_bounces_lifts_the_policys_entry():
    from messaging.audience.audit import AuditEntry

    events = bounce_then(person(), ["soft", "soft", "soft", "delivered"])
    delivered = events.pop()
    for e in events:
        apply(e)
    assert Suppression.objects.filter(reason="soft_bounce").exists()
    apply(delivered)
    assert not Suppression.objects.exists()
    removed = AuditEntry.objects.get(action="removed")
    assert removed.source == "policy" and "delivered" in removed.reason
