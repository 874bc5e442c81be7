"""A disabled endpoint is not subscribed: nothing claims its notifications
and its events write none. What was pending for it when it was disabled
ends failed, each saying why (CONTRACT.md: a notification is retried, then
marked failed; DESIGN.md: none is lost silently), whether it was disabled
automatically for failing or by a person."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.vocabulary import EventType
from config.access import user_role_set
from messaging.reporting.delivery import delivery_redeliver, notifications_deliver
from messaging.reporting.models import (
    NotificationStatus,
    ReportingDelivery,
    ReportingNotification,
    ReportingWebhook,
)
from tests import factories
from tests.ingest.helpers import apply
from tests.reporting.helpers import pending, sent_message, webhook
from tests.reporting.receiver import Answer

pytestmark = pytest.mark.django_db


def failing_endpoint(receiver, settings):
    """An endpoint answering 500 to everything, with notifications for three
    messages: each message's "sent" tried and retrying, its "delivered"
    waiting behind it (never tried)."""
    settings.TIDINGS_REPORTING_RETRY_BASE_SECONDS = 0.2
    receiver.answer = lambda request: Answer(500)
    hook = webhook(receiver.url, events=["sent", "delivered"])
    for _ in range(3):
        message = sent_message()
        apply(factories.event(message, EventType.DELIVERED, 2))
    notifications_deliver(budget_seconds=1)
    assert ReportingDelivery.objects.count() == 3  # the three "sent", failed once
    assert pending() == 6
    return hook


def assert_all_failed_saying(reason: str, hook: ReportingWebhook) -> None:
    assert pending() == 0
    notifications = ReportingNotification.objects.filter(webhook=hook)
    assert notifications.count() == 6
    for notification in notifications:
        assert notification.status == NotificationStatus.FAILED
        last = notification.deliveries.order_by("-id").first()
        assert last is not None, notification  # never tried, yet it says why
        assert reason in last.error and last.next_retry_at is None
        assert last.attempt == notification.tries


def test_an_endpoint_disabled_for_failing_ends_its_pending_notifications_failed_saying_so(
    receiver, settings
):
    # Retried for days, but the endpoint gives out first.
    settings.TIDINGS_REPORTING_DISABLE_AFTER_HOURS = 0.5 / 3600
    hook = failing_endpoint(receiver, settings)
    deadline = time.monotonic() + 20
    while ReportingWebhook.objects.get(pk=hook.pk).enabled:
        assert time.monotonic() < deadline, "the endpoint was never disabled"
        notifications_deliver(budget_seconds=0.5)
        time.sleep(0.05)

    hook.refresh_from_db()
    assert hook.disabled_note.startswith("Disabled automatically")
    assert_all_failed_saying("the endpoint was disabled (Disabled automatically", hook)

    # Disabled, so not subscribed: new events write no notification.
    sent_message()
    assert pending() == 0


def test_an_endpoint_disabled_through_the_api_ends_its_pending_notifications_failed(
    receiver, settings
):
    hook = failing_endpoint(receiver, settings)
    user = get_user_model().objects.create_user("hooks", password="x-pw-12345")
    user_role_set(user=user, role="deliverability")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    response = api.patch(f"/api/v1/reporting-webhooks/{hook.pk}/", {"enabled": False})
    assert response.status_code == 200 and response.json()["enabled"] is False
    # Ended in the PATCH's own transaction; a delivery run finds nothing.
    assert_all_failed_saying("not sent: the endpoint was disabled", hook)
    report = notifications_deliver(budget_seconds=1)
    assert report.failed == 0 and len(receiver.all()) == 3  # nothing more was sent
    sent_message()
    assert pending() == 0


def test_an_endpoint_disabled_in_the_admin_ends_its_pending_notifications_failed(
    receiver, settings, client
):
    hook = failing_endpoint(receiver, settings)
    user = get_user_model().objects.create_user("s", password="pw-x-12345", is_staff=True)
    user_role_set(user=user, role="deliverability")
    client.force_login(user)

    form = {"url": hook.url, "events": ["sent", "delivered"], "occurrence": "first"}
    changed = client.post(f"/admin/messaging/reportingwebhook/{hook.pk}/change/", form)
    assert changed.status_code == 302
    assert not ReportingWebhook.objects.get(pk=hook.pk).enabled
    # Ended in the admin's own transaction.
    assert_all_failed_saying("not sent: the endpoint was disabled", hook)


def test_a_redelivery_to_a_disabled_endpoint_fails_again_instead_of_waiting(receiver, settings):
    hook = failing_endpoint(receiver, settings)
    ReportingWebhook.objects.filter(pk=hook.pk).update(enabled=False)
    notifications_deliver(budget_seconds=1)
    assert pending() == 0

    delivery_redeliver(delivery=ReportingDelivery.objects.order_by("id").first())
    assert pending() == 1
    notifications_deliver(budget_seconds=1)
    assert pending() == 0
