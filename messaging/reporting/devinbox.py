"""The demo's receiver (`make run`, DEBUG only): /dev/webhook-inbox/ takes
the reporting webhooks' POSTs, verifies each with the `standardwebhooks`
verifier against the secrets of the webhooks pointed at it, and the page
lists the last ones received, so a newcomer sees data flowing out.

Kept in this process's memory (the demo server is one process); it is a
demonstration, not a store."""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from standardwebhooks import Webhook, WebhookVerificationError

from config.access import MANAGE_REPORTING_WEBHOOKS, page_permission
from messaging.reporting.guard import DEV_INBOX_PATH
from messaging.reporting.models import ReportingWebhook

KEEP = 200
_received: deque[dict] = deque(maxlen=KEEP)
_lock = threading.Lock()


def received() -> list[dict]:
    with _lock:
        return list(reversed(_received))


def _verify(body: bytes, headers: dict[str, str]) -> tuple[ReportingWebhook, dict] | None:
    for webhook in ReportingWebhook.objects.filter(url__endswith=DEV_INBOX_PATH):
        try:
            return webhook, Webhook(webhook.secret).verify(body, headers)
        except WebhookVerificationError:
            continue
    return None


@csrf_exempt
def webhook_inbox(request: HttpRequest) -> HttpResponse:
    if not settings.DEBUG:
        raise Http404
    if request.method == "POST":
        return _receive(request)
    return _page(request)


def _receive(request: HttpRequest) -> HttpResponse:
    headers = {
        name: request.headers.get(name, "")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    verified = _verify(request.body, headers)
    if verified is None:
        return JsonResponse({"detail": "signature not verified"}, status=401)
    webhook, payload = verified
    with _lock:
        _received.append(
            {
                "received_at": datetime.now(UTC),
                "webhook": webhook.pk,
                "webhook_id": headers["webhook-id"],
                "type": payload.get("type"),
                "message": (payload.get("data") or {}).get("message", {}).get("id"),
                "payload": json.dumps(payload, indent=2),
            }
        )
    return HttpResponse(status=204)


@page_permission(MANAGE_REPORTING_WEBHOOKS)
def _page(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/webhook_inbox.html", {"received": received()})
