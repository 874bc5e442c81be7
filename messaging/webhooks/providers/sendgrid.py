"""SendGrid Event Webhook: a signed JSON array of events for many messages."""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from campaigns.vocabulary import BounceType, EventType
from messaging.events import Event

from . import base

logger = logging.getLogger(__name__)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

EVENT_TYPES = {
    "processed": EventType.ACCEPTED,
    "deferred": EventType.DEFERRED,
    "delivered": EventType.DELIVERED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "spamreport": EventType.SPAMMED,
    "unsubscribe": EventType.UNSUBSCRIBED,
    "group_unsubscribe": EventType.UNSUBSCRIBED,
    # A resubscribe changes no message status; it is kept as history and
    # resubscribes the person.
    "group_resubscribe": EventType.UNKNOWN,
    # "bounce" and "dropped" depend on their type/reason (below).
}

# Drop reasons that are SendGrid's own suppression lists; every other drop
# reason (Invalid, Spam Content, Invalid SMTPAPI header, quota…) is a failure.
DROP_SUPPRESSIONS = {
    "bounced address": base.SUPPRESS_HARD_BOUNCE,
    "spam reporting address": base.SUPPRESS_SPAM_COMPLAINT,
    "unsubscribed address": base.SUPPRESS_UNSUBSCRIBED,
}

# Events about the account rather than a message.
ACCOUNT_EVENTS = {"account_status_change"}


@lru_cache(maxsize=16)
def _public_key(secret: str) -> ec.EllipticCurvePublicKey:
    try:
        raw = "".join(secret.split())
        if raw.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(secret.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(raw, validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise base.ConfigurationError("SendGrid verification key does not load") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise base.ConfigurationError("SendGrid verification key is not an EC key")
    return key


def verify(*, body: bytes, headers: Mapping[str, str], url: str, secrets: list[str]) -> None:
    keys = [_public_key(s) for s in base.require_secrets(secrets)]
    signature = base.header(headers, SIGNATURE_HEADER)
    timestamp = base.header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise base.SignatureError("SendGrid signature headers are missing")
    if not (timestamp.isascii() and timestamp.isdigit()):
        # Timestamp and body are signed with no separator: only digits keep
        # the characters of one from moving into the other.
        raise base.SignatureError("SendGrid timestamp must be all digits")
    try:
        der_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise base.SignatureError("SendGrid signature is not base64") from exc
    # SendGrid signs the timestamp header and the raw body with no separator.
    # No age limit: retries come for 24 h and whether they are re-signed is
    # undocumented; sg_event_id dedup is the replay defence.
    signed = timestamp.encode() + body
    for key in keys:
        try:
            key.verify(der_signature, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        return
    raise base.SignatureError("SendGrid signature does not match")


def sign(
    *,
    body: bytes,
    url: str = "",
    secret: str,
    timestamp: int | str | None = None,
) -> dict[str, str]:
    key = serialization.load_pem_private_key(secret.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise base.ConfigurationError("SendGrid signing key must be an EC private key")
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: ts}


def provider_message_id(sg_message_id: str) -> str:
    # sg_message_id = "<X-Message-Id of the send call>.<filter>.<…>"
    return sg_message_id.split(".", 1)[0]


def parse(
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "",
    received_at: datetime,
) -> list[Event]:
    payload = base.load_json(body)
    if not isinstance(payload, list):
        raise base.MalformedPayload("SendGrid posts a JSON array of events")
    events = []
    for raw in payload:
        event = _event(raw)
        if event is not None:
            events.append(event)
    return events


def _event(raw: Any) -> Event | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        raise base.MalformedPayload("each SendGrid event is an object with an 'event'")
    name = raw["event"]
    message_id = base.our_message_id(raw.get("tidings_message_id"))
    sg_message_id = raw.get("sg_message_id")
    sg_message_id = sg_message_id if isinstance(sg_message_id, str) else ""
    if name in ACCOUNT_EVENTS:
        # About the account (a compliance suspension…), not a message: nothing
        # to store per message, but someone has to hear of it.
        logger.warning("SendGrid account event %s: %r", name, raw.get("type"))
        return None
    if message_id is None and not sg_message_id:
        return None
    if "timestamp" not in raw:
        raise base.MalformedPayload("SendGrid event without a timestamp")

    fields: dict[str, Any] = {}
    reason = ""
    if name == "bounce":
        kind = str(raw.get("type") or "bounce").lower()
        type_ = EventType.BOUNCED
        reason = _bounce_reason(raw)
        if kind == "bounce":
            fields.update(bounce_type=BounceType.HARD, suppression=base.SUPPRESS_HARD_BOUNCE)
        else:
            # "blocked" (the receiver refused for now: reputation, content)
            # and "expired" (retries exhausted) suppress nothing.
            fields["bounce_type"] = BounceType.SOFT
    elif name == "dropped":
        reason = str(raw.get("reason") or raw.get("type") or "dropped")
        suppression = DROP_SUPPRESSIONS.get(reason.strip().lower())
        if suppression:
            type_ = EventType.SUPPRESSED
            fields["suppression"] = suppression
        else:
            type_ = EventType.FAILED
    else:
        type_ = EVENT_TYPES.get(name, EventType.UNKNOWN)
        if type_ == EventType.OPENED:
            fields["machine"] = raw.get("sg_machine_open") in (True, "true", "True", 1)
        elif type_ == EventType.CLICKED:
            fields["link_url"] = str(raw.get("url") or "")
        elif type_ == EventType.UNSUBSCRIBED:
            fields["suppression"] = base.SUPPRESS_UNSUBSCRIBED
        elif type_ == EventType.SPAMMED:
            fields["suppression"] = base.SUPPRESS_SPAM_COMPLAINT
        elif name == "group_resubscribe":
            fields["suppression"] = base.RESUBSCRIBED
        if name == "deferred":
            reason = str(raw.get("response") or raw.get("reason") or "")
        elif type_ == EventType.UNKNOWN:
            reason = f"SendGrid event {name!r}"

    sg_event_id = raw.get("sg_event_id")
    key = f"sendgrid:{sg_event_id}" if sg_event_id else f"sendgrid:sha256:{base.fingerprint(raw)}"
    return base.provider_event(
        PROVIDER,
        type=type_,
        occurred_at=base.from_unix(raw["timestamp"]),
        idempotency_key=key,
        detail=raw,
        message_id=message_id,
        attempt=base.our_attempt(raw.get("tidings_attempt")),
        provider_message_id=provider_message_id(sg_message_id),
        reason=reason[:500],
        **fields,
    )


def _bounce_reason(raw: dict[str, Any]) -> str:
    parts = [str(raw[k]) for k in ("status", "reason") if raw.get(k)]
    if raw.get("bounce_classification"):
        parts.append(f"({raw['bounce_classification']})")
    return " ".join(parts) or "bounced"
