"""The simulated providers' callbacks, delivered the way real ones arrive:
built in the provider's real webhook format (a signed SendGrid JSON array, a
signed Twilio form post), verified against the configured secret, parsed by
the provider's parser and applied by messaging.ingest.apply_events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
from collections import defaultdict
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from campaigns.vocabulary import EventType, Source
from messaging.events import Event
from messaging.webhooks.providers import base as provider_base
from messaging.webhooks.providers import sendgrid, twilio

logger = logging.getLogger(__name__)

SENDGRID_URL_PATH = "/webhooks/sendgrid/"
TWILIO_URL_PATH = "/webhooks/twilio/"
TWILIO_FROM = "+15005550006"


@lru_cache(maxsize=1)
def _own_sendgrid_keypair() -> tuple[str, str]:
    # No signing key configured: a key pair of this process, so the signed
    # path still runs (verified against its own public half).
    return provider_base.generate_p256_keypair()


def sendgrid_signing() -> tuple[str, list[str]]:
    """(private key PEM to sign with, public keys to verify against)."""
    configured = [key for key in settings.SENDGRID_WEBHOOK_VERIFICATION_KEY if key]
    private = settings.TIDINGS_SIMULATOR_SENDGRID_KEY
    if private:
        return private, configured or [_public_of(private)]
    own_private, own_public = _own_sendgrid_keypair()
    return own_private, configured or [own_public]


def _public_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def twilio_signing() -> tuple[str, list[str]]:
    """(auth token to sign with, tokens to verify against)."""
    configured = [token for token in settings.TWILIO_AUTH_TOKEN if token]
    if configured:
        return configured[0], configured
    own = hmac.new(settings.SECRET_KEY.encode(), b"simulated twilio", hashlib.sha256).hexdigest()
    return own, [own]


class CallbackRejected(Exception):
    """What the simulator posted does not verify against the configured secret."""


def sendgrid_post(events: list[dict], *, now: datetime) -> tuple[bytes, dict[str, str], str]:
    """(body, headers, url) of a signed SendGrid Event Webhook POST."""
    body = json.dumps(events, separators=(",", ":")).encode()
    private, _ = sendgrid_signing()
    headers = sendgrid.sign(body=body, secret=private, timestamp=int(now.timestamp()))
    headers["Content-Type"] = "application/json"
    return body, headers, settings.TIDINGS_PUBLIC_URL + SENDGRID_URL_PATH


def twilio_post(
    params: dict[str, str], message_id: int, attempt: int | str | None = None
) -> tuple[bytes, dict[str, str], str]:
    url = twilio.callback_url(
        settings.TIDINGS_PUBLIC_URL + TWILIO_URL_PATH, message_id, attempt=attempt
    )
    body = urlencode(params).encode()
    token, _ = twilio_signing()
    headers = twilio.sign(body=body, url=url, secret=token)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return body, headers, url


def _sendgrid_event(callback: dict, at: datetime) -> dict:
    provider_id = callback["id"].split(":", 1)[0]
    fields = {
        key: value
        for key, value in callback.items()
        if key not in ("kind", "message_id", "delay", "id", "at", "event")
    }
    digest = hashlib.sha256(callback["id"].encode()).digest()
    return {
        "email": fields.pop("email", ""),
        # SendGrid dates in whole seconds; rounding up keeps its events after
        # the send that caused them.
        "timestamp": math.ceil(at.timestamp()),
        "event": callback["event"],
        "sg_event_id": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
        "sg_message_id": f"{provider_id}.recvd-simulated-1-{callback['message_id']}-1.0",
        "smtp-id": f"<{provider_id}@ismtpd-simulated>",
        "category": ["tidings"],
        "tidings_message_id": str(callback["message_id"]),
        **fields,
    }


def _twilio_params(callback: dict) -> dict[str, str]:
    sid = callback["id"].split(":", 1)[0]
    account = "AC" + hashlib.md5(b"tidings-simulated", usedforsecurity=False).hexdigest()
    params = {
        "AccountSid": account,
        "ApiVersion": "2010-04-01",
        "From": TWILIO_FROM,
        "MessageSid": sid,
        "MessageStatus": callback["status"],
        "SmsSid": sid,
        "SmsStatus": callback["status"],
        "To": callback.get("to", ""),
    }
    if callback.get("error_code"):
        params["ErrorCode"] = callback["error_code"]
    return params


def callbacks_deliver(callbacks: list[dict], *, now: datetime | None = None) -> int:
    """Posts the callbacks through the providers' verification and parsers and
    applies them (provider events and recipient actions in one batch, then
    goal events through attribution). A callback carries its virtual time in
    "at"; without one it happens now. Returns how many were applied."""
    from messaging.conversions import person_event_record
    from messaging.ingest import apply_events
    from messaging.models import Person

    now = now or timezone.now()
    events: list[Event] = []
    goals: list[tuple[datetime, dict]] = []
    sendgrid_batches: dict[datetime, list[dict]] = defaultdict(list)
    rejected = 0
    for callback in callbacks:
        at = datetime.fromisoformat(callback["at"]) if callback.get("at") else now
        kind = callback["kind"]
        if kind == "sendgrid":
            # One POST per second of events, as SendGrid batches per interval.
            sendgrid_batches[at.replace(microsecond=0)].append(_sendgrid_event(callback, at))
        elif kind == "twilio":
            try:
                events.extend(_through_twilio(callback, at))
            except (provider_base.SignatureError, provider_base.ConfigurationError) as exc:
                rejected += 1
                logger.error("Simulated Twilio callback rejected: %s", exc)
        elif kind == "goal":
            goals.append((at, callback))
        else:
            events.append(_recipient_event(callback, at))
    for at, batch in sendgrid_batches.items():
        try:
            events.extend(_through_sendgrid(batch, at))
        except (provider_base.SignatureError, provider_base.ConfigurationError) as exc:
            rejected += len(batch)
            logger.error("Simulated SendGrid callbacks rejected: %s", exc)
    for start in range(0, len(events), 2000):
        apply_events(events[start : start + 2000])
    if goals:
        people = Person.objects.in_bulk({callback["person_id"] for _, callback in goals})
        for at, callback in sorted(goals, key=lambda item: item[0]):
            person = people.get(callback["person_id"])
            if person is None:
                continue
            person_event_record(
                person=person,
                name=callback["name"],
                occurred_at=at,
                event_id=f"sim-{callback['id']}",
            )
    return len(callbacks) - rejected


def _through_sendgrid(batch: list[dict], at: datetime) -> list[Event]:
    body, headers, url = sendgrid_post(batch, now=at)
    _, public_keys = sendgrid_signing()
    sendgrid.verify(body=body, headers=headers, url=url, secrets=public_keys)
    return sendgrid.parse(body, headers=headers, url=url, received_at=at)


def _through_twilio(callback: dict, at: datetime) -> list[Event]:
    body, headers, url = twilio_post(
        _twilio_params(callback), callback["message_id"], callback.get("tidings_attempt")
    )
    _, tokens = twilio_signing()
    twilio.verify(body=body, headers=headers, url=url, secrets=tokens)
    return twilio.parse(body, headers=headers, url=url, received_at=at)


def _recipient_event(callback: dict, at: datetime) -> Event:
    """What our tracking endpoints and the push SDK's report would record."""
    from messaging.tracking import bots
    from messaging.tracking.views import recipient_event

    kind = callback["kind"]
    agent = callback.get("user_agent", "")
    # The tracking endpoints' own verdict on the user agent.
    machine = bool(agent) and bots.is_bot_user_agent(agent)
    if kind in ("click", "pixel"):
        return recipient_event(
            type=EventType.CLICKED if kind == "click" else EventType.OPENED,
            message_id=callback["message_id"],
            occurred_at=at,
            machine=machine,
            detail={"method": "GET", "user_agent": agent, "simulated": True},
            link_id=callback.get("link_id") if kind == "click" else None,
            key=f"sim-{'click' if kind == 'click' else 'open'}:{callback['id']}",
        )
    if kind == "push_open":
        return Event(
            type=EventType.OPENED,
            occurred_at=at,
            idempotency_key=f"sim-open:{callback['id']}",
            source=Source.API,
            message_id=callback["message_id"],
            detail={"simulated": True},
        )
    raise ValueError(f"Unknown simulated callback kind {kind!r}")
