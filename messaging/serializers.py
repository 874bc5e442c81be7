"""API serializers for people, messages, events, sending and suppressions."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from campaigns.serializers import (
    StrictModelSerializer,
    StrictSerializer,
    ZonedDateTimeField,
    ZonedTimeField,
)
from campaigns.vocabulary import BounceType, Channel, EventType, Source, Status
from messaging.audience.audit import AuditAction, AuditEntry, AuditSource, AuditSubject
from messaging.audience.suppression import reason_refusal
from messaging.models import Message, Person, Suppression, SuppressionReason
from messaging.status import MILESTONES

MAX_PEOPLE_PER_SEND = 1000


def _storable(value: Any) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb, nor can a lone UTF-16
    surrogate be encoded to UTF-8: a 400 naming the field, not a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError("Text may not contain NUL characters.")
        if any("\ud800" <= char <= "\udfff" for char in value):
            raise serializers.ValidationError("Text may not contain surrogate characters.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    elif isinstance(value, list):
        for item in value:
            _storable(item)


# --- People ----------------------------------------------------------------------


class PersonSerializer(StrictModelSerializer):
    erased = serializers.SerializerMethodField(
        help_text="true once the person's personal data was erased"
    )
    phone = serializers.RegexField(
        r"^\+?[0-9][0-9 ().-]{2,31}$",
        max_length=32,
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Enter a phone number (E.164, e.g. +15551234567)."},
    )
    attributes = serializers.DictField(
        required=False,
        validators=[_storable],
        help_text="Free-form JSON object. Merged into the stored attributes; a key set to "
        "null is removed.",
    )

    class Meta:
        model = Person
        fields = [
            "id",
            "external_id",
            "email",
            "phone",
            "push_token",
            "attributes",
            "unsubscribed_at",
            "deleted_at",
            "erased",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "unsubscribed_at",
            "deleted_at",
            "erased",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "unsubscribed_at": {"help_text": "set when the person unsubscribed"},
            "deleted_at": {"help_text": "set when the person was deleted"},
            "push_token": {"required": False, "help_text": "push device token"},
            # Upsert by external_id: an existing one is updated, not a 400.
            "external_id": {"validators": [], "help_text": "Your own id for the person."},
            "email": {"required": False},
        }

    def get_erased(self, person: Person) -> bool:
        return person.erased_at is not None


class PersonUpdateSerializer(PersonSerializer):
    class Meta(PersonSerializer.Meta):
        read_only_fields = ["external_id", *PersonSerializer.Meta.read_only_fields]


# --- Messages --------------------------------------------------------------------


_MILESTONE_HELP = {
    "queued": "when it was queued (the latest attempt's)",
    "attempted": "when a provider call was attempted",
    "sent": "when the provider accepted it",
    "delivered": "first delivery (or the first engagement proving it, on channels that "
    "report delivery)",
    "opened": "first human open (or the first click, on channels that track opens)",
    "clicked": "first human click",
    "converted": "when the campaign's goal event converted it",
    "bounced": "first bounce",
    "spammed": "first spam complaint",
    "unsubscribed": "first unsubscribe through this message",
    "failed": "first failure",
}


class MessageSerializer(serializers.ModelSerializer):
    person = serializers.CharField(
        source="person.external_id", help_text="the person's external_id"
    )
    channel = serializers.ChoiceField(choices=Channel.choices)
    status = serializers.ChoiceField(
        choices=Status.choices, help_text="current status (derived from the events)"
    )
    bounce_type = serializers.ChoiceField(
        choices=BounceType.choices, allow_null=True, help_text="type of the latest bounce"
    )
    attempt = serializers.IntegerField(
        read_only=True,
        help_text="the current attempt: 1 for the first send, +1 per retry or draft send",
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "campaign",
            "action",
            "channel",
            "person",
            "address",
            "status",
            "provider",
            "provider_message_id",
            "created_at",
            *(f"{name}_at" for name in MILESTONES),
            "bounce_type",
            "failure_reason",
            "open_count",
            "click_count",
            "attempt",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "campaign": {"help_text": "campaign id"},
            "action": {"help_text": "action id"},
            "address": {
                "help_text": "address snapshot: email, phone, push token, Slack "
                "channel or webhook URL"
            },
            "provider": {"help_text": "provider backend that took the message"},
            "provider_message_id": {"help_text": "the provider's id for the message"},
            "failure_reason": {
                "help_text": "reason of the latest failure, undeliverable or suppression"
            },
            "open_count": {"help_text": "human opens, repeats included"},
            "click_count": {"help_text": "human clicks, repeats included"},
            **{f"{name}_at": {"help_text": text} for name, text in _MILESTONE_HELP.items()},
        }


class MessageEventSerializer(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=EventType.choices,
        help_text="a status name, or history-only accepted, deferred, unknown, refused",
    )
    occurred_at = serializers.DateTimeField(help_text="the provider's or device's time")
    received_at = serializers.DateTimeField(help_text="when we received it")
    source = serializers.ChoiceField(choices=Source.choices)
    machine = serializers.BooleanField(help_text="machine traffic (counted apart)")
    link = serializers.IntegerField(allow_null=True, help_text="the clicked link's id")
    attempt = serializers.IntegerField(help_text="the attempt the event belongs to")
    detail = serializers.DictField(
        help_text="provider payload and, where present, reason, bounce_type and provider"
    )


class TrackedLinkSerializer(serializers.Serializer):
    link = serializers.IntegerField(help_text="link id")
    url = serializers.CharField(help_text="the link's own URL")
    tracked_url = serializers.CharField(help_text="the click-tracking URL the message carries")


class TrackingSerializer(serializers.Serializer):
    open_pixel = serializers.CharField(
        allow_null=True, help_text="open pixel URL; null when the message carries none"
    )
    links = TrackedLinkSerializer(many=True)
    unsubscribe_url = serializers.CharField(
        allow_null=True,
        help_text="one-click unsubscribe URL (List-Unsubscribe); null for channels other "
        "than email",
    )


class ConversionSerializer(serializers.Serializer):
    event = serializers.IntegerField(help_text="the goal event's id")
    event_id = serializers.CharField(help_text="the id the goal event was sent with")
    name = serializers.CharField(help_text="the goal event's name")
    occurred_at = serializers.DateTimeField(help_text="when the goal event happened")


class MessageDetailSerializer(MessageSerializer):
    # The view attaches these (messaging.api.message_timeline / message_tracking /
    # message_conversions).
    events = MessageEventSerializer(many=True, source="timeline")
    tracking = TrackingSerializer()
    conversions = ConversionSerializer(
        many=True, help_text="the goal events this message is credited with, oldest first"
    )
    headers = serializers.DictField(
        child=serializers.CharField(),
        help_text="headers the message is sent with (email: List-Unsubscribe, "
        "List-Unsubscribe-Post)",
    )

    class Meta(MessageSerializer.Meta):
        fields = [
            *MessageSerializer.Meta.fields,
            "subject",
            "body",
            "headers",
            "events",
            "tracking",
            "conversions",
        ]
        read_only_fields = fields


class OpenedSerializer(StrictSerializer):
    timestamp = ZonedDateTimeField(
        required=False, help_text="When the device saw the open (default: now)."
    )


# --- Sending -----------------------------------------------------------------------


class SendSerializer(StrictSerializer):
    action = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="action id")
    people = serializers.ListField(
        child=serializers.CharField(max_length=200),
        min_length=1,
        max_length=MAX_PEOPLE_PER_SEND,
        help_text=f"external_ids, at most {MAX_PEOPLE_PER_SEND}",
    )


class SentMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="message id")
    person = serializers.CharField(help_text="the person's external_id")
    status = serializers.ChoiceField(
        choices=Status.choices, help_text="status at the time of the answer"
    )


class SendResultSerializer(serializers.Serializer):
    messages = SentMessageSerializer(many=True)


# --- Person events ---------------------------------------------------------------------


class PersonEventSerializer(StrictSerializer):
    person = serializers.CharField(max_length=200, help_text="external_id; created if unknown")
    name = serializers.CharField(max_length=200)
    timestamp = ZonedDateTimeField(required=False, help_text="default: now")
    id = serializers.CharField(
        max_length=200, required=False, help_text="makes the call idempotent"
    )


class PersonEventResultSerializer(serializers.Serializer):
    person = serializers.CharField(help_text="the person's external_id")
    name = serializers.CharField(help_text="event name")
    id = serializers.CharField(help_text="event id (given, or generated)")
    timestamp = serializers.DateTimeField(help_text="when it happened")
    converted_messages = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="messages this call converted (empty for a repeated id)",
    )


# --- Suppressions ----------------------------------------------------------------------


class ExpiryField(ZonedTimeField):
    """ISO 8601 with a zone, in the future."""

    default_error_messages = {"past": "Must be in the future."}

    def check(self, moment) -> None:
        if moment <= timezone.now():
            self.fail("past")


class SuppressionSerializer(StrictModelSerializer):
    address = serializers.EmailField(max_length=320, help_text="matched case-insensitively")
    reason = serializers.ChoiceField(
        choices=SuppressionReason.choices,
        default=SuppressionReason.MANUAL,
        help_text="manual (default), hard_bounce or spam_complaint when added; the list "
        "also shows soft_bounce (the soft-bounce policy's) and erased (an erased person's)",
    )
    note = serializers.CharField(max_length=500, allow_blank=True, default="")
    created_by = serializers.CharField(
        source="created_by.username",
        read_only=True,
        allow_null=True,
        help_text="username of who added it; null when added by the system",
    )

    expires_at = ExpiryField(
        required=False,
        allow_null=True,
        default=None,
        help_text="when the entry stops suppressing; null = never",
    )

    def validate_reason(self, reason: str) -> str:
        refusal = reason_refusal(reason)
        if refusal:
            raise serializers.ValidationError(refusal)
        return reason

    class Meta:
        model = Suppression
        fields = [
            "id",
            "address",
            "reason",
            "note",
            "message",
            "created_by",
            "created_at",
            "expires_at",
        ]
        read_only_fields = ["id", "message", "created_by", "created_at"]
        extra_kwargs = {"message": {"help_text": "id of the message that caused it, if any"}}


class AuditEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    subject = serializers.ChoiceField(choices=AuditSubject.choices)
    action = serializers.ChoiceField(choices=AuditAction.choices)
    address = serializers.CharField(
        allow_null=True, help_text="the email address (a sha256: digest once erased)"
    )
    person = serializers.CharField(allow_null=True, help_text="the person's external_id")
    reason = serializers.CharField()
    source = serializers.ChoiceField(choices=AuditSource.choices)
    actor = serializers.CharField(allow_null=True, help_text="username of who made it")
    message = serializers.IntegerField(
        allow_null=True, help_text="id of the message that caused it"
    )

    def to_representation(self, row: AuditEntry) -> dict:
        return {
            "at": serializers.DateTimeField().to_representation(row.at),
            "subject": row.subject,
            "action": row.action,
            "address": row.address or None,
            "person": row.person.external_id if row.person_id and row.person else None,
            "reason": row.reason,
            "source": row.source,
            "actor": row.actor_name or None,
            "message": row.message_id,
        }
