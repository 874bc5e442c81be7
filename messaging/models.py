from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from campaigns.deliverability import REPORTING_CHANNELS, pipeline_since
from campaigns.models import Action, Campaign, Link
from campaigns.vocabulary import BounceType, Channel, EventType, Source, Status


class Person(models.Model):
    external_id = models.CharField(max_length=200, unique=True)
    email = models.EmailField(max_length=320, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    push_token = models.CharField(max_length=512, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Set by erase (messaging.audience.erase): personal data removed.
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "people"
        # Roles (config.access): what the deliverability role adds.
        permissions = [
            ("unsubscribe_person", "Can unsubscribe people"),
            ("resubscribe_person", "Can resubscribe people"),
            ("erase_person", "Can erase a person's personal data"),
        ]
        indexes = [
            # Admin search and the delivery log's recipient search.
            models.Index(Lower("email"), name="person_email_idx"),
            models.Index(fields=["phone"], name="person_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.external_id


class Message(models.Model):
    """One action sent to one person. Status and milestones are derived from
    its events by messaging.status and written only by messaging.ingest."""

    # No single-column foreign-key indexes: each key leads a composite index
    # below (message_campaign_log_idx, message_action_log_idx,
    # message_person_campaign_idx), which serves the same lookups.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    action = models.ForeignKey(
        Action, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=2000, blank=True)
    subject = models.CharField(max_length=1000, blank=True)
    body = models.TextField(blank=True)
    provider = models.CharField(max_length=40, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices)
    queued_at = models.DateTimeField(null=True, blank=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    spammed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    bounce_type = models.CharField(max_length=4, choices=BounceType.choices, null=True, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    click_count = models.PositiveIntegerField(default=0)

    # Sends started after the first (retries, the send of a draft): the
    # attempt number (CONTRACT.md "Attempts", 1 for the first) is this + 1.
    send_attempts = models.PositiveSmallIntegerField(default=0)
    # The attempt whose idempotency key provider calls carry, when not the
    # current one: a person's retry of a message whose outcome was unknown
    # reuses the key of the attempt the provider may hold (DESIGN.md "The
    # send pipeline" 6), so it can never make a second message.
    key_attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    discarded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        # Roles (config.access). Reporting webhooks have no model of their
        # own here, so their permission sits with the messages they report.
        permissions = [
            ("send_message", "Can send messages (an action to people, or a draft)"),
            ("retry_message", "Can retry failed messages"),
            ("discard_message", "Can discard drafted messages"),
            ("manage_reporting_webhooks", "Can manage reporting webhooks"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="message_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="message_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(bounce_type__isnull=True) | Q(bounce_type__in=BounceType.values),
                name="message_bounce_type_valid",
            ),
            # A bounce type only exists with a bounce.
            models.CheckConstraint(
                condition=Q(bounce_type__isnull=True) | Q(bounced_at__isnull=False),
                name="message_bounce_type_needs_bounce",
            ),
            # Click implies open and engagement implies delivery: the derived
            # milestones can never be later than the clicks that imply them.
            models.CheckConstraint(
                condition=Q(clicked_at__isnull=True)
                | Q(opened_at__isnull=True)
                | Q(opened_at__lte=F("clicked_at")),
                name="message_open_not_after_click",
            ),
            models.CheckConstraint(
                condition=Q(click_count=0) | Q(clicked_at__isnull=False),
                name="message_clicks_need_clicked_at",
            ),
        ]
        indexes = [
            # Delivery log, keyset pages newest first, filtered by campaign,
            # status, or both (WHERE ... AND id < cursor ORDER BY id DESC).
            models.Index(fields=["campaign", "-id"], name="message_campaign_log_idx"),
            models.Index(fields=["status", "-id"], name="message_status_log_idx"),
            models.Index(fields=["campaign", "status", "-id"], name="message_camp_status_log_idx"),
            models.Index(fields=["action", "-id"], name="message_action_log_idx"),
            models.Index(fields=["channel", "-id"], name="message_channel_log_idx"),
            # Delivery log recipient search (q = address).
            models.Index(fields=["address"], name="message_address_idx"),
            # Attribution: one person's messages; the person's timeline.
            models.Index(fields=["person", "campaign"], name="message_person_campaign_idx"),
            # Webhook correlation by the provider's message id.
            models.Index(
                fields=["provider_message_id"],
                name="message_provider_id_idx",
                condition=~Q(provider_message_id=""),
            ),
            # Deliverability: messages awaiting a delivery report, per
            # campaign, by send time (stale=awaiting_delivery; the
            # condition is campaigns.deliverability.stale_q's).
            models.Index(
                fields=["campaign", "sent_at"],
                name="message_awaiting_idx",
                condition=Q(
                    status="sent", channel__in=REPORTING_CHANNELS, discarded_at__isnull=True
                ),
            ),
            # Send recovery: messaging.sending.recovery.messages_sweep's
            # "queued or attempted, not touched for TIDINGS_SEND_STALE_SECONDS"
            # (WHERE status IN (...) AND updated_at < cutoff).
            models.Index(
                fields=["status", "updated_at"],
                name="message_pipeline_idx",
                condition=Q(status__in=["queued", "attempted"]),
            ),
            # Deliverability: messages stuck in the pipeline, per campaign, by
            # the time they entered queued or attempted (stale=stuck_in_pipeline
            # and stale_counts' recent ones: WHERE campaign_id = %s AND
            # <pipeline_since> < / >= cut; expression and condition are
            # campaigns.deliverability.pipeline_since's and in_pipeline_q's).
            models.Index(
                F("campaign_id"),
                pipeline_since(),
                name="message_stuck_idx",
                condition=Q(status__in=["queued", "attempted"], discarded_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} ({self.channel}, {self.status})"

    @property
    def attempt(self) -> int:
        """The current attempt: 1 for the first send, +1 per retry or draft send."""
        return self.send_attempts + 1


class MessageEvent(models.Model):
    """The immutable history of a message: one row per thing that happened."""

    # Served by the unique (message, idempotency_key) index: no second index.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    type = models.CharField(max_length=16, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices)
    idempotency_key = models.CharField(max_length=255)
    machine = models.BooleanField(default=False)
    # Indexed only where set (messageevent_link_idx): most events have no link.
    link = models.ForeignKey(Link, on_delete=models.PROTECT, null=True, blank=True, db_index=False)
    bounce_type = models.CharField(max_length=4, choices=BounceType.choices, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    provider = models.CharField(max_length=40, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    # The attempt the event belongs to (CONTRACT.md "Attempts"): named by the
    # pipeline and by providers (tidings_attempt), else the one current when
    # it was received.
    attempt = models.PositiveSmallIntegerField(default=1)
    # The message's created_at, copied: on PostgreSQL the table is partitioned
    # by its month (messaging.history). Fixed per message, so the unique key
    # below can carry it there (PostgreSQL's rule for partitioned tables)
    # and still mean "once per message", and a message's whole history lives
    # in one partition. Filled from the message when not given.
    message_created_at = models.DateTimeField(editable=False)

    class Meta:
        constraints = [
            # A provider event (or a pipeline step) is stored once per message;
            # this unique index also serves "all events of these messages".
            # On PostgreSQL the index is (message, idempotency_key,
            # message_created_at) and the primary key (id,
            # message_created_at): migration 0015.
            models.UniqueConstraint(
                fields=["message", "idempotency_key"], name="messageevent_idempotency"
            ),
            models.CheckConstraint(condition=Q(type__in=EventType.values), name="event_type_valid"),
            models.CheckConstraint(
                condition=Q(source__in=Source.values), name="event_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(bounce_type="") | Q(type=EventType.BOUNCED),
                name="event_bounce_type_only_on_bounce",
            ),
            models.CheckConstraint(
                condition=Q(link__isnull=True) | Q(type__in=[EventType.CLICKED, EventType.REFUSED]),
                name="event_link_only_on_click",
            ),
        ]
        indexes = [
            # Clicks of a link: the PROTECT check when a link is deleted, and
            # reconcile's per-link recount. Partial, so the events without a
            # link (all but clicks) never touch it on insert.
            models.Index(
                fields=["link"],
                name="messageevent_link_idx",
                condition=Q(link__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args, **kwargs):
        if self.message_created_at is None:
            self.message_created_at = self.message.created_at
        super().save(*args, **kwargs)


class PrunedHistory(models.Model):
    """One run of prune_history (messaging.history): the event log of every
    message created before ``before`` is gone, and ``contribution`` holds what
    those messages added to each counter when it was dropped (checked exact
    against their events first), so reconcile can still account for every
    counter."""

    before = models.DateTimeField(unique=True)  # first month kept, 00:00 UTC
    pruned_at = models.DateTimeField()
    months = models.JSONField(default=list)  # "YYYY-MM" of each partition dropped
    events = models.BigIntegerField()
    messages = models.BigIntegerField()
    # [campaign id, counter key as a list, value] for each counter moved.
    contribution = models.JSONField(default=list)

    class Meta:
        ordering = ["-before"]
        verbose_name_plural = "pruned history"

    def __str__(self) -> str:
        return f"history before {self.before:%Y-%m} pruned"


class SuppressionReason(models.TextChoices):
    MANUAL = "manual"
    HARD_BOUNCE = "hard_bounce"
    SPAM_COMPLAINT = "spam_complaint"
    SOFT_BOUNCE = "soft_bounce"  # the soft-bounce policy; expires
    ERASED = "erased"  # erase: the address is kept only as its SHA-256 digest


class Suppression(models.Model):
    """An email address that must not be emailed (matched case-insensitively:
    addresses are stored lower-cased). An erased person's address is stored
    as ``sha256:<hex digest>`` of the lower-cased address. An entry whose
    ``expires_at`` has passed no longer suppresses; the sweeper removes it
    and records the expiry in the audit trail."""

    address = models.CharField(max_length=320, unique=True)
    reason = models.CharField(
        max_length=16, choices=SuppressionReason.choices, default=SuppressionReason.MANUAL
    )
    note = models.CharField(max_length=500, blank=True)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The expiry sweeper (WHERE expires_at <= now).
            models.Index(
                fields=["expires_at"],
                name="suppression_expiry_idx",
                condition=Q(expires_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(address=Lower("address")), name="suppression_address_lowercase"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=SuppressionReason.values), name="suppression_reason_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.address


class PersonEvent(models.Model):
    """A person's own event (a conversion goal candidate); its id makes it idempotent."""

    # Served by the unique (person, event_id) index.
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    name = models.CharField(max_length=200)
    event_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "event_id"], name="personevent_idempotency"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.event_id})"


class CapturedMessage(models.Model):
    """What the capture provider backend accepted: its own durable record, as
    a provider's would be, so tests can count accepted messages across worker
    crashes. One row per idempotency key; a repeated call only counts."""

    idempotency_key = models.CharField(max_length=255, unique=True)
    # Not a foreign key: the provider's record outlives and ignores our rows.
    message_id = models.BigIntegerField(db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=2000, blank=True)
    subject = models.CharField(max_length=1000, blank=True)
    body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)  # e.g. List-Unsubscribe
    provider_message_id = models.CharField(max_length=64, unique=True)
    calls = models.PositiveIntegerField(default=1)  # 1 + repeated calls with the same key
    accepted_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"captured {self.idempotency_key} ({self.channel})"


class WebhookStatus(models.TextChoices):
    PENDING = "pending"  # stored, not applied yet (or the process died while applying)
    APPLIED = "applied"
    FAILED = "failed"  # applying raised; the error is kept and the sweeper tries again
    WAITING = "waiting"  # some events name a message we cannot find yet
    DISCARDED = "discarded"  # a person decided it will not be applied (kept until retention)


class WebhookRequest(models.Model):
    """The webhook inbox (DESIGN.md): every authenticated provider request,
    stored raw and committed before it is applied, so that a failed apply is
    retried and events for a message not found yet wait for it. Written only
    by messaging.webhooks.inbox."""

    provider = models.CharField(max_length=20)
    received_at = models.DateTimeField()
    # The public URL the request was signed for (Twilio carries our message id
    # in its query string, so the parser needs it again on a retry).
    url = models.CharField(max_length=2000, blank=True)
    headers = models.JSONField(default=dict, blank=True)  # credentials left out
    body = models.BinaryField()  # the raw bytes, exactly as signed
    # One stored row per provider request: the Mailgun token, the SNS
    # MessageId, else a SHA-256 of the body (and of the URL for Twilio).
    dedup_key = models.CharField(max_length=255)
    # Mailgun signs only timestamp + token: the event's fingerprint tells a
    # redelivery (same event) from a forgery riding on a captured token.
    fingerprint = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=9, choices=WebhookStatus.choices, default=WebhookStatus.PENDING
    )
    event_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    applied_at = models.DateTimeField(null=True, blank=True)
    # Failed rows: not before this time (backoff); also a short lease while
    # the sweeper works on a row.
    retry_after = models.DateTimeField(null=True, blank=True)
    # Waiting rows: "m:<our id>" / "p:<provider message id>" of the events
    # that found no message, so the sweeper checks them with two indexed
    # queries instead of re-applying every waiting batch.
    waiting_for = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "dedup_key"], name="webhookrequest_dedup"),
            models.CheckConstraint(
                condition=Q(status__in=WebhookStatus.values), name="webhookrequest_status_valid"
            ),
        ]
        indexes = [
            # The sweeper: rows not applied yet, oldest first
            # (WHERE status IN (...) ORDER BY received_at).
            models.Index(
                fields=["status", "received_at"],
                name="webhookrequest_sweep_idx",
                condition=~Q(status="applied"),
            ),
            # replay_webhooks --since / --provider, the admin's inbox list.
            models.Index(fields=["received_at"], name="webhookrequest_received_idx"),
            # Retention (messaging.webhooks.retention): applied or discarded
            # rows older than the retention, oldest first.
            models.Index(
                fields=["applied_at"],
                name="webhookrequest_prune_idx",
                condition=Q(status__in=["applied", "discarded"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} webhook {self.pk} ({self.status})"


class SweepRun(models.Model):
    """When each sweeper last finished (one row per sweeper, overwritten):
    what /healthz and the deploy check read to tell that recovery runs."""

    name = models.CharField(max_length=40, primary_key=True)
    finished_at = models.DateTimeField()
    report = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.finished_at:%Y-%m-%d %H:%M:%S}"


# The audit trail of suppression and subscription changes lives with the
# audience services; it is a model of this app.
from messaging.audience.audit_models import AuditEntry  # noqa: E402, F401

# Reporting webhooks (data out): endpoints, the outbox, delivery attempts.
from messaging.reporting.models import (  # noqa: E402, F401
    ReportingDelivery,
    ReportingNotification,
    ReportingWebhook,
)
