"""Celery task of the webhook inbox: its sweeper (scheduled by beat). The
task name is kept from before the layout change, so queued tasks of a running
deployment still resolve."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="messaging.sweep_webhooks")
def sweep_webhooks() -> dict:
    """The webhook inbox's sweeper: failed, stale pending and now-matchable
    waiting requests (messaging.webhooks.inbox)."""
    from messaging.health import SWEEP_WEBHOOKS, sweep_finished
    from messaging.webhooks.inbox import webhook_requests_sweep

    report = webhook_requests_sweep()
    summary = {
        "applied": len(report.applied),
        "waiting": len(report.waiting),
        "failed": len(report.failed),
    }
    sweep_finished(SWEEP_WEBHOOKS, summary)
    return summary


@shared_task(name="messaging.prune_webhook_inbox")
def prune_webhook_inbox() -> dict:
    """The inbox's retention (messaging.webhooks.retention)."""
    from messaging.webhooks.retention import webhook_requests_prune

    report = webhook_requests_prune()
    return {"deleted": report.deleted, "before": report.before.isoformat()}
