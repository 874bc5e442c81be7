"""Mailgun webhooks: one JSON {signature, event-data} per POST. The HMAC
covers only timestamp + token, not the event, so:

- the timestamp must be all digits and the token 50 hexadecimal characters
  (what Mailgun sends), so a signed string splits only one way: otherwise
  moving characters from the token into the timestamp turns one captured
  signature into dozens of "new" ones;
- a subaccount's event also carries ``parent-signature``, the same HMAC
  made with the parent account's key: either one made with a configured key
  verifies the block;
- the view keys replays on the signature that verified (signature_of): seen
  before with the same event, a redelivery (200, nothing new); with another
  event, a forgery (403);
- a timestamp older than MAX_AGE (or from the future) is refused, so a
  signature never has to be remembered for longer than that."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from campaigns.vocabulary import BounceType, EventType
from messaging.events import Event

from . import base

PROVIDER = "mailgun"

TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,12}")
TOKEN_PATTERN = re.compile(r"[0-9a-fA-F]{50}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")
# Mailgun retries for 8 hours; whether a retry is signed afresh is
# undocumented, so a day, with CONTRACT.md's 5 minutes of clock skew.
MAX_AGE_SECONDS = 24 * 3600
MAX_SKEW_SECONDS = 300

EVENT_TYPES = {
    "accepted": EventType.ACCEPTED,
    "rejected": EventType.FAILED,
    "delivered": EventType.DELIVERED,
    "opened": EventType.OPENED,
    "clicked": EventType.CLICKED,
    "unsubscribed": EventType.UNSUBSCRIBED,
    "complained": EventType.SPAMMED,
    # "failed" depends on severity and reason (below).
}

# Mailgun refused to try: the address is on one of its suppression lists.
SUPPRESS_REASONS = {
    "suppress-bounce": base.SUPPRESS_HARD_BOUNCE,
    "suppress-complaint": base.SUPPRESS_SPAM_COMPLAINT,
    "suppress-unsubscribe": base.SUPPRESS_UNSUBSCRIBED,
}


def _signature_block(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        # Malformed (400), not unsigned: there is no body to find a signature in.
        raise base.MalformedPayload("the body is not JSON") from exc
    block = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(block, dict):
        raise base.SignatureError("Mailgun signature block is missing")
    return block


def verify(
    *,
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    secrets: list[str],
    now: float | None = None,
) -> None:
    keys = base.require_secrets(secrets)
    block = _signature_block(body)
    timestamp, _, _ = _signed_parts(block)
    age = (time.time() if now is None else now) - int(timestamp)
    if age > MAX_AGE_SECONDS:
        raise base.SignatureError("Mailgun timestamp is more than a day old")
    if age < -MAX_SKEW_SECONDS:
        raise base.SignatureError("Mailgun timestamp is in the future")
    if _verified_signature(block, keys) is None:
        raise base.SignatureError("Mailgun signature does not match")


def _verified_signature(block: dict[str, Any], keys: list[str]) -> str | None:
    """The block's signature, or else its parent-signature, that one of
    ``keys`` made over its timestamp and token; None when neither."""
    timestamp, token, signature = _signed_parts(block)
    candidates = [signature]
    parent = block.get("parent-signature")
    if isinstance(parent, str) and SIGNATURE_PATTERN.fullmatch(parent.lower()):
        candidates.append(parent.lower())
    expected = [_hmac(key, timestamp, token) for key in keys]
    for candidate in candidates:
        if any(base.equal(e, candidate) for e in expected):
            return candidate
    return None


def _signed_parts(block: dict[str, Any]) -> tuple[str, str, str]:
    timestamp, token, signature = (block.get(k) for k in ("timestamp", "token", "signature"))
    if not all(
        isinstance(v, str | int) and not isinstance(v, bool) for v in (timestamp, token, signature)
    ):
        raise base.SignatureError("Mailgun signature block is incomplete")
    timestamp, token, signature = str(timestamp), str(token), str(signature).lower()
    if not TIMESTAMP_PATTERN.fullmatch(timestamp):
        raise base.SignatureError("Mailgun timestamp must be all digits")
    if not TOKEN_PATTERN.fullmatch(token):
        raise base.SignatureError("Mailgun token must be 50 hexadecimal characters")
    if not SIGNATURE_PATTERN.fullmatch(signature):
        raise base.SignatureError("Mailgun signature must be 64 hexadecimal characters")
    return timestamp, token, signature


def _hmac(key: str, timestamp: str, token: str) -> str:
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def signature_of(body: bytes, secrets: list[str]) -> str:
    """The replay key: the HMAC that verified (verify() has checked its form,
    so one signature stands for exactly one timestamp and token). Not a
    subaccount's own signature when its parent-signature verified: nothing
    checks that one, so a replay could change it at will."""
    payload = base.load_json(body)
    block = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(block, dict):
        raise base.MalformedPayload("Mailgun signature is missing")
    try:
        signature = _verified_signature(block, base.require_secrets(secrets))
    except base.SignatureError as exc:
        raise base.MalformedPayload(str(exc)) from exc
    if signature is None:
        raise base.MalformedPayload("Mailgun signature does not match")
    return signature


def event_fingerprint(body: bytes) -> str:
    # Same signature + same fingerprint = a redelivery; same signature + another
    # fingerprint = a forged event riding on a captured signature.
    return base.fingerprint(_event_data(base.load_json(body)))


def signed_body(event_data: dict[str, Any], key: str, *, token: str, timestamp: int) -> bytes:
    signature = {
        "timestamp": str(timestamp),
        "token": token,
        "signature": _hmac(key, str(timestamp), token),
    }
    return json.dumps({"signature": signature, "event-data": event_data}).encode()


def parse(
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "",
    received_at: datetime,
) -> list[Event]:
    # Legacy (pre-2018) form-encoded webhooks are not accepted: they fail here.
    data = _event_data(base.load_json(body))
    name = data.get("event")
    if not isinstance(name, str) or "timestamp" not in data:
        raise base.MalformedPayload("Mailgun event-data needs 'event' and 'timestamp'")

    fields: dict[str, Any] = {}
    reason = ""
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    if name == "failed":
        type_, fields, reason = _failure(data, status)
    else:
        type_ = EVENT_TYPES.get(name, EventType.UNKNOWN)
        if type_ in (EventType.OPENED, EventType.CLICKED):
            client = data.get("client-info") if isinstance(data.get("client-info"), dict) else {}
            # "bot" names the machine (e.g. an image proxy) and is empty otherwise.
            fields["machine"] = bool(client.get("bot"))
            if type_ == EventType.CLICKED:
                fields["link_url"] = str(data.get("url") or "")
        elif type_ == EventType.UNSUBSCRIBED:
            fields["suppression"] = base.SUPPRESS_UNSUBSCRIBED
        elif type_ == EventType.SPAMMED:
            fields["suppression"] = base.SUPPRESS_SPAM_COMPLAINT
        elif name == "rejected":
            reject = data.get("reject") if isinstance(data.get("reject"), dict) else {}
            reason = str(reject.get("reason") or reject.get("description") or "rejected")
        elif type_ == EventType.UNKNOWN:
            reason = f"Mailgun event {name!r}"

    occurred_at = base.from_unix(data["timestamp"])
    return [
        base.provider_event(
            PROVIDER,
            type=type_,
            occurred_at=occurred_at,
            idempotency_key=_idempotency_key(data, name, occurred_at),
            detail=data,
            message_id=base.our_message_id(_user_variables(data).get("tidings_message_id")),
            attempt=base.our_attempt(_user_variables(data).get("tidings_attempt")),
            provider_message_id=_provider_message_id(data),
            reason=reason[:500],
            **fields,
        )
    ]


def _idempotency_key(data: dict[str, Any], name: str, occurred_at: datetime) -> str:
    event_id = data.get("id")
    if not event_id:
        return f"mailgun:sha256:{base.fingerprint(data)}"
    # The id is unique only within a day, and one message's events may share
    # it (PROVIDERS.md §4.2): key on what tells them apart too. Not the
    # recipient, which PROVIDERS.md adds: keys are per message, which has one,
    # and a key must hold nothing that erase would have to redact.
    parts = [str(event_id), name, str(int(occurred_at.timestamp()))]
    key = "mailgun:" + ":".join(parts)
    return key if len(key) <= 255 else f"mailgun:sha256:{base.fingerprint(parts)}"


def _event_data(payload: Any) -> dict[str, Any]:
    data = payload.get("event-data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise base.MalformedPayload("Mailgun body has no 'event-data' object")
    return data


def _failure(data: dict[str, Any], status: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    severity = str(data.get("severity") or "").lower()
    why = str(data.get("reason") or "").lower()
    message = str(status.get("description") or status.get("message") or "")
    code = status.get("code")
    reason = " ".join(str(p) for p in (code, message or why) if p) or "failed"
    if severity == "temporary":
        # Mailgun keeps retrying; a later event decides.
        return EventType.DEFERRED, {}, reason
    if why in SUPPRESS_REASONS:
        return EventType.SUPPRESSED, {"suppression": SUPPRESS_REASONS[why]}, reason
    bounce_kind = str(status.get("bounce-type") or "").lower()
    hard = {"bounce_type": BounceType.HARD, "suppression": base.SUPPRESS_HARD_BOUNCE}
    soft = {"bounce_type": BounceType.SOFT}
    if bounce_kind == "soft" or why == "old":
        # "old": retries exhausted without a permanent verdict.
        return EventType.BOUNCED, soft, reason
    if why == "bounce" or bounce_kind == "hard":
        return EventType.BOUNCED, hard, reason
    # generic, espblock and anything new: a 5xx from the receiver is a hard
    # bounce, anything else is Mailgun failing the message.
    if str(code).startswith("5"):
        return EventType.BOUNCED, hard, reason
    return EventType.FAILED, {}, reason


def _user_variables(data: dict[str, Any]) -> dict[str, Any]:
    # Mailgun serialises empty user-variables as [] in some payloads.
    variables = data.get("user-variables")
    return variables if isinstance(variables, dict) else {}


def _provider_message_id(data: dict[str, Any]) -> str:
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    return str(headers.get("message-id") or "").strip().strip("<>")
