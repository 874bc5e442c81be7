"""Celery tasks: thin, they take ids (or plain JSON) and call a service.

Settings (config/settings.py): JSON only, late acknowledgement with
reject-on-worker-lost (a killed worker's task is delivered again), soft and
hard time limits, prefetch 1.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="messaging.send_messages", bind=True)
def send_messages(self, message_ids: list[int], tries: int = 0) -> dict:
    from messaging.sending.pipeline import messages_send

    delivery = self.request.delivery_info or {}
    report = messages_send(
        message_ids=message_ids,
        tries=tries,
        # The worker that had this task died: its messages may be left in
        # attempted, and are taken back (same idempotency keys).
        redelivered=bool(delivery.get("redelivered")),
    )
    return {"claimed": report.claimed, "stopped": report.stopped, **report.outcomes}


@shared_task(name="messaging.sweep_messages")
def sweep_messages() -> dict:
    from messaging.health import SWEEP_MESSAGES, sweep_finished
    from messaging.history import partitions_ensure
    from messaging.sending.recovery import messages_sweep

    report = messages_sweep()
    # The event log's partitions, months ahead (messaging.history): a no-op
    # on all but the first sweep of a month.
    created = partitions_ensure()
    summary = {
        "requeued": len(report.requeued),
        "resent": len(report.resent),
        "unknown": len(report.unknown),
        "partitions_created": len(created),
    }
    sweep_finished(SWEEP_MESSAGES, summary)
    return summary


@shared_task(name="messaging.deliver_simulated_callbacks")
def deliver_simulated_callbacks(callbacks: list[dict]) -> int:
    from messaging.sending.simulator import callbacks_deliver

    return callbacks_deliver(callbacks)


@shared_task(name="messaging.noop")
def noop() -> None:
    """The benchmark's yardstick: the cost of a task that does nothing."""
    return None
