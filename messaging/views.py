"""Marketer pages: the delivery log and one message's timeline.

The log pages by keyset (``?before=<id>`` older, ``?after=<id>`` newer):
each page is one ``WHERE <filters> AND id < cursor ORDER BY id DESC LIMIT n``
on an index, as fast a thousand pages deep as on the first, and nothing
counts the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages as flash
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns.models import Action, Campaign, Link
from campaigns.vocabulary import Channel, Source, Status
from config import access
from messaging import sending
from messaging.csv_export import csv_lines
from messaging.filters import MessageFilter
from messaging.message_states import timeline_implied, timeline_order
from messaging.models import Message, MessageEvent
from messaging.preview import message_preview
from messaging.status import MILESTONES

PAGE_SIZE = 50
EXPORT_CHUNK = 2000
LOG_FIELDS = (
    "id",
    "status",
    "channel",
    "address",
    "failure_reason",
    "created_at",
    "updated_at",
    "campaign_id",
    "action_id",
    "person_id",
    "campaign__name",
    "action__name",
    "person__external_id",
    "person__attributes",
)
EXPORT_COLUMNS = (
    ("id", "id"),
    ("created_at", "created_at"),
    ("updated_at", "updated_at"),
    ("campaign", "campaign_id"),
    ("campaign_name", "campaign__name"),
    ("action", "action_id"),
    ("action_name", "action__name"),
    ("channel", "channel"),
    ("person", "person__external_id"),
    ("address", "address"),
    ("status", "status"),
    ("provider", "provider"),
    ("provider_message_id", "provider_message_id"),
    *((f"{name}_at", f"{name}_at") for name in MILESTONES),
    ("bounce_type", "bounce_type"),
    ("failure_reason", "failure_reason"),
    ("open_count", "open_count"),
    ("click_count", "click_count"),
)


def _cursor(value: str | None) -> int | None:
    try:
        cursor = int(value) if value else None
    except ValueError:
        return None
    return cursor if cursor is not None and cursor > 0 else None


def log_queryset(request: HttpRequest) -> tuple[MessageFilter, QuerySet[Message]]:
    # A discarded draft has left the log and the metrics.
    base = Message.objects.filter(discarded_at__isnull=True)
    filterset = MessageFilter(request.GET, queryset=base)
    if not filterset.is_valid():
        return filterset, base.none()
    return filterset, filterset.qs


def keyset_page(
    queryset: QuerySet, *, before: int | None, after: int | None, size: int = PAGE_SIZE
) -> dict[str, Any]:
    """One page newest first, plus whether newer and older rows exist (read
    from one extra row, never from a count)."""
    if after is not None:
        rows = list(queryset.filter(id__gt=after).order_by("id")[: size + 1])
        if len(rows) > size:
            rows = rows[:size]
            rows.reverse()
            return {"rows": rows, "newer": True, "older": True}
        # Reached the newest rows: show the first page, full.
        before = None
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = list(queryset.order_by("-id")[: size + 1])
    older = len(rows) > size
    return {"rows": rows[:size], "newer": before is not None, "older": older}


def _person_name(attributes: Any) -> str:
    if not isinstance(attributes, dict):
        return ""
    name = attributes.get("name")
    if not name:
        name = " ".join(
            str(attributes[key]) for key in ("first_name", "last_name") if attributes.get(key)
        )
    return str(name) if name else ""


def _log_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Display-ready rows. Formatting here rather than with per-row template
    tags ({% url %}, |date) keeps a 50-row page cheap to render."""
    message_url = reverse("messaging:message", args=[_SLOT]).replace(str(_SLOT), "{}")
    campaign_url = reverse("campaigns:detail", args=[_SLOT]).replace(str(_SLOT), "{}")
    out = []
    for row in rows:
        # When the last thing happened to the message (its latest event),
        # not when we stored it: a late webhook batch stores many at once.
        changed = timezone.localtime(row["last_event_at"] or row["created_at"])
        received = row["last_received_at"]
        out.append(
            {
                "id": row["id"],
                "url": message_url.format(row["id"]),
                "status": row["status"],
                "channel": row["channel"],
                "address": row["address"],
                "failure_reason": row["failure_reason"],
                "campaign_url": campaign_url.format(row["campaign_id"]),
                "campaign_name": row["campaign__name"],
                "action_name": row["action__name"],
                "external_id": row["person__external_id"],
                "person_name": _person_name(row["person__attributes"]),
                "changed": changed.strftime("%Y-%m-%d %H:%M:%S"),
                "changed_iso": changed.isoformat(),
                "received": timezone.localtime(received).strftime("%Y-%m-%d %H:%M:%S")
                if received
                else "",
            }
        )
    return out


_SLOT = 987654321


