"""API serializers for campaigns, actions and metrics, and the API's shared
building blocks (strict input, zoned timestamps). The building blocks live
here because messaging depends on campaigns, never the reverse."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlparse

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from campaigns.metrics import BOUNCE_SPLIT, CURRENT_SHOWN, RATES, REACHED, SERIES, TOTALS
from campaigns.models import (
    MAX_CONVERSION_WINDOW_HOURS,
    Action,
    AttributionRule,
    AttributionState,
    Campaign,
    Link,
)
from campaigns.vocabulary import BounceType, Channel
from config.outbound import OutboundRefused, outbound_url_check

# Clock skew we tolerate on timestamps sent to us (CONTRACT.md).
MAX_FUTURE_SKEW = timedelta(minutes=5)


class StrictMixin:
    """Unknown fields are rejected (400 naming each one) instead of being
    silently dropped: a typo like "convertion_event" must not pass as a
    request that did nothing."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            errors = {}
            for name in data:
                if name in writable:
                    continue
                errors[name] = (
                    ["This field is read-only."] if name in self.fields else ["Unknown field."]
                )
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictSerializer(StrictMixin, serializers.Serializer):
    pass


class StrictModelSerializer(StrictMixin, serializers.ModelSerializer):
    pass


class ZonedTimeField(serializers.DateTimeField):
    """ISO 8601 with a zone (a naive time is refused); ``check`` adds a bound."""

    default_error_messages = {
        "naive": "Give the time zone (for instance 2026-11-01T12:00:00Z or +02:00).",
        "range": "Is out of range.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        try:
            moment = super().to_internal_value(value)
        except (OverflowError, ValueError):
            # Converting e.g. year 9999 at +14:00 to UTC overflows datetime.
            self.fail("range")
        self.check(moment)
        return moment

    def check(self, moment) -> None:
        pass


class ZonedDateTimeField(ZonedTimeField):
    """ISO 8601 with a zone; at most five minutes in the future."""

    default_error_messages = {"future": "Is more than 5 minutes in the future."}

    def check(self, moment) -> None:
        if moment > timezone.now() + MAX_FUTURE_SKEW:
            self.fail("future")


# --- Campaigns and actions ------------------------------------------------------


class LinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = Link
        fields = ["id", "url", "position"]
        read_only_fields = fields


class ActionSerializer(StrictModelSerializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    links = LinkSerializer(many=True, read_only=True)

    class Meta:
        model = Action
        fields = [
            "id",
            "campaign",
            "name",
            "channel",
            "subject",
            "body",
            "target",
            "send_as_draft",
            "track_opens",
            "track_links",
            "created_at",
            "links",
        ]
        read_only_fields = ["id", "campaign", "created_at", "links"]
        extra_kwargs = {
            "subject": {"required": False},
            "target": {
                "required": False,
                "help_text": "The Slack channel (slack) or the webhook URL (webhook); "
                "unused by the other channels.",
            },
            "send_as_draft": {"required": False},
            "track_opens": {
                "required": False,
                "help_text": "Ignored where the channel does not track opens.",
            },
            "track_links": {
                "required": False,
                "help_text": "Ignored where the channel does not track clicks. When on, "
                "each distinct link of the body becomes a tracked Link.",
            },
        }

    def validate(self, attrs):
        if attrs.get("channel") == Channel.WEBHOOK and attrs.get("target"):
            parsed = urlparse(attrs["target"])
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise serializers.ValidationError(
                    {"target": ["A webhook action's target must be an http(s) URL."]}
                )
            try:
                outbound_url_check(attrs["target"])
            except OutboundRefused as exc:
                raise serializers.ValidationError({"target": [f"Not allowed: {exc}."]}) from None
        return attrs


class AttributionSerializer(StrictSerializer):
    """A campaign's credit rule and window (CONTRACT.md "Conversions")."""

    rule = serializers.ChoiceField(
        choices=AttributionRule.values,
        source="attribution_rule",
        required=False,
        help_text="Which message a goal event credits (default last_reached).",
    )
    window_hours = serializers.IntegerField(
        min_value=1,
        max_value=MAX_CONVERSION_WINDOW_HOURS,
        source="conversion_window_hours",
        required=False,
        help_text="From the moment the rule looks at (reached, opened, clicked) to the goal "
        "(default 168).",
    )


class AttributionProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(source="attribution_done", help_text="people attributed")
    total = serializers.IntegerField(source="attribution_total", help_text="people to attribute")


class CampaignSerializer(StrictModelSerializer):
    conversion_window_hours = serializers.IntegerField(
        min_value=1,
        max_value=MAX_CONVERSION_WINDOW_HOURS,
        required=False,
        help_text="Alias of attribution.window_hours.",
    )
    attribution = AttributionSerializer(source="*", required=False)
    attribution_state = serializers.ChoiceField(
        choices=AttributionState.values,
        read_only=True,
        help_text='"recomputing" while the goal events are attributed again after an edit; '
        'the metrics show the new figures once it reads "current".',
    )
    attribution_progress = AttributionProgressSerializer(source="*", read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "conversion_event",
            "conversion_window_hours",
            "attribution",
            "attribution_state",
            "attribution_progress",
            "created_at",
        ]
        read_only_fields = ["id", "created_at", "attribution_state", "attribution_progress"]
        extra_kwargs = {"conversion_event": {"required": False}}

    def validate(self, attrs):
        given = self.initial_data if isinstance(self.initial_data, dict) else {}
        nested = given.get("attribution")
        if (
            "conversion_window_hours" in given
            and isinstance(nested, dict)
            and "window_hours" in nested
            and nested["window_hours"] != given["conversion_window_hours"]
        ):
            raise serializers.ValidationError(
                {
                    "conversion_window_hours": [
                        "Differs from attribution.window_hours (it is its alias)."
                    ]
                }
            )
        return attrs


class CampaignUpdateSerializer(CampaignSerializer):
    class Meta(CampaignSerializer.Meta):
        extra_kwargs = {"conversion_event": {"required": False}, "name": {"required": False}}


class CampaignDetailSerializer(CampaignSerializer):
    actions = ActionSerializer(many=True, read_only=True)

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "actions"]
        read_only_fields = [*CampaignSerializer.Meta.read_only_fields, "actions"]


# --- Metrics (response shape only; documented for the OpenAPI schema) -----------


def _fields(names, field_factory) -> dict:
    return {name: field_factory() for name in names}


def _count():
    return serializers.IntegerField(
        allow_null=True, help_text="null where the channel does not track it"
    )


def _rate():
    return serializers.FloatField(
        allow_null=True, min_value=0, max_value=1, help_text="fraction 0..1; null when undefined"
    )


MetricCounts = type(
    "MetricCounts",
    (serializers.Serializer,),
    _fields((*REACHED, *BOUNCE_SPLIT, *CURRENT_SHOWN), _count),
)
MetricTotals = type("MetricTotals", (serializers.Serializer,), _fields(TOTALS, _count))
MetricRates = type("MetricRates", (serializers.Serializer,), _fields(RATES, _rate))
SeriesRow = type(
    "MetricSeriesRow",
    (serializers.Serializer,),
    {"bucket": serializers.DateTimeField(), **_fields(SERIES, serializers.IntegerField)},
)


class MetricBlock(serializers.Serializer):
    counts = MetricCounts()
    totals = MetricTotals()
    rates = MetricRates()


class ActionMetrics(MetricBlock):
    action = serializers.IntegerField()
    name = serializers.CharField()
    channel = serializers.ChoiceField(choices=Channel.choices)


class LinkMetrics(serializers.Serializer):
    link = serializers.IntegerField()
    url = serializers.CharField()
    clicks = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()


class BounceReason(serializers.Serializer):
    bounce_type = serializers.ChoiceField(choices=BounceType.choices)
    reason = serializers.CharField(help_text="normalised: codes, addresses and ids stripped")
    count = serializers.IntegerField()


class SenderHealth(serializers.Serializer):
    gmail_spam_rate = _rate()
    yahoo_spam_rate = _rate()
    # A plain string in the schema: an enum named "status" would collide
    # with the message status enum's component name.
    status = serializers.CharField(
        help_text='"ok", "warning" (a spam rate ≥ 0.1 %) or "danger" (≥ 0.3 %)'
    )


class StaleCounts(serializers.Serializer):
    awaiting_delivery = serializers.IntegerField()
    stuck_in_pipeline = serializers.IntegerField()


class CampaignMetricsSerializer(MetricBlock):
    campaign = serializers.IntegerField()
    by_action = ActionMetrics(many=True)
    by_channel = serializers.DictField(child=MetricBlock(), help_text="keyed by channel name")
    links = LinkMetrics(many=True)
    series = SeriesRow(many=True)
    by_mailbox_provider = serializers.DictField(
        child=MetricBlock(),
        help_text="email only, by recipient domain: gmail, microsoft, yahoo, apple, other",
    )
    bounce_reasons = BounceReason(many=True, help_text="the 20 most frequent")
    sender_health = SenderHealth()
    stale = StaleCounts()
