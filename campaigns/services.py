"""Campaign and action services (the API, pages and admin call these)."""

from __future__ import annotations

from django.db import transaction

from campaigns import channels
from campaigns.links import links_from_body
from campaigns.models import DEFAULT_CONVERSION_WINDOW_HOURS, Action, Campaign, Link


def campaign_create(
    *,
    name: str,
    conversion_event: str = "",
    conversion_window_hours: int = DEFAULT_CONVERSION_WINDOW_HOURS,
) -> Campaign:
    return Campaign.objects.create(
        name=name,
        conversion_event=conversion_event,
        conversion_window_hours=conversion_window_hours,
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
