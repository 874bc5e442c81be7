"""Twilio message status callbacks: one form-encoded status change per POST,
signed over the public URL (our id rides in its query) plus the params."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from campaigns.vocabulary import BounceType, EventType
from messaging.events import Event

from . import base

PROVIDER = "twilio"
MESSAGE_ID_PARAM = "tidings_message_id"
ATTEMPT_PARAM = "tidings_attempt"

STATUS_TYPES = {
    # Twilio (or the carrier) took the message; our own "sent" bears the status.
    "accepted": EventType.ACCEPTED,
    "scheduled": EventType.ACCEPTED,
    "queued": EventType.ACCEPTED,
    "sending": EventType.ACCEPTED,
    "sent": EventType.ACCEPTED,
    "delivered": EventType.DELIVERED,
    "partially_delivered": EventType.DELIVERED,
    "undelivered": EventType.BOUNCED,
    "failed": EventType.FAILED,
    "canceled": EventType.FAILED,
    # WhatsApp/RCS read receipts; ingest refuses opens on SMS, we map faithfully.
    "read": EventType.OPENED,
}

# The number itself is bad (unknown handset, landline/unreachable carrier);
# other undelivered codes may succeed on a later message.
HARD_BOUNCE_CODES = {"30005", "30006"}
OPTED_OUT_CODE = "21610"

ERROR_MEANINGS = {
    "21610": "recipient opted out",
    "21211": "invalid 'To' number",
    "21408": "region not enabled",
    "21614": "'To' number is not a mobile number",
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by carrier",
    "30008": "unknown error",
    "30034": "message from an unregistered 10DLC number",
}


class _Form(dict[str, list[str]]):
    # RequestValidator reads multi-valued params through getlist().
    def getlist(self, name: str) -> list[str]:
        return self[name]


def _form(body: bytes) -> _Form:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Malformed (400), not unsigned: Twilio signs the decoded parameters,
        # and these bytes decode to none.
        raise base.MalformedPayload("Twilio body is not UTF-8 form data") from exc
    # Blank values are signed too (name + ""), so keep them.
    return _Form(parse_qs(text, keep_blank_values=True))


def verify(*, body: bytes, headers: Mapping[str, str], url: str, secrets: list[str]) -> None:
    tokens = base.require_secrets(secrets)
    params = _form(body)
    signature = base.header(headers, SIGNATURE_HEADER)
    if not signature:
        raise base.SignatureError("X-Twilio-Signature is missing")
    algorithm = get_signature_algorithm(base.header(headers, SIGNATURE_SETTINGS_HEADER))
    # A "#rc=…" connection-override fragment is never sent, so never signed.
    public_url = url.split("#", 1)[0]
    for token in tokens:
        # validate() also tries the URL with and without an explicit port,
        # since Twilio's backend is inconsistent about it.
        if RequestValidator(token).validate(public_url, params, signature, algorithm=algorithm):
            return
    raise base.SignatureError("X-Twilio-Signature does not match")


def sign(*, body: bytes, url: str, secret: str, algorithm: str | None = None) -> dict[str, str]:
    signature = RequestValidator(secret).compute_signature(
        url.split("#", 1)[0], _form(body), algorithm
    )
    headers = {SIGNATURE_HEADER: signature}
    if algorithm:
        headers[SIGNATURE_SETTINGS_HEADER] = f"key=tidings,algorithm={algorithm}"
    return headers


def callback_url(base_url: str, message_id: int, attempt: int | str | None = None) -> str:
    separator = "&" if "?" in base_url else "?"
    url = f"{base_url}{separator}{MESSAGE_ID_PARAM}={message_id}"
    return f"{url}&{ATTEMPT_PARAM}={attempt}" if attempt else url


def parse(
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "",
    received_at: datetime,
) -> list[Event]:
    params = _form(body)
    detail: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in params.items()}
    sid = _first(params, "MessageSid") or _first(params, "SmsSid")
    status = (_first(params, "MessageStatus") or _first(params, "SmsStatus")).lower()
    if not sid or not status:
        raise base.MalformedPayload("Twilio callback without MessageSid or MessageStatus")

    type_ = STATUS_TYPES.get(status, EventType.UNKNOWN)
    code = _first(params, "ErrorCode")
    fields: dict[str, Any] = {}
    reason = ""
    if status == "undelivered" and code == OPTED_OUT_CODE:
        # The recipient replied STOP: the number is fine, so not a bounce;
        # PROVIDERS.md fails an opt-out with that reason whichever status says it.
        type_ = EventType.FAILED
        reason = _error_reason(code, params)
    elif status == "undelivered":
        # SMS has no suppression list (DESIGN.md), so a hard bounce suppresses nothing.
        fields["bounce_type"] = BounceType.HARD if code in HARD_BOUNCE_CODES else BounceType.SOFT
        reason = _error_reason(code, params) or "undelivered"
    elif status == "failed":
        reason = _error_reason(code, params) or "failed"
    elif status == "canceled":
        reason = "canceled"
    elif status == "partially_delivered":
        reason = "partially delivered"
    elif type_ == EventType.UNKNOWN:
        reason = f"Twilio status {status!r}"

    # Twilio sends no event time. RawDlrDoneDate has no timezone (carriers
    # often use local time) and minute precision, so it stays in the detail
    # rather than risk putting a delivery hours away from the truth.
    return [
        base.provider_event(
            PROVIDER,
            type=type_,
            occurred_at=received_at,
            # Not I-Twilio-Idempotency-Token: a retry may carry a new one.
            idempotency_key=f"twilio:{sid}:{status}",
            detail=detail,
            message_id=_message_id_from_url(url),
            attempt=_attempt_from_url(url),
            provider_message_id=sid,
            reason=reason,
            **fields,
        )
    ]


def _first(params: Mapping[str, list[str]], name: str) -> str:
    values = params.get(name)
    return values[0].strip() if values else ""


def _error_reason(code: str, params: Mapping[str, list[str]]) -> str:
    if code == OPTED_OUT_CODE:
        return ERROR_MEANINGS[OPTED_OUT_CODE]
    if not code:
        return ""
    meaning = ERROR_MEANINGS.get(code) or _first(params, "ErrorMessage")
    return f"{code} {meaning}" if meaning else f"error {code}"


def _message_id_from_url(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get(MESSAGE_ID_PARAM)
    return base.our_message_id(values[0]) if values else None


def _attempt_from_url(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get(ATTEMPT_PARAM)
    return base.our_attempt(values[0]) if values else None
