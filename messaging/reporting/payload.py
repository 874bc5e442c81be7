"""The payload of a reporting notification (CONTRACT.md "Reporting
webhooks"): {"type", "timestamp", "data": {"message", "event"}}, the
message as the API shows it, read as plain rows for a whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from types import SimpleNamespace

from django.db import connection
from django.utils import timezone

from messaging import counters
from messaging.conversions import conversions_by_message
from messaging.models import Message, Person
from messaging.reporting.models import ReportingNotification
from messaging.sending import rendering

# The message as the API's detail shows it (messaging.serializers.
# MessageDetailSerializer's fields but its events and content), read as plain
# rows: DRF's serializer and Django's model instances cost more per
# notification than the HTTP request did. The computed fields come from the
# functions the detail view calls, fed from the batch's rows (its actions'
# links and its conversions each read once). A test holds this equal to the
# serializer's output.
_SHOWN_SOURCES = {"campaign": "campaign_id", "action": "action_id", "person": "person__external_id"}
_SHOWN_COMPUTED = {"attempt", "headers", "tracking", "conversions"}
_NOT_SHOWN = {"events", "subject", "body"}  # content: only with include_content


def _iso(moment: datetime | None, zone=None) -> str | None:
    """A time as the API writes it (DRF's DateTimeField: the current time
    zone, ISO 8601, "Z" for UTC), without a field instance per value; pass
    the zone when writing many."""
    if moment is None:
        return None
    text = moment.astimezone(zone or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _shown_fields() -> list[str]:
    from messaging.serializers import MessageDetailSerializer

    return [name for name in MessageDetailSerializer.Meta.fields if name not in _NOT_SHOWN]


def messages_shown(
    message_ids: list[int], *, content_ids: Collection[int] = ()
) -> tuple[dict[int, dict], dict[int, dict]]:
    """Each message as the API's detail shows it now, without events or
    content; and the content (subject and body) of those in ``content_ids``
    (the webhooks that include it), from the same read. Three reads whatever
    the batch's size: the messages, their actions' links, their conversions
    (a fourth when any has one)."""
    fields = _shown_fields()
    columns = [_SHOWN_SOURCES.get(name, name) for name in fields if name not in _SHOWN_COMPUTED]
    # The body is read for every message: `tracking` lists the URLs it carries.
    extra = ["send_attempts", "subject", "body"]
    if connection.vendor == "postgresql":
        # A batch names a thousand messages: one array parameter, and the
        # timestamps decoded in binary (Django's loader parses them in Python).
        selected = ", ".join(
            f"p.{column[len('person__') :]}" if column.startswith("person__") else f"m.{column}"
            for column in [*columns, *extra]
        )
        rows = counters.select_bound(
            f"SELECT {selected} FROM {Message._meta.db_table} m "
            f"JOIN {Person._meta.db_table} p ON p.id = m.person_id WHERE m.id = ANY(%b::bigint[])",
            [message_ids],
        )
    else:
        rows = Message.objects.filter(id__in=message_ids).values_list(*columns, *extra)
    rows = [dict(zip([*columns, *extra], row, strict=True)) for row in rows]
    links = rendering.links_by_action({row["action_id"] for row in rows})
    conversions = conversions_by_message([row["id"] for row in rows])
    content_ids = set(content_ids)
    shown, contents = {}, {}
    zone = timezone.get_current_timezone()
    for values in rows:
        message = SimpleNamespace(
            id=values["id"],
            channel=values["channel"],
            action_id=values["action_id"],
            body=values["body"],
        )
        tracking = rendering.message_tracking(message, links.get(message.action_id, []))
        data = {}
        for name in fields:
            if name == "attempt":
                value = values["send_attempts"] + 1
            elif name == "headers":
                value = rendering.message_headers(message, tracking)
            elif name == "tracking":
                value = tracking
            elif name == "conversions":
                value = [
                    {**conversion, "occurred_at": _iso(conversion["occurred_at"], zone)}
                    for conversion in conversions.get(message.id, [])
                ]
            else:
                value = values[_SHOWN_SOURCES.get(name, name)]
                if isinstance(value, datetime):
                    value = _iso(value, zone)
            data[name] = value
        shown[message.id] = data
        if message.id in content_ids:
            contents[message.id] = {"subject": values["subject"], "body": values["body"]}
    return shown, contents


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
