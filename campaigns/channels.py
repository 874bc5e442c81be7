"""The channel capability table (DESIGN.md): what each channel tracks.

The only place that knows it; ingestion refuses untracked events through it,
the status engine derives implied opens and deliveries through it, metrics
show untracked counts as null through it.
"""

from campaigns.vocabulary import Channel

# Milestones a channel may or may not track. Pipeline outcomes (queued,
# drafted, attempted, sent, failed, undeliverable) apply to every channel.
DELIVERED = "delivered"
OPENED = "opened"
CLICKED = "clicked"
CONVERTED = "converted"
BOUNCED = "bounced"
SUPPRESSED = "suppressed"
SPAMMED = "spammed"
UNSUBSCRIBED = "unsubscribed"

TRACKABLE = (DELIVERED, OPENED, CLICKED, CONVERTED, BOUNCED, SUPPRESSED, SPAMMED, UNSUBSCRIBED)

CAPABILITIES: dict[str, frozenset[str]] = {
    Channel.EMAIL: frozenset(TRACKABLE),
    Channel.SMS: frozenset({DELIVERED, CLICKED, CONVERTED, BOUNCED}),
    Channel.PUSH: frozenset({OPENED, CLICKED, CONVERTED}),
    Channel.SLACK: frozenset({CLICKED}),
    Channel.WEBHOOK: frozenset({CLICKED}),
    Channel.AIRSHIP: frozenset({CONVERTED}),
}


# Channels whose messages go to the person's own address (an unsubscribe
# stops them; erase blanks their addresses). Slack and webhook messages go to
# their action's target.
ADDRESSED_TO_PERSON = frozenset({Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.AIRSHIP})


def tracks(channel: str, milestone: str) -> bool:
    return milestone in CAPABILITIES[channel]


def accepts_event(channel: str, event_type: str) -> bool:
    """Whether an event of this type may be recorded for a message on this channel."""
    if event_type in TRACKABLE:
        return tracks(channel, event_type)
    return True


def reports_delivery(channel: str) -> bool:
    return tracks(channel, DELIVERED)


def tracks_opens(channel: str) -> bool:
    return tracks(channel, OPENED)


def opens_tracked(channel: str, switch: bool) -> bool:
    """Whether an action's messages track opens, given its open tracking
    switch. The switch is about the pixel, so it applies to email only: push
    opens are the app's reports, and push keeps click-implies-open whatever
    the switch (DESIGN.md "Open tracking off means opens are not tracked")."""
    return tracks_opens(channel) and (switch or channel != Channel.EMAIL)


def link_tracking_applies(channel: str) -> bool:
    return tracks(channel, CLICKED)
