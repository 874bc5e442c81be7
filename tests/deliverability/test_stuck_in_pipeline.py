"""stuck_in_pipeline (CONTRACT.md "Deliverability"): queued or attempted for
more than an hour, timed from when the message entered that status in its
current attempt (queued_at / attempted_at), not from when its row was last
touched: the send sweeper touches a backlog's rows every
TIDINGS_SEND_STALE_SECONDS, exactly when the count should rise."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.deliverability import stale_counts, stale_q
from campaigns.vocabulary import EventType, Source, Status
from messaging import sending
from messaging.events import Event
from messaging.ingest import apply_events, messages_discard
from messaging.models import Message
from messaging.sending import recovery
from tests import factories

from .helpers import email_action

pytestmark = pytest.mark.django_db

STUCK = "stuck_in_pipeline"


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def queued(action, *, ago: timedelta, touched: timedelta | None = None) -> Message:
    """A message queued ``ago`` (its queued event, so queued_at); its row
    last touched ``touched`` ago (updated_at; default now)."""
    now = timezone.now()
    message = factories.message(action_obj=action, now=now - ago)
    Message.objects.filter(pk=message.pk).update(updated_at=now - (touched or timedelta(0)))
    return Message.objects.get(pk=message.pk)


def attempted(action, *, queued_ago: timedelta, ago: timedelta) -> Message:
    """A message queued ``queued_ago`` and handed to its backend ``ago``; its
    row touched just now (a transient retry bumps updated_at)."""
    now = timezone.now()
    message = factories.message(action_obj=action, now=now - queued_ago)
    apply_events(
        [
            Event(
                type=EventType.ATTEMPTED,
                occurred_at=now - ago,
                idempotency_key="attempted:0",
                source=Source.PIPELINE,
                message_id=message.pk,
            )
        ]
    )
    Message.objects.filter(pk=message.pk).update(updated_at=now)
    message = Message.objects.get(pk=message.pk)
    assert message.status == Status.ATTEMPTED
    return message


def stuck_ids(campaign_id: int, now=None) -> list[int]:
    return sorted(
        Message.objects.filter(stale_q(STUCK, now), campaign_id=campaign_id).values_list(
            "id", flat=True
        )
    )


def test_a_message_queued_two_hours_ago_is_stuck_though_its_row_was_touched_just_now():
    action = email_action()
    message = queued(action, ago=timedelta(hours=2))
    assert message.updated_at > timezone.now() - timedelta(minutes=1)
    assert stuck_ids(action.campaign_id) == [message.pk]
    assert stale_counts(action.campaign_id)[STUCK] == 1


def test_a_message_queued_half_an_hour_ago_is_not_stuck_however_old_its_row_touch():
    action = email_action()
    queued(action, ago=timedelta(minutes=30), touched=timedelta(hours=2))
    assert stuck_ids(action.campaign_id) == []
    assert stale_counts(action.campaign_id)[STUCK] == 0


def test_an_attempted_message_is_timed_by_its_attempt_not_by_its_queueing():
    action = email_action()
    long_attempted = attempted(action, queued_ago=timedelta(hours=3), ago=timedelta(hours=2))
    attempted(action, queued_ago=timedelta(hours=3), ago=timedelta(minutes=30))
    assert stuck_ids(action.campaign_id) == [long_attempted.pk]
    assert stale_counts(action.campaign_id)[STUCK] == 1


def test_a_backlog_message_the_sweeper_requeues_still_counts_as_stuck():
    # Queued two hours ago, its task lost: the sweeper requeues it every
    # TIDINGS_SEND_STALE_SECONDS and resets updated_at, which must not hide it.
    action = email_action()
    message = queued(action, ago=timedelta(hours=2), touched=timedelta(minutes=11))
    now = timezone.now()
    report = recovery.messages_sweep(now=now)  # tasks enqueue on commit: none run
    assert report.requeued == [message.pk]
    message.refresh_from_db()
    assert message.status == Status.QUEUED
    assert message.updated_at == now
    assert stuck_ids(action.campaign_id, now) == [message.pk]
    assert stale_counts(action.campaign_id, now)[STUCK] == 1


def test_a_retried_message_starts_its_clock_again_at_its_new_attempt():
    action = email_action()
    now = timezone.now()
    message = attempted(action, queued_ago=timedelta(hours=3), ago=timedelta(hours=3))
    apply_events(
        [
            Event(
                type=EventType.FAILED,
                occurred_at=now - timedelta(hours=3),
                idempotency_key="failed:0",
                source=Source.PIPELINE,
                message_id=message.pk,
                reason="mailbox full",
            )
        ]
    )
    retried = sending.message_retry(message=message)
    assert retried.status == Status.QUEUED
    # The milestones of attempt 2 only: queued now, not yet attempted.
    assert retried.queued_at >= now
    assert retried.attempted_at is None
    assert stuck_ids(action.campaign_id) == []
    assert stale_counts(action.campaign_id)[STUCK] == 0
    # An hour on, still queued in attempt 2: stuck.
    later = timezone.now() + timedelta(minutes=61)
    assert stuck_ids(action.campaign_id, later) == [message.pk]
    assert stale_counts(action.campaign_id, later)[STUCK] == 1


def test_a_draft_sent_hours_after_it_was_drafted_starts_its_clock_when_sent():
    action = factories.action(campaign_obj=factories.campaign(), send_as_draft=True)
    draft = factories.message(action_obj=action, now=timezone.now() - timedelta(hours=3))
    assert draft.status == Status.DRAFTED
    sent = sending.message_send_draft(message=draft)
    assert sent.status == Status.QUEUED
    assert stuck_ids(action.campaign_id) == []
    assert stale_counts(action.campaign_id)[STUCK] == 0


def test_without_its_milestone_a_message_is_timed_from_its_creation():
    # A row whose pipeline milestone is missing (written without its event):
    # created_at stands in, never updated_at.
    action = email_action()
    old = queued(action, ago=timedelta(hours=2))
    new = queued(action, ago=timedelta(minutes=30), touched=timedelta(hours=2))
    old_attempt = attempted(action, queued_ago=timedelta(hours=2), ago=timedelta(minutes=90))
    Message.objects.filter(pk__in=[old.pk, new.pk]).update(queued_at=None)
    Message.objects.filter(pk=old_attempt.pk).update(attempted_at=None)
    assert stuck_ids(action.campaign_id) == sorted([old.pk, old_attempt.pk])
    assert stale_counts(action.campaign_id)[STUCK] == 2


@pytest.fixture
def pipeline_scene():
    """One campaign's pipeline, every case at once, plus messages that are
    not in it (sent, discarded) and another campaign's stuck message."""
    action = email_action()
    stuck = [
        queued(action, ago=timedelta(hours=2)),
        queued(action, ago=timedelta(hours=5), touched=timedelta(minutes=1)),
        attempted(action, queued_ago=timedelta(hours=3), ago=timedelta(hours=2)),
    ]
    queued(action, ago=timedelta(minutes=30), touched=timedelta(hours=3))
    attempted(action, queued_ago=timedelta(hours=3), ago=timedelta(minutes=10))
    discarded = queued(action, ago=timedelta(hours=2))
    assert messages_discard([discarded.pk], now=timezone.now(), status=Status.QUEUED)
    queued(email_action(), ago=timedelta(hours=2))  # another campaign
    return {"campaign": action.campaign_id, "stuck": sorted(m.pk for m in stuck)}


