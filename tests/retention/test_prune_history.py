"""prune_history drops the event log of messages created before a month:
only when the counters hold exactly what those events make and none of those
messages can still change; afterwards the metrics are unchanged and
reconcile is clean for what the log still holds, and says which period it
checked."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from campaigns.metrics import campaign_metrics
from campaigns.models import ActionCounter
from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditSource, Change
from messaging.audience.erase import person_erase
from messaging.history import drop_detached, history_detach, history_prune_plan, partitions
from messaging.ingest import apply_events
from messaging.models import Message, MessageEvent, PrunedHistory
from messaging.sending import NotAllowed, message_retry
from tests.factories import action, message
from tests.ingest.helpers import assert_no_drift, counters_snapshot
from tests.retention.helpers import history, month_partitions, table_exists

pytestmark = pytest.mark.django_db

JANUARY = datetime(2026, 1, 10, 8, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 20, 8, tzinfo=UTC)
POSTGRESQL = connection.vendor == "postgresql"


def prune(*args) -> str:
    out = StringIO()
    call_command("prune_history", *args, stdout=out)
    return out.getvalue()


def reconcile(*args) -> str:
    out = StringIO()
    call_command("reconcile_metrics", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def log():
    """One action's messages: two created in January, one in February, one
    this month (2026-11), each sent, delivered and engaged with."""
    month_partitions(JANUARY, FEBRUARY)
    step = action(Channel.EMAIL)
    january = [message(action_obj=step, now=JANUARY) for _ in range(2)]
    february = message(action_obj=step, now=FEBRUARY)
    recent = message(action_obj=step)
    apply_events(history(january[0], "sent", "delivered", "opened", "clicked"))
    apply_events(history(january[1], "sent", "bounced"))
    apply_events(history(february, "sent", "delivered", "opened"))
    apply_events(history(recent, "sent", "delivered", "clicked"))
    assert_no_drift()
    return step, january, february, recent


def test_it_refuses_when_the_counters_drift_from_the_events_it_would_drop(log):
    step, january, *_ = log
    ActionCounter.objects.filter(action=step, metric="delivered").update(value=7)
    with pytest.raises(CommandError) as refused:
        prune("--before", "2026-02")
    assert refused.value.returncode == 1
    assert "counters drift" in str(refused.value)
    assert f"reconcile_metrics --campaign {step.campaign_id}" in str(refused.value)
    assert MessageEvent.objects.filter(message__in=january).count() == 8
    assert not PrunedHistory.objects.exists()


def test_it_refuses_while_a_message_of_those_months_can_still_change(log):
    step, *_ = log
    message(action_obj=step, now=JANUARY)  # queued: the pipeline will write its events
    with pytest.raises(CommandError) as refused:
        prune("--before", "2026-02")
    assert "1 queued" in str(refused.value)
    assert not PrunedHistory.objects.exists()


def test_it_refuses_the_current_month_and_a_month_that_is_not_one(log):
    with pytest.raises(CommandError, match="after the current month"):
        prune("--before", "2027-01")
    with pytest.raises(CommandError, match="not a month"):
        prune("--before", "2026-13")


def test_a_dry_run_reports_and_drops_nothing(log):
    _, january, *_ = log
    out = prune("--before", "2026-02", "--dry-run")
    assert "Would drop the history of 2 messages created before 2026-02" in out
    assert "8 events" in out
    assert MessageEvent.objects.filter(message__in=january).count() == 8
    if POSTGRESQL:
        assert "would drop partition messaging_messageevent_p2026_01" in out
        assert table_exists("messaging_messageevent_p2026_01")
    assert not PrunedHistory.objects.exists()


def test_it_drops_the_months_history_and_leaves_metrics_and_reconcile_clean(log):
    step, january, february, recent = log
    counters_before = counters_snapshot()
    metrics_before = campaign_metrics(step.campaign)
    kept = MessageEvent.objects.exclude(message__in=january).count()

    out = prune("--before", "2026-02")

    assert "Dropped the history of 2 messages created before 2026-02" in out
    assert not MessageEvent.objects.filter(message__in=january).exists()
    assert MessageEvent.objects.count() == kept
    if POSTGRESQL:
        assert "dropped partition messaging_messageevent_p2026_01" in out
        assert not table_exists("messaging_messageevent_p2026_01")
        assert table_exists("messaging_messageevent_p2026_02")
    assert counters_snapshot() == counters_before
    assert campaign_metrics(step.campaign) == metrics_before
    # The messages keep their status; their contribution is on record.
    assert Message.objects.get(pk=january[0].pk).status == "clicked"
    assert_no_drift()
    text = reconcile()
    assert "messages created from 2026-02 to now" in text
    assert "history before 2026-02 was pruned (8 events)" in text
    assert "No drift" in text
    assert "No drift" in reconcile("--campaign", str(step.campaign_id))


def test_a_later_prune_adds_to_the_first_and_reconcile_still_accounts_for_all(log):
    step, *_ = log
    counters_before = counters_snapshot()
    prune("--before", "2026-02")
    with pytest.raises(CommandError, match="already pruned"):
        prune("--before", "2026-02")
    out = prune("--before", "2026-03")
    assert "Dropped the history of 1 messages created before 2026-03 (2026-02 .. 2026-02)" in out
    assert counters_snapshot() == counters_before
    assert_no_drift()
    assert "messages created from 2026-03 to now" in reconcile()


def test_a_late_event_for_a_pruned_message_is_dropped_and_moves_nothing(log):
    step, january, february, recent = log
    prune("--before", "2026-02")
    counters_before = counters_snapshot()
    [late] = history(january[0], "spammed", key_prefix="late")
    result = apply_events([late])
    assert (result.pruned, result.stored) == (1, 0)
    assert counters_snapshot() == counters_before
    assert not MessageEvent.objects.filter(message=january[0]).exists()
    # A message whose history is kept still takes events.
    assert apply_events(history(recent, "opened", key_prefix="late")).stored == 1
    assert_no_drift()


def test_drift_after_a_prune_is_still_found(log):
    step, *_ = log
    prune("--before", "2026-02")
    ActionCounter.objects.filter(action=step, metric="delivered").update(value=9)
    with pytest.raises(CommandError):
        reconcile()


def test_a_pruned_failed_message_cannot_be_retried(log):
    step, *_ = log
    failed = message(action_obj=step, now=JANUARY)
    apply_events(history(failed, "failed"))
    assert Message.objects.get(pk=failed.pk).status == "failed"
    prune("--before", "2026-02")
    with pytest.raises(NotAllowed, match="history was pruned"):
        message_retry(message=failed)
    assert Message.objects.get(pk=failed.pk).send_attempts == 0


def test_erasing_a_person_keeps_a_pruned_messages_derived_fields(log):
    step, january, *_ = log
    prune("--before", "2026-02")
    counters_before = counters_snapshot()
    person_erase(person=january[0].person, change=Change(source=AuditSource.API))
    kept = Message.objects.get(pk=january[0].pk)
    assert (kept.status, kept.open_count, kept.click_count) == ("clicked", 1, 1)
    assert kept.delivered_at is not None and kept.address == ""
    assert counters_snapshot() == counters_before
    assert_no_drift()


@pytest.mark.skipif(not POSTGRESQL, reason="SQLite deletes the rows: nothing is detached")
def test_a_month_detached_but_not_dropped_is_dropped_later(log):
    # The process stopped between the detach's commit and the drop.
    plan = history_prune_plan(before=datetime(2026, 2, 1, tzinfo=UTC))
    history_detach(plan, now=timezone.now())
    assert table_exists("messaging_messageevent_p2026_01")
    assert "messaging_messageevent_p2026_01" not in partitions().values()
    assert_no_drift()
    assert drop_detached() == ["messaging_messageevent_p2026_01"]
    assert not table_exists("messaging_messageevent_p2026_01")
    assert drop_detached() == []


def test_reconcile_says_nothing_was_pruned_before_a_prune(log):
    assert "messages created from 2026-01 to now (none pruned)" in reconcile()
