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


def sent_message(**kw):
    message = factories.message(**kw)
    apply(factories.event(message, EventType.SENT, 1))
    return message
