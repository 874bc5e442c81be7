"""The shared vocabulary: channels, statuses, event types and sources.

Plain choices with no behaviour; the rules that use them live in
``campaigns.channels`` (what a channel tracks), ``messaging.status`` (which
status a set of events yields) and ``campaigns.metrics`` (what counts).
"""

from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "Twilio SMS"
    PUSH = "push", "Push (APNs/FCM)"
    SLACK = "slack", "Slack message"
    WEBHOOK = "webhook", "Webhook"
    AIRSHIP = "airship", "Urban Airship push"


class Status(models.TextChoices):
    QUEUED = "queued"
    DRAFTED = "drafted"
    ATTEMPTED = "attempted"
    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    CONVERTED = "converted"
    SPAMMED = "spammed"
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"


# Journey order: the status engine's tie-break rank (messaging.status.RANK)
# and the order pages list status buckets in.
JOURNEY = (
    Status.DRAFTED,
    Status.QUEUED,
    Status.ATTEMPTED,
    Status.SENT,
    Status.FAILED,
    Status.UNDELIVERABLE,
    Status.SUPPRESSED,
    Status.DELIVERED,
    Status.BOUNCED,
    Status.OPENED,
    Status.CLICKED,
    Status.CONVERTED,
    Status.UNSUBSCRIBED,
    Status.SPAMMED,
)


class EventType(models.TextChoices):
    # Status-bearing types carry the status's own name.
    QUEUED = "queued"
    DRAFTED = "drafted"
    ATTEMPTED = "attempted"
    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    OPENED = "opened"
    CLICKED = "clicked"
    BOUNCED = "bounced"
    CONVERTED = "converted"
    SPAMMED = "spammed"
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"
    # History-only types: stored and shown, never a status.
    ACCEPTED = "accepted"
    DEFERRED = "deferred"
    UNKNOWN = "unknown"
    REFUSED = "refused"


class Source(models.TextChoices):
    PIPELINE = "pipeline"
    PROVIDER = "provider"
    RECIPIENT = "recipient"
    API = "api"
    IMPLIED = "implied"


class BounceType(models.TextChoices):
    HARD = "hard"
    SOFT = "soft"


# The milestones counted per hour (campaigns.metrics writes and reads them;
# the chart's index in campaigns.models is partial on this list).
SERIES_METRICS = ("sent", "delivered", "opened", "clicked", "converted", "bounced")
