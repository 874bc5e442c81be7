from __future__ import annotations

import time

from campaigns.vocabulary import EventType
from messaging.reporting.delivery import notifications_deliver
from messaging.reporting.models import NotificationStatus, ReportingNotification
from messaging.reporting.services import reporting_webhook_create
from tests import factories
from tests.ingest.helpers import apply


def webhook(url: str, events=("sent", "delivered", "opened", "clicked"), **fields):
    return reporting_webhook_create(url=url, events=list(events), **fields)


def pending() -> int:
    return ReportingNotification.objects.filter(status=NotificationStatus.PENDING).count()


def deliver_all(timeout: float = 30) -> None:
    """Runs the delivery service in this process until nothing is pending."""
    deadline = time.monotonic() + timeout
    while pending():
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending()} notifications still pending after {timeout}s")
        notifications_deliver(budget_seconds=2)
        time.sleep(0.01)


def guard_refusals(receiver, naming: str) -> list:
    """Runs delivery for a second and returns its attempts, each refused by
    the outbound address guard (naming ``naming``) and retried later, with
    nothing received. Retries come fast in tests: a slow run may try again
    within its budget, so there may be more than one."""
    from messaging.reporting.models import ReportingDelivery

    notifications_deliver(budget_seconds=1)
    assert receiver.all() == []
    attempts = list(ReportingDelivery.objects.order_by("id"))
    assert attempts
    for attempt in attempts:
        assert "outbound address guard" in attempt.error and naming in attempt.error
        assert attempt.status_code is None and attempt.next_retry_at is not None
    return attempts


def sent_message(**kw):
    message = factories.message(**kw)
    apply(factories.event(message, EventType.SENT, 1))
    return message


def api_detail(message_id: int):
    """GET /api/v1/messages/<id>/ as a viewer of every message sees it (the
    response: ``.data`` the serializer's output, ``.json()`` the wire)."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user, _ = get_user_model().objects.get_or_create(
        username="reporting-reader", defaults={"is_superuser": True}
    )
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"/api/v1/messages/{message_id}/")
    assert response.status_code == 200, response.content
    return response


def without(shown: dict, *names: str) -> dict:
    return {name: value for name, value in shown.items() if name not in names}
