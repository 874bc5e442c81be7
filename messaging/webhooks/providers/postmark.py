"""Postmark webhooks: one JSON record per POST, routed by RecordType.
Postmark signs nothing; the webhook is configured with HTTP basic auth."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from campaigns.vocabulary import BounceType, EventType
from messaging.events import Event

from . import base

PROVIDER = "postmark"
# The same on every retry of one delivery (PROVIDERS.md §5.4). Only a plain
# one is used: the inbox stores headers cleaned, and a replay re-parses those.
TRACE_HEADER = "X-PM-Webhook-Trace-Id"
TRACE_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,200}")

HARD = {"bounce_type": BounceType.HARD, "suppression": base.SUPPRESS_HARD_BOUNCE}
SOFT = {"bounce_type": BounceType.SOFT}

# Bounce records by Type (the string; TypeCode is inconsistent in Postmark's
# own examples). Informational types change no status and stay as history.
BOUNCE_TYPES: dict[str, tuple[str, dict[str, str]]] = {
    "HardBounce": (EventType.BOUNCED, HARD),
    "SoftBounce": (EventType.BOUNCED, SOFT),
    "DnsError": (EventType.BOUNCED, SOFT),
    # Content or reputation refusals: the address itself is fine.
    "Blocked": (EventType.BOUNCED, SOFT),
    "SpamNotification": (EventType.BOUNCED, SOFT),
    "DMARCPolicy": (EventType.BOUNCED, SOFT),
    "Transient": (EventType.DEFERRED, {}),
    "BadEmailAddress": (EventType.FAILED, {}),
    "VirusNotification": (EventType.FAILED, {}),
    "SMTPApiError": (EventType.FAILED, {}),
    "TemplateRenderingFailed": (EventType.FAILED, {}),
    # Postmark refused to send to an address it had deactivated.
    # It also adds our own entry, as every provider suppression verdict does.
    "ManuallyDeactivated": (EventType.SUPPRESSED, {"suppression": base.SUPPRESS_MANUAL}),
    "Unconfirmed": (EventType.SUPPRESSED, {}),
    "Unsubscribe": (EventType.UNSUBSCRIBED, {"suppression": base.SUPPRESS_UNSUBSCRIBED}),
    "SpamComplaint": (EventType.SPAMMED, {"suppression": base.SUPPRESS_SPAM_COMPLAINT}),
    "AutoResponder": (EventType.UNKNOWN, {}),
    "AddressChange": (EventType.UNKNOWN, {}),
    "ChallengeVerification": (EventType.UNKNOWN, {}),
    "OpenRelayTest": (EventType.UNKNOWN, {}),
    "Subscribe": (EventType.UNKNOWN, {}),
    "Unknown": (EventType.UNKNOWN, {}),
    "InboundError": (EventType.UNKNOWN, {}),
}

# The record's own time field, also part of the natural idempotency key.
TIME_FIELDS = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}
TIME_FALLBACK = ("DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt")


def _credentials(secret: str) -> tuple[str, str]:
    user, sep, password = secret.partition(":")
    if not sep:
        raise base.ConfigurationError("POSTMARK_WEBHOOK_AUTH must be 'user:password'")
    return user, password


def verify(*, body: bytes, headers: Mapping[str, str], url: str, secrets: list[str]) -> None:
    expected = [_credentials(s) for s in base.require_secrets(secrets)]
    authorization = base.header(headers, "Authorization") or ""
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise base.SignatureError("Postmark basic auth is missing")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise base.SignatureError("Postmark basic auth is not base64") from exc
    user, _, password = decoded.partition(":")
    matched = False
    for expected_user, expected_password in expected:
        # Compare both halves every time, so timing says nothing about which failed.
        user_ok = base.equal(user, expected_user)
        password_ok = base.equal(password, expected_password)
        matched |= user_ok and password_ok
    if not matched:
        raise base.SignatureError("Postmark basic auth credentials are wrong")


def sign(*, body: bytes = b"", url: str = "", secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()}


def parse(
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "",
    received_at: datetime,
) -> list[Event]:
    record = base.load_json(body)
    if not isinstance(record, dict) or not isinstance(record.get("RecordType"), str):
        raise base.MalformedPayload("Postmark record needs a 'RecordType'")
    record_type = record["RecordType"]
    metadata = record.get("Metadata") if isinstance(record.get("Metadata"), dict) else {}
    message_id = base.our_message_id(metadata.get("tidings_message_id"))
    postmark_id = str(record.get("MessageID") or "")
    if message_id is None and not postmark_id:
        # A suppression an admin made in Postmark's UI names no message.
        return []

    type_, fields, reason = _classify(record_type, record)
    time_field = TIME_FIELDS.get(record_type) or next(
        (f for f in TIME_FALLBACK if record.get(f)), ""
    )
    raw_time = record.get(time_field) if time_field else None
    occurred_at = base.from_iso(raw_time) if raw_time else received_at
    return [
        base.provider_event(
            PROVIDER,
            type=type_,
            occurred_at=occurred_at,
            idempotency_key=_idempotency_key(
                record_type, postmark_id, raw_time, record, base.header(headers, TRACE_HEADER)
            ),
            detail=record,
            message_id=message_id,
            attempt=base.our_attempt(metadata.get("tidings_attempt")),
            provider_message_id=postmark_id,
            reason=reason[:500],
            **fields,
        )
    ]


def _classify(record_type: str, record: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    if record_type == "Delivery":
        return EventType.DELIVERED, {}, ""
    if record_type == "Open":
        return EventType.OPENED, {}, ""
    if record_type == "Click":
        return EventType.CLICKED, {"link_url": str(record.get("OriginalLink") or "")}, ""
    if record_type == "SpamComplaint":
        fields = {"suppression": base.SUPPRESS_SPAM_COMPLAINT}
        return EventType.SPAMMED, fields, _bounce_reason(record)
    if record_type == "Bounce":
        kind = str(record.get("Type") or "Unknown")
        type_, fields = BOUNCE_TYPES.get(kind, (EventType.UNKNOWN, {}))
        return type_, dict(fields), _bounce_reason(record)
    if record_type == "SubscriptionChange":
        return _subscription_change(record)
    return EventType.UNKNOWN, {}, f"Postmark record {record_type!r}"


def _subscription_change(record: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    why = str(record.get("SuppressionReason") or "")
    if not record.get("SuppressSending"):
        # Reactivation: changes no message status; resubscribes the person.
        return (
            EventType.UNKNOWN,
            {"suppression": base.RESUBSCRIBED},
            "Postmark reactivated the address",
        )
    if why == "ManualSuppression":
        # A recipient's unsubscribe (or a customer's manual suppression).
        return EventType.UNSUBSCRIBED, {"suppression": base.SUPPRESS_UNSUBSCRIBED}, why
    # HardBounce / SpamComplaint: the Bounce or SpamComplaint record bears the
    # message status; this one only repeats the address-level verdict.
    suppression = {
        "HardBounce": base.SUPPRESS_HARD_BOUNCE,
        "SpamComplaint": base.SUPPRESS_SPAM_COMPLAINT,
    }.get(why, "")
    fields = {"suppression": suppression} if suppression else {}
    return EventType.UNKNOWN, fields, f"Postmark suppressed the address: {why or 'unknown'}"


def _bounce_reason(record: dict[str, Any]) -> str:
    parts = [str(record[k]) for k in ("Type", "Details") if record.get(k)]
    return ": ".join(parts) or str(record.get("Description") or "")


def _idempotency_key(
    record_type: str, postmark_id: str, raw_time: Any, record: dict[str, Any], trace_id: str | None
) -> str:
    # Postmark has no event id except the Bounce/SpamComplaint ID; otherwise
    # the trace id of the delivery, and without one a natural key that a
    # retry reproduces (it cannot tell apart two opens in the same instant).
    if record.get("ID") is not None and record_type in ("Bounce", "SpamComplaint"):
        return f"postmark:{record_type}:{postmark_id}:{record['ID']}"
    if trace_id and TRACE_ID_PATTERN.fullmatch(trace_id):
        return f"postmark:{record_type}:trace:{trace_id}"
    parts = [record_type, postmark_id, str(raw_time or "")]
    if record_type == "Click":
        parts.append(str(record.get("OriginalLink") or ""))
    elif record_type == "SubscriptionChange":
        parts.append("suppress" if record.get("SuppressSending") else "reactivate")
    return "postmark:" + ":".join(parts)
