"""API shapes of the reporting webhooks (CONTRACT.md "Reporting webhooks")."""

from __future__ import annotations

from rest_framework import serializers

from campaigns.serializers import StrictModelSerializer
from campaigns.vocabulary import Status
from config.outbound import OutboundRefused
from messaging.reporting.guard import reporting_url_check
from messaging.reporting.models import Occurrence, ReportingDelivery, ReportingWebhook


class ReportingWebhookSerializer(StrictModelSerializer):
    url = serializers.URLField(
        max_length=2000,
        help_text="where notifications are POSTed; must resolve to public addresses",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Status.choices),
        min_length=1,
        max_length=len(Status.choices),
        help_text="the status names to notify",
    )
    occurrence = serializers.ChoiceField(
        choices=Occurrence.choices,
        default=Occurrence.FIRST,
        help_text="first: one notification per message and status; every: each human event",
    )
    include_content = serializers.BooleanField(
        default=False, help_text="include the message's subject and body"
    )
    enabled = serializers.BooleanField(default=True)

    class Meta:
        model = ReportingWebhook
        fields = [
            "id",
            "url",
            "events",
            "occurrence",
            "include_content",
            "enabled",
            "created_at",
            "updated_at",
            "failing_since",
            "disabled_note",
        ]
        read_only_fields = ["id", "created_at", "updated_at", "failing_since", "disabled_note"]
        extra_kwargs = {
            "failing_since": {"help_text": "first failed delivery since the last success"},
            "disabled_note": {"help_text": "why the endpoint was disabled automatically"},
        }

    def validate_url(self, url: str) -> str:
        try:
            reporting_url_check(url)
        except OutboundRefused as exc:
            raise serializers.ValidationError(f"This URL is refused: {exc}.") from None
        return url

    def validate_events(self, events: list[str]) -> list[str]:
        return list(dict.fromkeys(events))


class ReportingWebhookCreatedSerializer(ReportingWebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="whsec_…: the Standard Webhooks signing secret, shown only in this answer",
    )

    class Meta(ReportingWebhookSerializer.Meta):
        fields = [*ReportingWebhookSerializer.Meta.fields, "secret"]
        read_only_fields = [*ReportingWebhookSerializer.Meta.read_only_fields, "secret"]


class ReportingDeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(
        source="notification.webhook_msg_id",
        help_text="the webhook-id header: the same on every retry of one notification",
    )
    event = serializers.CharField(source="notification.event_name", help_text="message.<status>")
    message = serializers.IntegerField(source="notification.message_id", help_text="message id")
    attempt = serializers.IntegerField(help_text="1 for the notification's first POST")
    status_code = serializers.IntegerField(
        allow_null=True, help_text="the endpoint's answer; null when none came"
    )
    error = serializers.CharField(help_text="why it failed (empty on success)")
    at = serializers.DateTimeField(help_text="when it was sent")
    next_retry_at = serializers.DateTimeField(
        allow_null=True, help_text="when it is tried again; null when it is not"
    )

    class Meta:
        model = ReportingDelivery
        fields = [
            "id",
            "webhook_id",
            "event",
            "message",
            "attempt",
            "status_code",
            "error",
            "at",
            "next_retry_at",
        ]
        read_only_fields = fields


class RedeliveredSerializer(serializers.Serializer):
    webhook_id = serializers.CharField(help_text="the notification's webhook-id (unchanged)")
    status = serializers.CharField(help_text="pending: it is sent again shortly")
