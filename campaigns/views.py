"""Marketer pages: the campaigns list and one campaign's metrics.

Every number comes from campaigns.metrics (counters, never a count of
messages), so these pages, the API and reconcile_metrics agree.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from campaigns import deliverability, deliverability_page, metrics
from campaigns.charts import CHART_METRICS, GRANULARITIES, series_chart
from campaigns.models import Campaign, Link, SeriesBasis
from campaigns.templatetags.tidings import count, pct
from campaigns.vocabulary import JOURNEY
from config import access

# Sort keys of the campaigns list: column -> how to read it from a row.
SORTS = {
    "name": lambda row: row["campaign"].name.lower(),
    "created": lambda row: row["campaign"].created_at,
    "messages": lambda row: row["m"]["messages"],
    "sent": lambda row: row["m"]["counts"]["sent"],
    "delivered": lambda row: row["m"]["counts"]["delivered"],
    "delivery_rate": lambda row: row["m"]["rates"]["delivery"],
    "opened": lambda row: row["m"]["counts"]["opened"],
    "open_rate": lambda row: row["m"]["rates"]["open"],
    "clicked": lambda row: row["m"]["counts"]["clicked"],
    "click_rate": lambda row: row["m"]["rates"]["click"],
    "converted": lambda row: row["m"]["counts"]["converted"],
    "conversion_rate": lambda row: row["m"]["rates"]["conversion"],
}
DEFAULT_SORT = "-created"
LIST_COLUMNS = (
    ("name", "Campaign"),
    ("created", "Created"),
    ("messages", "Messages"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("delivery_rate", "Delivery rate"),
    ("opened", "Opened"),
    ("open_rate", "Open rate"),
    ("clicked", "Clicked"),
    ("click_rate", "Click rate"),
    ("converted", "Converted"),
    ("conversion_rate", "Conversion rate"),
)

FUNNEL = (
    ("sent", None),
    ("delivered", "delivery"),
    ("opened", "open"),
    ("clicked", "click"),
    ("converted", "conversion"),
)
# Status buckets in journey order.
STATUS_ORDER = JOURNEY
TABLE_COUNTS = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "unsubscribed",
    "failed",
)
TABLE_RATES = ("delivery", "open", "click", "click_to_open", "conversion")
RATE_LABELS = {
    "delivery": "Delivery rate",
    "open": "Open rate",
    "click": "Click rate",
    "click_to_open": "Click-to-open rate",
    "conversion": "Conversion rate",
    "bounce": "Bounce rate",
    "spam": "Spam rate",
    "unsubscribe": "Unsubscribe rate",
}


def _sorted(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    read = SORTS[sort.removeprefix("-")]
    known = [row for row in rows if read(row) is not None]
    # Undefined rates ("—") go last whichever the direction.
    unknown = [row for row in rows if read(row) is None]
    known.sort(key=read, reverse=sort.startswith("-"))
    return known + unknown


@access.page_permission(access.VIEW_CAMPAIGN)
def campaign_list(request: HttpRequest) -> HttpResponse:
    sort = request.GET.get("sort", DEFAULT_SORT)
    if sort.removeprefix("-") not in SORTS:
        sort = DEFAULT_SORT
    campaigns = list(Campaign.objects.only("id", "name", "conversion_event", "created_at"))
    overview = metrics.campaigns_overview(c.id for c in campaigns)
    health = deliverability.campaigns_sender_health(c.id for c in campaigns)
    rows = [{"campaign": c, "m": overview[c.id], "health": health[c.id]} for c in campaigns]
    rows = _sorted(rows, sort)
    active, descending = sort.removeprefix("-"), sort.startswith("-")
    columns = []
    for key, label in LIST_COLUMNS:
        if key == active:
            # A second click on the active column flips its direction.
            next_sort = key if descending else f"-{key}"
        else:
            # Names read A to Z first; numbers and dates largest first.
            next_sort = key if key == "name" else f"-{key}"
        columns.append(
            {
                "key": key,
                "label": label,
                "numeric": key not in ("name", "created"),
                "active": key == active,
                "descending": descending,
                "next": next_sort,
            }
        )
    return render(
        request,
        "campaigns/campaign_list.html",
        {"rows": rows, "columns": columns, "sort": sort},
    )


def _rate_rows(terms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": name, "label": RATE_LABELS[name], **terms[name]} for name in RATE_LABELS]


def _breakdown_cells(block: dict[str, Any], channel: str) -> list[dict[str, Any]]:
    """The cells of one breakdown row, formatted here (a page has a few
    hundred of them; template filters per cell cost more than the queries)."""
    terms = block["terms"]
    cells = [
        {"kind": "metric", "name": name, "text": count(block["counts"][name]), "title": ""}
        for name in TABLE_COUNTS
    ]
    for name in TABLE_RATES:
        term = terms[name]
        cells.append(
            {
                "kind": "rate",
                "name": name,
                "text": pct(term["value"]),
                "title": f"{term['formula']} = {count(term['numerator'])} / "
                f"{count(term['denominator'])}",
            }
        )
    return cells


@access.page_permission(access.VIEW_CAMPAIGN)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    basis = request.GET.get("basis", SeriesBasis.SEND)
    if basis not in SeriesBasis.values:
        basis = SeriesBasis.SEND
    granularity = request.GET.get("granularity", "auto")
    if granularity not in ("auto", *GRANULARITIES):
        granularity = "auto"
    m = metrics.campaign_metrics(campaign, basis=basis)

    terms = m["terms"]

    top = max((m["counts"][stage] or 0 for stage, _ in FUNNEL), default=0)
    funnel = [
        {
            "stage": stage,
            # Channels of this campaign that never report this step: their
            # messages cannot count in it (DESIGN.md capability table).
            "untracked": [
                channel
                for channel, block in m["by_channel"].items()
                if block["counts"][stage] is None
            ],
            # ... and those whose messages it counts.
            "covered": [
                channel
                for channel, block in m["by_channel"].items()
                if block["counts"][stage] is not None
            ],
            "count": m["counts"][stage],
            "width": round(100 * (m["counts"][stage] or 0) / top, 1) if top else 0,
            "rate": terms[rate_name] if rate_name else None,
        }
        for stage, rate_name in FUNNEL
    ]
    messages_total = m["messages"]
    buckets = [
        {
            "status": status.value,
            "count": m["status_buckets"][status],
            "width": round(100 * m["status_buckets"][status] / messages_total, 2)
            if messages_total
            else 0,
        }
        for status in STATUS_ORDER
    ]

    actions = [
        {**block, "cells": _breakdown_cells(block, block["channel"])} for block in m["by_action"]
    ]
    by_channel = [
        {"channel": channel, **block, "cells": _breakdown_cells(block, channel)}
        for channel, block in m["by_channel"].items()
    ]
    action_names = {block["action"]: block["name"] for block in m["by_action"]}
    link_actions = dict(Link.objects.filter(action__campaign=campaign).values_list("id", "action"))
    links = [
        {
            **row,
            "action_name": action_names.get(link_actions.get(row["link"]), ""),
            # Only web URLs become anchors; anything else is shown as text.
            "href": row["url"] if row["url"].startswith(("https://", "http://")) else "",
        }
        for row in m["links"]
    ]

    chart = series_chart(m["series"], granularity=granularity)
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "m": m,
            "messages_total": messages_total,
            "funnel": funnel,
            "status_buckets": buckets,
            "rates": _rate_rows(terms),
            "actions": actions,
            "by_channel": by_channel,
            "links": links,
            "chart": chart,
            "chart_metrics": CHART_METRICS,
            "basis": basis,
            "bases": SeriesBasis.choices,
            "granularity": granularity,
            "granularities": (("auto", "Auto"), ("hour", "Hourly"), ("day", "Daily")),
            "table_counts": TABLE_COUNTS,
            "rate_headers": [RATE_LABELS[name] for name in TABLE_RATES],
            "deliverability": deliverability_page.section(m, campaign.id),
        },
    )
