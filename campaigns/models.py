from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from campaigns.vocabulary import SERIES_METRICS, Channel
from config.outbound import OutboundRefused, outbound_url_check

DEFAULT_CONVERSION_WINDOW_HOURS = 168
MAX_CONVERSION_WINDOW_HOURS = 2160


class AttributionRule(models.TextChoices):
    """Which message a goal event credits (DESIGN.md "Converted")."""

    LAST_REACHED = "last_reached", "last message that reached the person"
    LAST_OPENED = "last_opened", "last message the person opened"
    LAST_CLICKED = "last_clicked", "last message the person clicked"
    FIRST_REACHED = "first_reached", "first message that reached the person"


class AttributionState(models.TextChoices):
    CURRENT = "current"
    RECOMPUTING = "recomputing"


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    conversion_event = models.CharField(
        max_length=200, blank=True, help_text="Name of the person event that counts as conversion."
    )
    conversion_window_hours = models.PositiveIntegerField(default=DEFAULT_CONVERSION_WINDOW_HOURS)
    attribution_rule = models.CharField(
        max_length=16, choices=AttributionRule.choices, default=AttributionRule.LAST_REACHED
    )
    # Re-attribution after an edit of the goal, rule or window: "recomputing"
    # until every goal event of the campaign is attributed again. The version
    # grows with each edit, so a run that an edit overtook stops.
    attribution_state = models.CharField(
        max_length=12, choices=AttributionState.choices, default=AttributionState.CURRENT
    )
    attribution_version = models.PositiveIntegerField(default=0)
    attribution_done = models.PositiveIntegerField(default=0)  # people attributed again
    attribution_total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(conversion_window_hours__gte=1)
                & Q(conversion_window_hours__lte=MAX_CONVERSION_WINDOW_HOURS),
                name="campaign_window_in_range",
            ),
            models.CheckConstraint(
                condition=Q(attribution_rule__in=AttributionRule.values),
                name="campaign_attribution_rule_valid",
            ),
            models.CheckConstraint(
                condition=Q(attribution_state__in=AttributionState.values),
                name="campaign_attribution_state_valid",
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

    def attribution_in_words(self) -> str:
        """The credit rule and window as a marketer reads them."""
        hours = self.conversion_window_hours
        if hours % 24 == 0:
            days = hours // 24
            window = f"{days} day{'s' if days != 1 else ''}"
        else:
            window = f"{hours} hour{'s' if hours != 1 else ''}"
        return f"{AttributionRule(self.attribution_rule).label}, within {window}"


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

    # What the counters of its messages were made under (campaigns.metrics
    # reads them per action): fixed once the action has messages, or they
    # would no longer equal a recount.
    FIXED_ONCE_USED = ("channel", "track_opens")

    def clean(self) -> None:
        # The admin's forms call this; the API's serializer runs the same check.
        if self.channel == Channel.WEBHOOK and self.target:
            try:
                outbound_url_check(self.target)
            except OutboundRefused as exc:
                raise ValidationError({"target": f"Not allowed: {exc}."}) from None
        if self.pk is None:
            return
        stored = Action.objects.filter(pk=self.pk).values(*self.FIXED_ONCE_USED).first() or {}
        changed = [name for name, value in stored.items() if getattr(self, name) != value]
        if changed and self.messages.exists():
            raise ValidationError(
                dict.fromkeys(
                    changed,
                    "Cannot change once the action has messages: "
                    "its metrics were counted under the current value.",
                )
            )


class Link(models.Model):
    """A tracked link of an action; clicks count per link."""

    action = models.ForeignKey(
        Action, on_delete=models.CASCADE, related_name="links", db_index=False
    )
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
# in campaigns.metrics. Their foreign keys carry no index of their own: each
# leads the unique key or the campaign index of its table, which serve them.


class ActionCounter(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, db_index=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, db_index=False)
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
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, db_index=False)
    link = models.ForeignKey(Link, on_delete=models.CASCADE, db_index=False)
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

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, db_index=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, db_index=False)
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
            # One campaign's rows of every metric: reconcile_metrics by
            # campaign, and a campaign's deletion.
            models.Index(fields=["campaign", "basis", "bucket"], name="seriescounter_chart_idx"),
            # Campaign chart and its span (campaigns.metrics): one campaign's
            # headline series on one basis, in time order, without the
            # mailbox-provider rows (mp.*, five times as many) it never reads.
            # value stays out of every index, so counter updates stay HOT.
            models.Index(
                fields=["campaign", "basis", "bucket"],
                name="seriescounter_headline_idx",
                condition=Q(metric__in=SERIES_METRICS),
            ),
        ]

    def __str__(self) -> str:
        return f"action {self.action_id} {self.basis} {self.bucket:%Y-%m-%d %H}h {self.metric}"


class BounceReasonCounter(models.Model):
    """Bounced messages by normalised reason (campaigns.deliverability), per
    action and bounce type: the campaign's most frequent bounce reasons."""

    # Served by bouncereasoncounter_camp_idx and the unique key (no FK indexes).
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, db_index=False)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, db_index=False)
    bounce_type = models.CharField(max_length=4)
    reason = models.CharField(max_length=200)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["action", "bounce_type", "reason"], name="bouncereasoncounter_key"
            ),
        ]
        indexes = [
            # Campaign metrics: the top bounce reasons of one campaign.
            models.Index(fields=["campaign"], name="bouncereasoncounter_camp_idx"),
        ]

    def __str__(self) -> str:
        return f"action {self.action_id} {self.bounce_type} {self.reason!r} = {self.value}"
