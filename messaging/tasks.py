"""Celery tasks of the messaging core: thin, they take ids and call a service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="messaging.reattribute_campaign")
def reattribute_campaign(campaign_id: int, version: int) -> dict:
    """Attributes a campaign's goal events again after an edit (progress on
    the campaign: attribution_done / attribution_total)."""
    from messaging.reattribution import reattribute_campaign as run

    progress = run(campaign_id, version=version)
    return {
        "people": progress.done,
        "goal_events": progress.goals,
        "added": progress.added,
        "removed": progress.removed,
        "stopped": progress.stopped,
    }


def on_attribution_changed(sender, *, campaign_id: int, version: int, **kwargs) -> None:
    reattribute_campaign.delay(campaign_id, version)
