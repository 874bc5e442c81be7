"""seed_demo: all six channels, goals, links and a two-week history through
the simulated providers, with counters that match the event log."""

import io
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Campaign, Link
from campaigns.vocabulary import Channel, EventType, Source, Status
from messaging.models import Message, MessageEvent

pytestmark = pytest.mark.django_db


def test_seed_demo_for_2000_people_then_reconcile_reports_zero_drift():
    out = io.StringIO()
    call_command("seed_demo", people=2000, seed=7, stdout=out)
    assert "Demo loaded: 2000 people" in out.getvalue()
    assert "13/13" in out.getvalue()  # the progress bar reached the end

    assert set(Message.objects.values_list("channel", flat=True)) == set(Channel.values)
    assert Campaign.objects.exclude(conversion_event="").count() >= 3
    assert Link.objects.exists()
    statuses = Counter(Message.objects.values_list("status", flat=True))
    for status in (
        Status.DELIVERED,
        Status.OPENED,
        Status.CLICKED,
        Status.CONVERTED,
        Status.BOUNCED,
        Status.UNDELIVERABLE,
        Status.DRAFTED,
        Status.SENT,
    ):
        assert statuses[status] > 0, status
    # Provider callbacks came through the parsers, dated over two weeks and never later than now.
    provider = MessageEvent.objects.filter(source=Source.PROVIDER)
    assert set(provider.values_list("provider", flat=True)) == {"sendgrid", "twilio"}
    first = MessageEvent.objects.earliest("occurred_at").occurred_at
    last = MessageEvent.objects.latest("occurred_at").occurred_at
    assert timedelta(days=12) < last - first <= timedelta(days=14)
    assert last <= timezone.now()
    assert MessageEvent.objects.filter(type=EventType.CONVERTED).exists()

    out = io.StringIO()
    call_command("reconcile_metrics", stdout=out)  # exits 1 (raises) on drift
    assert out.getvalue().startswith("No drift")
