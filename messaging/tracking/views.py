"""The open pixel (GET /t/o/<token>.gif) and click redirect (GET /t/c/<token>).

Tokens are signed (messaging.tracking.tokens) and name a message and, for a
click, one of its action's links. A token that does not verify, names no
existing message, or names a link that is not its message's action's → 404
and nothing recorded. The redirect goes only to that link's stored URL.

Every hit is recorded through messaging.ingest.apply_events (source
"recipient") before the answer. Machine traffic (HEAD, a known bot user
agent: messaging.tracking.bots) is stored flagged as machine and never counted. A
click's implied open is derived by the status engine, not stored here; an
event the channel does not track is stored as "refused" by ingest's
non-strict mode (a click on an Airship message still reaches its URL).
"""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.models import Link
from campaigns.vocabulary import EventType, Source
from messaging.events import Event
from messaging.ingest import IngestResult, apply_events
from messaging.models import Message
from messaging.tracking import bots, tokens

logger = logging.getLogger(__name__)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
REDIRECT_SCHEMES = ("http", "https")


def recipient_event(
    *,
    type: str,
    message_id: int,
    occurred_at: datetime,
    machine: bool,
    detail: dict[str, Any],
    link_id: int | None = None,
    key: str | None = None,
) -> Event:
    """A recipient's open (pixel) or click (tracked link) as an event. Each
    hit is its own event, so repeated opens and clicks count; the simulated
    recipients pass their own deterministic key."""
    prefix = "click" if type == EventType.CLICKED else "pixel"
    return Event(
        type=type,
        occurred_at=occurred_at,
        idempotency_key=key or f"{prefix}:{uuid.uuid4().hex}",
        source=Source.RECIPIENT,
        message_id=message_id,
        link_id=link_id,
        machine=machine,
        detail=detail,
    )


def recipient_hit_record(**fields: Any) -> IngestResult:
    return apply_events([recipient_event(**fields)])


def _token(token: str) -> tokens.TrackingToken | None:
    try:
        return tokens.read_token(token)
    except tokens.InvalidToken:
        return None


def _detail(request: HttpRequest, machine_reason: str | None = None) -> dict[str, Any]:
    user_agent = request.headers.get("User-Agent", "")
    detail: dict[str, Any] = {"method": request.method, "user_agent": user_agent[:500]}
    if bots.is_bot_user_agent(user_agent):
        detail["bot"] = True
    if machine_reason:
        detail["machine_reason"] = machine_reason
    return detail


def _record(**fields: Any) -> None:
    try:
        recipient_hit_record(**fields)
    except Exception:
        # The recipient still gets the pixel or reaches the link; the lost
        # hit is logged (there is no provider to retry it).
        logger.exception("Recording a tracking hit failed: %s", fields.get("message_id"))


def _never_cache(response: HttpResponse) -> HttpResponse:
    # Every load must reach us (a cached pixel or redirect records nothing).
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    parsed = _token(token)
    if parsed is None or parsed.link_id is not None:
        return HttpResponseNotFound()
    exists = Message.objects.filter(pk=parsed.message_id, discarded_at__isnull=True).exists()
    if not exists:
        return HttpResponseNotFound()
    reason = bots.machine_reason(request, open_pixel=True)
    _record(
        type=EventType.OPENED,
        message_id=parsed.message_id,
        occurred_at=timezone.now(),
        machine=reason is not None,
        detail=_detail(request, reason),
    )
    return _never_cache(HttpResponse(PIXEL, content_type="image/gif"))


@csrf_exempt
@require_http_methods(["GET", "HEAD"])
def click_redirect(request: HttpRequest, token: str) -> HttpResponse:
    parsed = _token(token)
    if parsed is None or parsed.link_id is None:
        return HttpResponseNotFound()
    # The link must belong to the action of the message the token names, so
    # a genuine token can never be bent to another URL.
    url = (
        Link.objects.filter(
            pk=parsed.link_id,
            action__messages__id=parsed.message_id,
            action__messages__discarded_at__isnull=True,
        )
        .values_list("url", flat=True)
        .first()
    )
    if not url or urlsplit(url).scheme.lower() not in REDIRECT_SCHEMES:
        return HttpResponseNotFound()
    _record(
        type=EventType.CLICKED,
        message_id=parsed.message_id,
        link_id=parsed.link_id,
        occurred_at=timezone.now(),
        machine=bots.is_machine_request(request),
        detail=_detail(request, bots.machine_reason(request)),
    )
    return _never_cache(HttpResponseRedirect(url))
