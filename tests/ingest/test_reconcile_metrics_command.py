from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from campaigns.models import ActionCounter, SeriesCounter
from campaigns.vocabulary import Channel
from messaging.models import Message
from tests.factories import event, message
from tests.ingest.helpers import apply, assert_no_drift

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("reconcile_metrics", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def history():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1), event(msg, "delivered", 2), event(msg, "clicked", 9))
    return msg


def test_it_reports_no_drift_on_a_clean_log(history):
    assert "No drift" in run()
    assert "No drift" in run("--campaign", str(history.campaign_id))


def test_an_unknown_campaign_is_an_error_not_a_clean_check(history):
    with pytest.raises(CommandError) as excinfo:
        run("--campaign", str(history.campaign_id + 1000))
    assert excinfo.value.returncode == 2
    assert "No campaign" in str(excinfo.value)


def test_it_finds_a_tampered_counter_and_exits_1(history):
    ActionCounter.objects.filter(metric="delivered").update(value=7)
    with pytest.raises(CommandError) as excinfo:
        run()
    assert excinfo.value.returncode == 1


def test_it_prints_each_drifting_counter(history, capsys):
    ActionCounter.objects.filter(metric="clicks").update(value=5)
    SeriesCounter.objects.filter(metric="opened").delete()
    from io import StringIO

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_metrics", stdout=out)
    text = out.getvalue()
    assert f"drift action {history.action_id} clicks: stored 5, recounted 1" in text
    assert "opened: stored 0, recounted 1" in text


def test_fix_repairs_counters_and_derived_message_fields(history):
    ActionCounter.objects.filter(metric="opened").delete()
    Message.objects.filter(pk=history.pk).update(status="queued", open_count=0)
    assert "Repaired" in run("--fix")
    assert_no_drift()
    history.refresh_from_db()
    assert history.status == "clicked" and history.open_count == 1
    assert "No drift" in run()


def test_it_reports_stored_events_that_break_the_new_rules_and_exits_1(history, capsys):
    from messaging.models import MessageEvent

    event = MessageEvent.objects.filter(type="sent").first()
    MessageEvent.objects.filter(pk=event.pk).update(attempt=5)
    earlier = event.message.created_at - timedelta(days=400)
    other = MessageEvent.objects.exclude(pk=event.pk).filter(type="queued").first()
    MessageEvent.objects.filter(pk=other.pk).update(occurred_at=earlier)
    with pytest.raises(CommandError):
        call_command("reconcile_metrics")
    out = capsys.readouterr().out
    assert f"event {event.pk}: attempt beyond the message's" in out
    assert f"event {other.pk}: time outside [created, received + 5 min]" in out
