"""The delivery log's filters (CONTRACT.md): ``campaign``, ``action``,
``channel``, ``status``, ``q`` (address or person), ``since``, ``until``,
``stale`` (CONTRACT.md "Deliverability").

One FilterSet for the /deliveries/ page and the API's message list, so both
answer the same rows. Every filter keeps the query on an index that serves
``ORDER BY id DESC LIMIT n`` keyset pages (see Message.Meta.indexes).
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils.dateparse import parse_datetime

from campaigns.deliverability import STALE_KINDS, stale_q
from campaigns.vocabulary import Channel, Status
from messaging.audience.suppression import normalise_address
from messaging.models import Message, Person, Suppression, SuppressionReason


class IntegerFilter(django_filters.Filter):
    # NumberFilter would accept "1.5" as an id.
    field_class = forms.IntegerField


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601, handed to the database in UTC: Python accepts offsets up to
    ±24 h, PostgreSQL only up to ±15:59, so an exotic offset must not reach it."""

    default_error_messages = {"range": "Is out of range."}

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise forms.ValidationError(self.error_messages["range"], code="range") from None


class ZonedIsoDateTimeField(UtcIsoDateTimeField):
    """ISO 8601 with a zone; a naive time is an error instead of a guess."""

    default_error_messages = {
        "naive": "Give the time zone (for instance 2026-11-01T12:00:00Z or +02:00).",
    }

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                raise forms.ValidationError(self.error_messages["naive"], code="naive")
        return super().to_python(value)


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class MessageFilter(django_filters.FilterSet):
    """Naive ``since``/``until`` values are read in the server's zone (UTC),
    which suits a page's datetime inputs; the API uses ``ApiMessageFilter``."""

    campaign = IntegerFilter(field_name="campaign_id", label="Campaign id")
    action = IntegerFilter(field_name="action_id", label="Action id")
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    status = django_filters.ChoiceFilter(choices=Status.choices, label="Current status")
    q = django_filters.CharFilter(
        method="filter_q",
        label="Address, person external id or person email (exact, case-insensitive for email)",
    )
    since = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label="Created at or after"
    )
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt", label="Created before")
    stale = django_filters.ChoiceFilter(
        choices=[(kind, kind.replace("_", " ").capitalize()) for kind in STALE_KINDS],
        method="filter_stale",
        label="Stale: sent with no delivery report (awaiting_delivery) or stuck queued or "
        "attempted (stuck_in_pipeline)",
    )

    class Meta:
        model = Message
        fields = ["campaign", "action", "channel", "status", "q", "since", "until", "stale"]

    def filter_stale(self, queryset, name, value):
        # campaigns.deliverability's condition, served by message_awaiting_idx
        # or message_stuck_idx (with a campaign) or the status log index.
        return queryset.filter(stale_q(value)) if value else queryset

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # Exact matches only: each side is an index lookup (message address;
        # person external id, lower(email), phone), where a substring search
        # would scan every message of a million-row log.
        #
        # The people are read first (one indexed query): left as a subquery
        # inside the OR, PostgreSQL guesses half the log matches and walks the
        # id index backwards through all of it (1.2 s at 1M messages); with
        # the ids as constants it combines the two indexes (under 1 ms).
        people = list(
            Person.objects.filter(
                Q(external_id=value) | Q(Exact(Lower("email"), value.lower())) | Q(phone=value)
            ).values_list("id", flat=True)[:1000]
        )
        return queryset.filter(Q(address__in={value, value.lower()}) | Q(person_id__in=people))


class ZonedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = ZonedIsoDateTimeField


class ApiMessageFilter(MessageFilter):
    """The API's variant: timestamps must carry a zone (CONTRACT.md)."""

    since = ZonedIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label="Created at or after (ISO 8601 with a zone)",
    )
    until = ZonedIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label="Created before (ISO 8601 with a zone)"
    )

    class Meta(MessageFilter.Meta):
        pass


class SuppressionFilter(django_filters.FilterSet):
    address = django_filters.CharFilter(
        method="filter_address", label="Address (exact, case-insensitive)"
    )
    reason = django_filters.ChoiceFilter(choices=SuppressionReason.choices)

    class Meta:
        model = Suppression
        fields = ["address", "reason"]

    def filter_address(self, queryset, name, value):
        # Stored lower-cased, so the unique index answers an exact match.
        return queryset.filter(address=normalise_address(value))
