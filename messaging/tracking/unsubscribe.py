"""One-click unsubscribe (RFC 8058; CONTRACT.md "One-click unsubscribe").

Every email carries ``List-Unsubscribe: <{TIDINGS_PUBLIC_URL}/u/<token>>`` and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``; the token is signed
and names the message.

- ``POST /u/<token>`` with the form body ``List-Unsubscribe=One-Click`` (what
  a mailbox provider posts: no cookies, no CSRF token) unsubscribes the
  person at once and records the recipient's ``unsubscribed`` event on that
  message, so the message's unsubscribe metric moves. The confirmation
  page's own form posts the same body.
- ``GET /u/<token>`` only shows a page that names the address and asks to
  confirm: link scanners follow GETs.

A tampered or unknown token → 404 and nothing recorded; a repeat records
nothing twice (the event's idempotency key is fixed per message, and the
person is unsubscribed once).
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from campaigns.vocabulary import EventType, Source
from messaging.audience.audit import AuditSource, Change
from messaging.audience.subscription import person_unsubscribe
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.models import Message
from messaging.tracking import tokens
from messaging.tracking.views import _never_cache

ONE_CLICK = "One-Click"
IDEMPOTENCY_KEY = "recipient:unsubscribe"


def _message(token: str) -> Message | None:
    try:
        message_id = tokens.read_unsubscribe_token(token)
    except tokens.InvalidToken:
        return None
    return (
        Message.objects.filter(pk=message_id, discarded_at__isnull=True)
        .select_related("person")
        .first()
    )


def message_unsubscribe(*, message: Message, detail: dict) -> bool:
    """The recipient's unsubscribe through this message: the person is
    unsubscribed and the message gets its ``unsubscribed`` event. True when
    the person was subscribed until now."""
    with transaction.atomic():
        apply_events(
            [
                Event(
                    type=EventType.UNSUBSCRIBED,
                    occurred_at=timezone.now(),
                    idempotency_key=IDEMPOTENCY_KEY,
                    source=Source.RECIPIENT,
                    message_id=message.id,
                    reason="one-click unsubscribe",
                    detail=detail,
                )
            ]
        )
        was_subscribed = message.person.unsubscribed_at is None
        # Ingest already unsubscribed them from the event; this also covers
        # an event the message could not take (it was never sent).
        person_unsubscribe(
            person=message.person,
            change=Change(source=AuditSource.RECIPIENT, message_id=message.id),
            reason="one-click unsubscribe",
        )
    return was_subscribed


@csrf_exempt  # the mailbox provider posts it: no cookies, no CSRF token
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    message = _message(token)
    if message is None:
        return HttpResponseNotFound("Unknown unsubscribe link.")
    context = {"address": message.address, "done": False, "already": False}
    if request.method == "POST":
        if request.POST.get("List-Unsubscribe") != ONE_CLICK:
            return HttpResponseBadRequest("Expected the form body List-Unsubscribe=One-Click.")
        detail = {
            "method": "POST",
            "one_click": True,
            "user_agent": request.headers.get("User-Agent", "")[:500],
        }
        context["done"] = True
        message_unsubscribe(message=message, detail=detail)
    else:
        context["already"] = message.person.unsubscribed_at is not None
    response = render(request, "tracking/unsubscribe.html", context)
    response["X-Robots-Tag"] = "noindex"
    return _never_cache(response)
