"""The campaign page's deliverability section, laid out from the metrics
answer (campaigns.deliverability): the table by mailbox provider with its
bars, the spam-rate gauge with the bulk-sender thresholds, the bounce
reasons and the stale counts linking to the filtered delivery log."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from campaigns import metrics
from campaigns.mailbox import LABELS, MAILBOX_PROVIDERS
from campaigns.templatetags.tidings import count, pct

TABLE_RATES = ("delivery", "open", "click", "bounce", "spam")
GAUGE_WIDTH = 420
GAUGE_LEFT = 70  # room for the row labels
GAUGE_MIN_SCALE = 0.005  # the gauge shows at least 0 to 0.5 %
STATUS_TEXT = {
    "ok": "Spam complaints are under the bulk-sender thresholds.",
    "warning": "A spam-complaint rate has reached 0.1 %: Gmail and Yahoo advise staying below.",
    "danger": "A spam-complaint rate has reached 0.3 %: Gmail and Yahoo may filter or refuse "
    "this sender's mail.",
}


def _rows(m: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = m["by_mailbox_provider"]
    top = max((blocks[p]["counts"]["sent"] or 0 for p in MAILBOX_PROVIDERS), default=0)
    rows = []
    for provider in MAILBOX_PROVIDERS:
        block = blocks[provider]
        counts, totals, rates = block["counts"], block["totals"], block["rates"]
        sent = counts["sent"] or 0
        opens = (totals["opens"] or 0) + (totals["machine_opens"] or 0)
        rows.append(
            {
                "provider": provider,
                "label": LABELS[provider],
                "sent": count(counts["sent"]),
                "delivered": count(counts["delivered"]),
                "bounced": count(counts["bounced"]),
                "spammed": count(counts["spammed"]),
                "machine_opens": count(totals["machine_opens"]),
                # Machine opens' share of all opens, human (pixel, provider,
                # implied by a click) and machine: how much was never read.
                "machine_share": pct(metrics.rate(totals["machine_opens"], opens)),
                "rates": [
                    {"name": name, "text": pct(rates[name]), "formula": metrics.RATE_FORMULAS[name]}
                    for name in TABLE_RATES
                ],
                # The bar: sent relative to the largest provider; inside it,
                # the delivered and opened parts.
                "bar_width": round(100 * sent / top, 1) if top else 0,
                "delivered_width": round(100 * (counts["delivered"] or 0) / sent, 1) if sent else 0,
                "opened_width": round(100 * (counts["opened"] or 0) / sent, 1) if sent else 0,
            }
        )
    return rows


def _gauge(health: dict[str, Any]) -> dict[str, Any]:
    rates = {"Gmail": health["gmail_spam_rate"], "Yahoo": health["yahoo_spam_rate"]}
    scale = max([GAUGE_MIN_SCALE, *(1.2 * value for value in rates.values() if value is not None)])
    span = GAUGE_WIDTH - GAUGE_LEFT - 10

    def x(value: float) -> float:
        return round(GAUGE_LEFT + span * min(value, scale) / scale, 1)

    return {
        "width": GAUGE_WIDTH,
        "left": GAUGE_LEFT,
        "right": GAUGE_LEFT + span,
        "warning_x": x(metrics.SPAM_RATE_WARNING),
        "danger_x": x(metrics.SPAM_RATE_DANGER),
        "scale_text": pct(scale),
        "rows": [
            {
                "label": label,
                "y": 22 + 26 * index,
                "value": value,
                "text": "—" if value is None else f"{value * 100:.2f}%",
                "x": x(value) if value is not None else None,
                "status": metrics.spam_rate_status(value),
            }
            for index, (label, value) in enumerate(rates.items())
        ],
    }


def section(m: dict[str, Any], campaign_id: int) -> dict[str, Any]:
    health = m["sender_health"]
    log = reverse("messaging:deliveries")
    return {
        "rows": _rows(m),
        "health": health,
        "health_text": STATUS_TEXT[health["status"]],
        "gauge": _gauge(health),
        "bounce_reasons": m["bounce_reasons"],
        "stale": [
            {
                "kind": kind,
                "label": label,
                "count": m["stale"][kind],
                "href": f"{log}?{urlencode({'campaign': campaign_id, 'stale': kind})}",
            }
            for kind, label in (
                ("awaiting_delivery", "Awaiting a delivery report"),
                ("stuck_in_pipeline", "Stuck queued or attempted"),
            )
        ],
    }
