"""Celery tasks of the reporting webhooks: thin, they call the delivery service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="messaging.deliver_reporting_webhooks")
def deliver_reporting_webhooks() -> dict:
    """Sends due notifications until none is due or the task's time budget
    (TIDINGS_REPORTING_TASK_SECONDS) is spent, then hands over to a new task.
    Enqueued after each commit that writes notifications, and by beat."""
    from messaging.reporting.delivery import delivery_kick, notifications_deliver

    report = notifications_deliver()
    if report.more and not deliver_reporting_webhooks.request.is_eager:
        delivery_kick()
    return {
        "delivered": report.delivered,
        "retrying": report.retrying,
        "failed": report.failed,
        "released": report.released,
    }
