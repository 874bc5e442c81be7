from django.db import models
from django.db.models import Q

from campaigns.vocabulary import Channel

DEFAULT_CONVERSION_WINDOW_HOURS = 168
MAX_CONVERSION_WINDOW_HOURS = 2160


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    conversion_event = models.CharField(
        max_length=200, blank=True, help_text="Name of the person event that counts as conversion."
    )
    conversion_window_hours = models.PositiveIntegerField(default=DEFAULT_CONVERSION_WINDOW_HOURS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(conversion_window_hours__gte=1)
                & Q(conversion_window_hours__lte=MAX_CONVERSION_WINDOW_HOURS),
                name="campaign_window_in_range",
            ),
        ]
        indexes = [
            # Attribution: which campaigns does a person event named X convert?
            models.Index(
                fields=["conversion_event"],
                name="campaign_goal_idx",
                condition=~Q(conversion_event=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Action(models.Model):
    """A campaign's message step: one channel, one template."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="actions")
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    subject = models.CharField(max_length=500, blank=True)
    body = models.TextField()
    target = models.CharField(
        max_length=2000, blank=True, help_text="Slack channel or webhook URL (those channels only)."
    )
    send_as_draft = models.BooleanField(default=False)
    track_opens = models.BooleanField(default=True)
    track_links = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "action of a campaign"
        verbose_name_plural = "actions of a campaign"
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="action_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel})"


class Link(models.Model):
    """A tracked link of an action; clicks count per link."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="links")
    url = models.URLField(max_length=2000)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["action_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["action", "position"], name="link_unique_position"),
        ]

    def __str__(self) -> str:
        return self.url


# --- Metric counters --------------------------------------------------------
# Pre-aggregated, moved only by messaging.ingest in the same transaction as the
# events that move them, and checked by reconcile_metrics. One narrow row per
# (key, metric) so an increment is a single upsert; metric names are defined
# in campaigns.metrics.


class ActionCounter(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    action = models.ForeignKey(Action, on_delete=models.CASCADE)
    metric = models.CharField(max_length=40)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["action", "metric"], name="actioncounter_key"),
        ]
        indexes = [
            # Campaign metrics: every action counter of one campaign.
            models.Index(fields=["campaign"], name="actioncounter_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"action {self.action_id} {self.metric} = {self.value}"


class LinkCounter(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    link = models.ForeignKey(Link, on_delete=models.CASCADE)
    metric = models.CharField(max_length=40)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["link", "metric"], name="linkcounter_key"),
        ]
        indexes = [
            # Campaign metrics: per-link clicks of one campaign.
            models.Index(fields=["campaign"], name="linkcounter_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"link {self.link_id} {self.metric} = {self.value}"


class SeriesBasis(models.TextChoices):
    SEND = "send", "by send date"
    EVENT = "event", "by event date"


class SeriesCounter(models.Model):
    """Hourly counts, dated by the message's send time or by the event's time."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    action = models.ForeignKey(Action, on_delete=models.CASCADE)
    basis = models.CharField(max_length=5, choices=SeriesBasis.choices)
    bucket = models.DateTimeField()
    metric = models.CharField(max_length=40)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["action", "basis", "bucket", "metric"], name="seriescounter_key"
            ),
            models.CheckConstraint(
                condition=Q(basis__in=SeriesBasis.values), name="seriescounter_basis_valid"
            ),
        ]
        indexes = [
            # Campaign chart: one campaign's series on one basis, in time order.
            models.Index(fields=["campaign", "basis", "bucket"], name="seriescounter_chart_idx"),
        ]

    def __str__(self) -> str:
        return f"action {self.action_id} {self.basis} {self.bucket:%Y-%m-%d %H}h {self.metric}"
