"""Stale messages: sent with no delivery report after TIDINGS_STALE_HOURS
(on channels that report delivery), or stuck queued/attempted for an hour;
counted in the metrics, filtered in the delivery log and the API, and
served by an index."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.deliverability import STALE_KINDS, stale_counts, stale_q
from campaigns.vocabulary import Channel
from messaging.models import Message
from tests import factories
from tests.webhooks.kits import sent_message

from .helpers import email_action, sendgrid_event, sendgrid_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def scene(client, kits):
    """An email campaign: two messages sent 30 hours ago and never heard of
    again, one sent 30 hours ago and delivered (a signed callback), one
    bounced, one sent an hour ago; a push message sent long ago (push reports
    no delivery); one queued two hours ago and one queued just now."""
    now = timezone.now()
    action = email_action()
    long_ago = now - timedelta(hours=30)
    silent = [sent_message(action_obj=action, sent_at=long_ago) for _ in range(2)]
    delivered = sent_message(action_obj=action, sent_at=long_ago)
    bounced = sent_message(action_obj=action, sent_at=long_ago)
    recent = sent_message(action_obj=action, sent_at=now - timedelta(hours=1))
    push = factories.action(Channel.PUSH, campaign_obj=action.campaign, links=())
    sent_message(channel=Channel.PUSH, action_obj=push, sent_at=long_ago)
    # Stuck by its milestone: queued_at two hours ago (the factory dates its
    # queued event), though its row was touched just now.
    stuck = factories.message(action_obj=action, now=now - timedelta(hours=2))
    Message.objects.filter(pk=stuck.pk).update(updated_at=now)
    fresh = factories.message(action_obj=action, now=now)  # queued just now
    sendgrid_post(
        client,
        kits,
        [
            {**sendgrid_event(delivered, "delivered"), "timestamp": int(now.timestamp()) - 3600},
            {
                **sendgrid_event(bounced, "bounce", reason="550 5.1.1 user unknown", type="bounce"),
                "timestamp": int(now.timestamp()) - 3600,
            },
        ],
    )
    return {
        "campaign": action.campaign_id,
        "silent": silent,
        "recent": recent,
        "stuck": stuck,
        "fresh": fresh,
    }


def ids(rows):
    return sorted(row["id"] for row in rows)


def test_the_metrics_count_awaiting_delivery_and_stuck_messages(api, scene):
    body = api.get(f"/api/v1/campaigns/{scene['campaign']}/metrics/").json()
    assert body["stale"] == {"awaiting_delivery": 2, "stuck_in_pipeline": 1}


def test_stale_hours_come_from_the_setting(api, scene, settings):
    settings.TIDINGS_STALE_HOURS = 48
    body = api.get(f"/api/v1/campaigns/{scene['campaign']}/metrics/").json()
    assert body["stale"]["awaiting_delivery"] == 0
    settings.TIDINGS_STALE_HOURS = 1
    body = api.get(f"/api/v1/campaigns/{scene['campaign']}/metrics/").json()
    assert body["stale"]["awaiting_delivery"] == 3  # the recent one too (sent an hour ago)


def test_the_api_filters_messages_by_stale_kind(api, scene):
    url = f"/api/v1/messages/?campaign={scene['campaign']}&stale="
    awaiting = api.get(url + "awaiting_delivery")
    assert awaiting.status_code == 200
    assert ids(awaiting.json()["results"]) == sorted(m.pk for m in scene["silent"])
    stuck = api.get(url + "stuck_in_pipeline").json()["results"]
    assert ids(stuck) == [scene["stuck"].pk]
    assert api.get(url + "forever").status_code == 400


def test_the_delivery_log_filters_by_stale_kind(client, admin_user, scene):
    client.force_login(admin_user)
    response = client.get(f"/deliveries/?campaign={scene['campaign']}&stale=awaiting_delivery")
    assert response.status_code == 200
    assert sorted(row["id"] for row in response.context["rows"]) == sorted(
        m.pk for m in scene["silent"]
    )
    assert b'<option value="awaiting_delivery" selected>' in response.content


def test_an_index_serves_the_awaiting_delivery_count(scene):
    # The count the campaign page runs: only the stale messages' index
    # entries are read (the log's keyset pages also have the campaign and
    # status index, which serves ORDER BY id DESC).
    query = Message.objects.filter(stale_q("awaiting_delivery"), campaign_id=scene["campaign"])
    sql, params = query.values("campaign_id").annotate(n=Count("*")).query.sql_with_params()
    with connection.cursor() as cursor:
        # Tiny tables read faster sequentially: ask whether the index can
        # serve the query at all, as it does at size.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_awaiting_idx" in plan


@pytest.mark.parametrize("hours", [1, 2, 24, 29, 31, 48])
def test_the_counted_stale_messages_are_exactly_the_filtered_ones(scene, settings, hours):
    # stale_counts reads the current-status counters minus the recent
    # messages (so it never reads every stale one); it must agree with the
    # filter the delivery log applies, at every cut-off.
    settings.TIDINGS_STALE_HOURS = hours
    now = timezone.now()
    counted = stale_counts(scene["campaign"], now)
    filtered = {
        kind: Message.objects.filter(stale_q(kind, now), campaign_id=scene["campaign"]).count()
        for kind in STALE_KINDS
    }
    assert counted == filtered
    assert counted["stuck_in_pipeline"] == 1


def test_the_stale_count_reads_only_recent_messages(scene):
    # The statement behind the campaign page's count: the sent messages it
    # reads are the recent ones, through the awaiting-delivery index.
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's plan")
    with CaptureQueriesContext(connection) as queries:
        stale_counts(scene["campaign"])
    (statement,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_awaiting_idx" in plan
    assert "sent_at >=" in plan  # a range from the cut-off, not the whole campaign
