"""The payload of a reporting notification (CONTRACT.md "Reporting
webhooks"): {"type", "timestamp", "data": {"message", "event"}}, the
message as the API shows it, read as plain rows for a whole batch.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection
from django.utils import timezone

from messaging import counters
from messaging.models import Message, Person
from messaging.reporting.models import ReportingNotification

# The message as the API shows it (messaging.serializers.MessageSerializer's
# fields), read as plain rows: DRF's serializer and Django's model instances
# cost more per notification than the HTTP request did. A test holds this
# equal to the serializer's output.
_SHOWN_SOURCES = {"campaign": "campaign_id", "action": "action_id", "person": "person__external_id"}
_SHOWN_COMPUTED = {"attempt"}


def _iso(moment: datetime | None, zone=None) -> str | None:
    """A time as the API writes it (DRF's DateTimeField: the current time
    zone, ISO 8601, "Z" for UTC), without a field instance per value; pass
    the zone when writing many."""
    if moment is None:
        return None
    text = moment.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _shown_fields() -> list[str]:
    from messaging.serializers import MessageSerializer

    return list(MessageSerializer.Meta.fields)


def messages_shown(message_ids: list[int]) -> dict[int, dict]:
    """Each message as the API shows it now (without events or content)."""
    fields = _shown_fields()
    columns = [_SHOWN_SOURCES.get(name, name) for name in fields if name not in _SHOWN_COMPUTED]
    if connection.vendor == "postgresql":
        # A batch names a thousand messages: one array parameter, and the
        # timestamps decoded in binary (Django's loader parses them in Python).
        selected = ", ".join(
            f"p.{column[len('person__') :]}" if column.startswith("person__") else f"m.{column}"
            for column in columns
        )
        rows = counters.select_bound(
            f"SELECT {selected}, m.send_attempts FROM {Message._meta.db_table} m "
            f"JOIN {Person._meta.db_table} p ON p.id = m.person_id WHERE m.id = ANY(%b::bigint[])",
            [message_ids],
        )
    else:
        rows = Message.objects.filter(id__in=message_ids).values_list(*columns, "send_attempts")
    shown = {}
    zone = timezone.get_current_timezone()
    for row in rows:
        values = dict(zip(columns, row, strict=False))
        data = {}
        for name in fields:
            if name == "attempt":
                value = row[-1] + 1
            else:
                value = values[_SHOWN_SOURCES.get(name, name)]
                if isinstance(value, datetime):
                    value = _iso(value, zone)
            data[name] = value
        shown[data["id"]] = data
    return shown


def messages_content(message_ids: list[int]) -> dict[int, dict]:
    """Subject and body, read only for webhooks that include content (an
    email's HTML body can be far larger than the rest of the message)."""
    rows = Message.objects.filter(id__in=message_ids).values_list("id", "subject", "body")
    return {message_id: {"subject": subject, "body": body} for message_id, subject, body in rows}


def notification_body(
    notification: ReportingNotification, shown: dict, content: dict | None = None
) -> str:
    """CONTRACT.md: {"type", "timestamp", "data": {"message", "event"}}; the
    message with its content only when given (the webhook includes it)."""
    data = {**shown, **content} if content else shown
    payload = {
        "type": notification.event_name,
        "timestamp": _iso(notification.created_at),
        "data": {
            "message": data,
            "event": {
                "type": notification.event_type,
                "occurred_at": _iso(notification.occurred_at),
                "attempt": notification.event_attempt,
                "source": notification.source,
            },
        },
    }
    return json.dumps(payload, separators=(",", ":"))
