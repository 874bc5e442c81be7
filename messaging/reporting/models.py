"""Reporting webhooks: the endpoints, the outbox and the delivery attempts
(models of the messaging app, imported by messaging.models)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from campaigns.vocabulary import Status


class Occurrence(models.TextChoices):
    FIRST = "first"  # one notification per message and status type
    EVERY = "every"  # every human event


class NotificationStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its turn, in flight, or retrying
    DELIVERED = "delivered"
    FAILED = "failed"  # no 2xx within the retry window (3 days)


class ReportingWebhook(models.Model):
    """A customer's endpoint subscribed to message events."""

    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="status names")
    occurrence = models.CharField(
        max_length=5, choices=Occurrence.choices, default=Occurrence.FIRST
    )
    include_content = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    # whsec_<base64 of 24 random bytes> (Standard Webhooks).
    secret = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Health: set at the first failed delivery after a success, cleared by
    # the next success; failing this long (3 days) disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "reporting webhook"
        constraints = [
            models.CheckConstraint(
                condition=Q(occurrence__in=Occurrence.values),
                name="reportingwebhook_occurrence_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.url

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        from messaging.reporting.outbox import forget_enabled

        forget_enabled()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        from messaging.reporting.outbox import forget_enabled

        forget_enabled()
        return result


class ReportingNotification(models.Model):
    """The outbox: one row per subscribed event, written in the transaction
    that applies the event (messaging.reporting.outbox)."""

    # Served by notification_order_idx (its leading columns).
    webhook = models.ForeignKey(
        ReportingWebhook, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    message = models.ForeignKey(
        "messaging.Message", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    event_type = models.CharField(max_length=20, choices=Status.choices)
    occurred_at = models.DateTimeField()
    event_attempt = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=10)
    # occurrence "first": at most one such row per (webhook, message, type).
    first = models.BooleanField(default=False)
    # The webhook-id header: the same on every retry and redelivery.
    key = models.UUIDField(default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=9, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    created_at = models.DateTimeField()
    # Pending: not before this time (a retry's backoff, or the lease of the
    # worker sending it, so a killed worker's notification comes back).
    next_attempt_at = models.DateTimeField()
    # Retries stop here (3 days after the first try or a redelivery).
    retry_until = models.DateTimeField(null=True, blank=True)
    tries = models.PositiveIntegerField(default=0)  # POSTs made, ever (redeliveries too)
    failures = models.PositiveIntegerField(default=0)  # failed tries in this window: the backoff
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # First-occurrence tracking: INSERT … ON CONFLICT DO NOTHING drops
            # a repeat (a second click) for occurrence "first".
            models.UniqueConstraint(
                fields=["webhook", "message", "event_type"],
                condition=Q(first=True),
                name="reportingnotification_first_once",
            ),
            models.CheckConstraint(
                condition=Q(status__in=NotificationStatus.values),
                name="reportingnotification_status_valid",
            ),
        ]
        indexes = [
            # The claim: pending rows due first
            # (WHERE status = 'pending' AND next_attempt_at <= now ORDER BY next_attempt_at).
            models.Index(
                fields=["next_attempt_at", "id"],
                name="reportnotif_due_idx",
                condition=Q(status="pending"),
            ),
            # Per-message order: is an earlier notification of this message
            # for this webhook still pending? (NOT EXISTS … p.id < n.id)
            models.Index(
                fields=["webhook", "message", "id"],
                name="reportnotif_order_idx",
                condition=Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"message.{self.event_type} of message {self.message_id} ({self.status})"

    @property
    def webhook_msg_id(self) -> str:
        return f"msg_{self.key.hex}"

    @property
    def event_name(self) -> str:
        return f"message.{self.event_type}"


class ReportingDelivery(models.Model):
    """One POST of a notification (newest first in the API and the admin)."""

    # The API lists one webhook's attempts newest first: (webhook, -id).
    webhook = models.ForeignKey(
        ReportingWebhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    notification = models.ForeignKey(
        ReportingNotification, on_delete=models.CASCADE, related_name="deliveries"
    )
    attempt = models.PositiveIntegerField()  # 1 for the first try of the notification
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    at = models.DateTimeField()
    next_retry_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        verbose_name = "reporting webhook delivery"
        indexes = [
            models.Index(fields=["webhook", "-id"], name="reportdelivery_webhook_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} (try {self.attempt}, {self.status_code or self.error[:40]})"
