"""Campaign and action services (the API, pages and admin call these)."""

from __future__ import annotations

from django.db import transaction

from campaigns import channels
from campaigns.links import links_from_body
from campaigns.models import (
    DEFAULT_CONVERSION_WINDOW_HOURS,
    Action,
    AttributionRule,
    AttributionState,
    Campaign,
    Link,
)
from campaigns.signals import attribution_changed

# Editing any of these attributes the campaign's goal events again.
ATTRIBUTION_FIELDS = frozenset({"conversion_event", "attribution_rule", "conversion_window_hours"})


def campaign_create(
    *,
    name: str,
    conversion_event: str = "",
    conversion_window_hours: int = DEFAULT_CONVERSION_WINDOW_HOURS,
    attribution_rule: str = AttributionRule.LAST_REACHED,
) -> Campaign:
    return Campaign.objects.create(
        name=name,
        conversion_event=conversion_event,
        conversion_window_hours=conversion_window_hours,
        attribution_rule=attribution_rule,
    )


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    """Changes the given fields; a change of the goal, credit rule or window
    re-attributes the campaign's goal events (the campaign reads
    "recomputing" until that is done)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        changed = {name for name, value in fields.items() if getattr(campaign, name) != value}
        for name, value in fields.items():
            setattr(campaign, name, value)
        if changed & ATTRIBUTION_FIELDS:
            attribution_edited(campaign)
        campaign.save()
    return campaign


def attribution_edited(campaign: Campaign) -> None:
    """Marks the campaign for re-attribution (the caller saves it, in a
    transaction); once that commits, messaging re-attributes it."""
    campaign.attribution_state = AttributionState.RECOMPUTING
    campaign.attribution_version += 1
    campaign.attribution_done = 0
    campaign.attribution_total = 0
    campaign_id, version = campaign.pk, campaign.attribution_version
    transaction.on_commit(
        lambda: attribution_changed.send(sender=Campaign, campaign_id=campaign_id, version=version)
    )


def action_create(
    *,
    campaign: Campaign,
    name: str,
    channel: str,
    body: str,
    subject: str = "",
    target: str = "",
    send_as_draft: bool = False,
    track_opens: bool = True,
    track_links: bool = True,
) -> Action:
    """Creates the action and, when its links are tracked on a channel that
    tracks clicks, one Link per distinct URL of the body."""
    with transaction.atomic():
        action = Action.objects.create(
            campaign=campaign,
            name=name,
            channel=channel,
            subject=subject,
            body=body,
            target=target,
            send_as_draft=send_as_draft,
            track_opens=track_opens,
            track_links=track_links,
        )
        if track_links and channels.link_tracking_applies(channel):
            Link.objects.bulk_create(
                Link(action=action, url=url, position=position)
                for position, url in enumerate(links_from_body(body))
            )
    return action
