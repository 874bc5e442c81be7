"""Celery task of the audience: the suppression expiry sweeper (scheduled
by beat)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="messaging.expire_suppressions")
def expire_suppressions() -> dict:
    """Removes suppressions whose expiry passed and records each expiry."""
    from messaging.audience.suppression import suppressions_expire

    total = 0
    while True:
        done = suppressions_expire()
        total += done
        if done == 0:
            return {"expired": total}