def test_the_api_the_delivery_log_and_the_count_agree_on_the_stuck_messages(
    api, client, admin_user, pipeline_scene
):
    campaign, expected = pipeline_scene["campaign"], pipeline_scene["stuck"]
    assert stuck_ids(campaign) == expected
    response = api.get(f"/api/v1/messages/?campaign={campaign}&stale={STUCK}")
    assert response.status_code == 200
    assert sorted(row["id"] for row in response.json()["results"]) == expected
    client.force_login(admin_user)
    page = client.get(f"/deliveries/?campaign={campaign}&stale={STUCK}")
    assert page.status_code == 200
    assert sorted(row["id"] for row in page.context["rows"]) == expected
    assert stale_counts(campaign)[STUCK] == len(expected)
    metrics = api.get(f"/api/v1/campaigns/{campaign}/metrics/").json()
    assert metrics["stale"][STUCK] == len(expected)


def plan(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        # Tiny tables read faster sequentially: ask whether the index can
        # serve the query at all, as it does at size.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_stuck_index_serves_the_count_and_the_filter(pipeline_scene):
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's plan")
    campaign = pipeline_scene["campaign"]
    with CaptureQueriesContext(connection) as queries:
        stale_counts(campaign)
    (statement,) = [q["sql"] for q in queries.captured_queries]
    assert "message_stuck_idx" in plan(statement)
    query = Message.objects.filter(stale_q(STUCK), campaign_id=campaign)
    sql, params = query.values("campaign_id").annotate(n=Count("*")).query.sql_with_params()
    assert "message_stuck_idx" in plan(sql, params)