@access.page_permission(access.VIEW_MESSAGE)
def delivery_log(request: HttpRequest) -> HttpResponse:
    filterset, queryset = log_queryset(request)
    if request.GET.get("export") == "csv":
        return _export_csv(queryset)

    # The latest event of each row, as correlated subqueries of the page's
    # one query (the unique (message, idempotency_key) index finds a
    # message's events); PostgreSQL evaluates them only for the rows the
    # LIMIT keeps.
    latest = MessageEvent.objects.filter(message=OuterRef("pk")).order_by(
        "-occurred_at", "-received_at", "-id"
    )
    page = keyset_page(
        queryset.values(
            *LOG_FIELDS,
            last_event_at=Subquery(latest.values("occurred_at")[:1]),
            last_received_at=Subquery(latest.values("received_at")[:1]),
        ),
        before=_cursor(request.GET.get("before")),
        after=_cursor(request.GET.get("after")),
    )
    rows = _log_rows(page["rows"])

    params = request.GET.copy()
    for name in ("before", "after", "export"):
        params.pop(name, None)
    filters = params.urlencode()
    links = {}
    if rows and page["newer"]:
        links["newer"] = _with(params, after=rows[0]["id"])
    if rows and page["older"]:
        links["older"] = _with(params, before=rows[-1]["id"])
    if page["newer"]:
        links["newest"] = "?" + filters if filters else "?"

    chosen_campaign = filterset.form.cleaned_data.get("campaign") if filterset.is_bound else None
    actions = Action.objects.order_by("campaign_id", "id").values_list(
        "id", "name", "channel", "campaign__name"
    )
    if chosen_campaign:
        actions = actions.filter(campaign_id=chosen_campaign)
    return render(
        request,
        "messaging/delivery_log.html",
        {
            "filterset": filterset,
            "errors": filterset.errors,
            "rows": rows,
            "links": links,
            "filters": filters,
            "export_url": _with(params, export="csv"),
            "campaigns": Campaign.objects.order_by("-id").values_list("id", "name"),
            "actions": actions,
            "channels": Channel.choices,
            "statuses": Status.choices,
            "values": {name: request.GET.get(name, "") for name in MessageFilter.base_filters},
        },
    )


def _with(params, **extra) -> str:
    query = params.copy()
    for name, value in extra.items():
        query[name] = str(value)
    return "?" + query.urlencode()


def _export_rows(queryset: QuerySet[Message]) -> Iterator[list[Any]]:
    """Every filtered row, newest first, read in keyset chunks so memory and
    each query stay small however long the log is."""
    fields = [field for _, field in EXPORT_COLUMNS]
    queryset = queryset.order_by("-id").values_list(*fields)
    last_id = None
    while True:
        chunk = queryset if last_id is None else queryset.filter(id__lt=last_id)
        rows = list(chunk[:EXPORT_CHUNK])
        if not rows:
            return
        yield from rows
        last_id = rows[-1][0]
        if len(rows) < EXPORT_CHUNK:
            return


def _export_csv(queryset: QuerySet[Message]) -> StreamingHttpResponse:
    stream = csv_lines([name for name, _ in EXPORT_COLUMNS], _export_rows(queryset))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deliveries-{stamp}.csv"'
    return response


def message_timeline(message: Message) -> list[dict[str, Any]]:
    """Every stored event, oldest first (occurred_at, then received_at), with
    the derived events (an open implied by a click, a delivery implied by
    engagement) shown as source "implied"."""
    events = list(
        MessageEvent.objects.filter(message=message)
        .select_related("link")
        .order_by("occurred_at", "received_at", "id")
    )
    rows = [
        {
            "sort": timeline_order(event),
            "type": event.type,
            "occurred_at": event.occurred_at,
            "received_at": event.received_at,
            "source": event.source,
            "machine": event.machine,
            "link": event.link.url if event.link else "",
            "bounce_type": event.bounce_type,
            "reason": event.reason,
            "provider": event.provider,
            "attempt": event.attempt,
            "refused_reason": event.detail.get("refused_reason", "")
            if isinstance(event.detail, dict) and event.type == "refused"
            else "",
            "detail": json.dumps(event.detail, indent=2, sort_keys=True, default=str)
            if event.detail
            else "",
        }
        for event in events
    ]
    for order, implied in timeline_implied(message, events):
        rows.append(
            {
                # Just before the stored event that implies it (the API's order).
                "sort": order,
                "type": implied["type"],
                "occurred_at": implied["occurred_at"],
                "received_at": None,
                "source": Source.IMPLIED.value,
                "machine": False,
                "link": "",
                "bounce_type": "",
                "reason": "",
                "provider": "",
                "detail": "",
                "attempt": implied["attempt"],
            }
        )
    rows.sort(key=lambda row: row["sort"])
    return rows


@access.page_permission(access.VIEW_MESSAGE)
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = get_object_or_404(
        Message.objects.select_related("campaign", "action", "person"), pk=pk
    )
    person = message.person
    milestones = [
        {"name": name, "at": getattr(message, f"{name}_at")}
        for name in MILESTONES
        if getattr(message, f"{name}_at") is not None
    ]
    attributes = person.attributes if isinstance(person.attributes, dict) else {}
    return render(
        request,
        "messaging/message_detail.html",
        {
            "message": message,
            "person": person,
            "person_name": _person_name(attributes),
            "attributes": sorted(
                (str(key), json.dumps(value) if not isinstance(value, str) else value)
                for key, value in attributes.items()
            ),
            "milestones": milestones,
            # The links are read only for an HTML email (its preview).
            "preview": message_preview(message, Link.objects.filter(action_id=message.action_id)),
            "timeline": message_timeline(message),
            "can_send": message.status == Status.DRAFTED and message.discarded_at is None,
            "can_retry": message.status == Status.FAILED,
        },
    )


def _run(request: HttpRequest, pk: int, service, done: str) -> HttpResponse:
    message = get_object_or_404(Message, pk=pk)
    try:
        service(message=message)
    except sending.NotAllowed as exc:
        # Someone else sent, retried or discarded it meanwhile.
        flash.error(request, str(exc))
    else:
        flash.success(request, f"Message {message.pk} {done}.")
    return redirect("messaging:message", pk=message.pk)


@access.page_permission(access.SEND_MESSAGE)
@require_POST
def message_send(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(request, pk, sending.message_send_draft, "queued for sending")


@access.page_permission(access.RETRY_MESSAGE)
@require_POST
def message_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(request, pk, sending.message_retry, "queued for a retry")


@access.page_permission(access.DISCARD_MESSAGE)
@require_POST
def message_discard(request: HttpRequest, pk: int) -> HttpResponse:
    return _run(request, pk, sending.message_discard, "discarded")
