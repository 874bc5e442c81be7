"""Inbox retention: applied (and discarded) requests go after
TIDINGS_INBOX_RETENTION_DAYS; rows still holding unapplied events stay until
they are applied or a person discards them. The admin lists, filters,
replays and discards."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import WebhookRequest, WebhookStatus
from messaging.webhooks import retention
from messaging.webhooks.tasks import prune_webhook_inbox
from tests.ingest.helpers import assert_no_drift

from .inbox_helpers import event_inserts_failing
from .kits import sent_message


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "ops", password="pw-ops-1", is_staff=True, is_superuser=True
    )


def stored(provider="sendgrid", status=WebhookStatus.APPLIED, age_days=0, **fields):
    now = timezone.now()
    when = now - timedelta(days=age_days)
    return WebhookRequest.objects.create(
        provider=provider,
        received_at=when,
        body=b"[]",
        dedup_key=f"k{WebhookRequest.objects.count()}-{status}-{age_days}",
        status=status,
        applied_at=when if status in (WebhookStatus.APPLIED, WebhookStatus.DISCARDED) else None,
        **fields,
    )


@pytest.mark.django_db
def test_it_prunes_applied_requests_older_than_the_retention_and_keeps_the_rest(settings):
    settings.TIDINGS_INBOX_RETENTION_DAYS = 30
    old_applied = stored(age_days=31)
    old_discarded = stored(status=WebhookStatus.DISCARDED, age_days=40)
    recent_applied = stored(age_days=29)
    kept = [
        stored(status=WebhookStatus.FAILED, age_days=90),
        stored(status=WebhookStatus.WAITING, age_days=90),
        stored(status=WebhookStatus.PENDING, age_days=90),
    ]

    report = retention.webhook_requests_prune()

    assert report.deleted == 2
    remaining = set(WebhookRequest.objects.values_list("id", flat=True))
    assert old_applied.pk not in remaining and old_discarded.pk not in remaining
    assert remaining == {recent_applied.pk, *(row.pk for row in kept)}


@pytest.mark.django_db
def test_pruning_works_in_chunks_until_nothing_old_is_left(settings, monkeypatch):
    monkeypatch.setattr(retention, "PRUNE_CHUNK", 3)
    for _ in range(8):
        stored(age_days=60)
    stored(age_days=1)
    assert retention.webhook_requests_prune(retention_days=30).deleted == 8
    assert WebhookRequest.objects.count() == 1


@pytest.mark.django_db
def test_the_scheduled_task_prunes_with_the_configured_retention(settings):
    settings.TIDINGS_INBOX_RETENTION_DAYS = 7
    stored(age_days=8)
    stored(age_days=6)
    assert settings.CELERY_BEAT_SCHEDULE["prune-webhook-inbox"]["task"] == (
        "messaging.prune_webhook_inbox"
    )
    assert prune_webhook_inbox.delay().get()["deleted"] == 1
    assert WebhookRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_discarded_request_leaves_the_sweeper_and_applied_ones_cannot_be_discarded(client, kits):
    from messaging.webhooks import inbox

    sent_message(101)
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
    failed = WebhookRequest.objects.get()
    applied = stored(age_days=0)

    count = retention.webhook_requests_discard(request_ids=[failed.pk, applied.pk], reason="by ops")

    assert count == 1
    failed.refresh_from_db()
    applied.refresh_from_db()
    assert failed.status == "discarded" and failed.error.startswith("discarded: by ops")
    assert applied.status == "applied"
    later = timezone.now() + timedelta(days=1)
    assert inbox.webhook_requests_sweep(now=later).total == 0


@pytest.mark.django_db
def test_the_admin_lists_the_inbox_with_filters_and_shows_a_request(client, staff, kits):
    sent_message(101)
    kits["sendgrid"].request("delivered").post(client)
    row = WebhookRequest.objects.get()
    client.force_login(staff)
    listing = client.get(
        reverse("admin:messaging_webhookrequest_changelist"),
        {"provider": "sendgrid", "status__exact": "applied"},
    )
    assert listing.status_code == 200
    assert f"/admin/messaging/webhookrequest/{row.pk}/change/" in listing.content.decode()
    detail = client.get(reverse("admin:messaging_webhookrequest_change", args=[row.pk]))
    assert detail.status_code == 200
    assert "sg_event_id" in detail.content.decode()  # the raw body, as text


@pytest.mark.django_db
def test_the_admin_replays_a_failed_request_and_discards_another(client, staff, kits):
    message = sent_message(101)
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
        kits["sendgrid"].request("open").post(client)
    first, second = WebhookRequest.objects.order_by("id")
    client.force_login(staff)
    url = reverse("admin:messaging_webhookrequest_changelist")

    replay = client.post(
        url, {"action": "replay_selected", "_selected_action": [first.pk]}, follow=True
    )
    discard = client.post(
        url, {"action": "discard_selected", "_selected_action": [second.pk]}, follow=True
    )

    assert "Replayed: 1 applied." in replay.content.decode()
    assert "Discarded 1 request(s)" in discard.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("applied", "discarded")
    message.refresh_from_db()
    assert message.status == "delivered"
    assert_no_drift(message.campaign_id)
