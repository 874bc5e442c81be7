"""Amazon SES events through SNS: an SNS envelope (signed, v1 SHA1withRSA or
v2 SHA256withRSA) whose Message is the SES event as a JSON string."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from campaigns.vocabulary import BounceType, EventType
from config.outbound import OutboundRefused, outbound_url_check
from messaging.events import Event

from . import base

PROVIDER = "ses"
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
CERT_FETCH_TIMEOUT = 5

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The canonical string's fields, in AWS's fixed order; absent ones are skipped.
SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
SIGNED_FIELDS[UNSUBSCRIBE_CONFIRMATION] = SIGNED_FIELDS[SUBSCRIPTION_CONFIRMATION]
SIGNATURE_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}

# SES sends this Notification right after a subscription is confirmed.
VALIDATION_MESSAGE = "Successfully validated SNS topic for Amazon SES event publishing."
# Identity notifications announce themselves the same way.
NOT_EVENTS = {"AmazonSnsSubscriptionSucceeded"}

# eventType → the key of its detail object ("Rendering Failure" breaks the pattern).
DETAIL_KEYS = {
    "Send": "send",
    "Reject": "reject",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
}

# SES did not even try: the address is on the account's (or SES's global)
# suppression list.
SUPPRESSED_SUBTYPES = {"Suppressed", "OnAccountSuppressionList"}

# Signing certificates by normalised URL, least recently used first out: SNS
# uses a handful, so a bound stops a forger from growing the cache with
# variants of one URL (or many URLs) while costing a genuine sender nothing.
_certificates: dict[str, x509.Certificate] = {}
_certificates_lock = threading.Lock()
CERTIFICATE_CACHE_SIZE = 32


def certificate_key(url: str) -> str:
    """The URL as fetched: lower-case scheme and host (they are
    case-insensitive), the path as given, no port, query or fragment."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{parts.path}"


def _cache_get(key: str) -> x509.Certificate | None:
    with _certificates_lock:
        cert = _certificates.pop(key, None)
        if cert is not None:
            _certificates[key] = cert  # now the most recently used
        return cert


def _cache_put(key: str, cert: x509.Certificate) -> None:
    with _certificates_lock:
        _certificates.pop(key, None)
        _certificates[key] = cert
        while len(_certificates) > CERTIFICATE_CACHE_SIZE:
            _certificates.pop(next(iter(_certificates)))


def register_certificate(url: str, pem: bytes | str) -> None:
    cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    _cache_put(certificate_key(url), cert)


def load_certificate(url: str) -> x509.Certificate:
    _check_sns_url(url, what="SigningCertURL", suffix=".pem")
    key = certificate_key(url)
    cert = _cache_get(key)
    if cert is not None:
        return cert
    try:
        outbound_url_check(key)
    except OutboundRefused as exc:
        raise base.SignatureError(f"SigningCertURL refused: {exc}") from exc
    try:
        response = requests.get(key, timeout=CERT_FETCH_TIMEOUT)
        response.raise_for_status()
    except requests.HTTPError as exc:
        status = getattr(exc.response, "status_code", None) or 0
        if status < 500:
            # Amazon has no such certificate: a forged SigningCertURL.
            raise base.SignatureError(f"no SNS signing certificate at {url}: {exc}") from exc
        raise base.TemporarilyUnavailable(
            f"cannot fetch the SNS signing certificate: {exc}"
        ) from exc
    except requests.RequestException as exc:
        # Our network or Amazon's side: SNS retries a 5xx, never a 4xx.
        raise base.TemporarilyUnavailable(
            f"cannot fetch the SNS signing certificate: {exc}"
        ) from exc
    try:
        cert = x509.load_pem_x509_certificate(response.content)
    except ValueError as exc:
        raise base.SignatureError(f"cannot load the SNS signing certificate: {exc}") from exc
    _cache_put(key, cert)
    return cert


def _check_sns_url(url: Any, *, what: str, suffix: str = "") -> None:
    # Only an https URL on an SNS host: anything else would let a forger
    # point us at their own certificate (or make us fetch an arbitrary URL).
    if not isinstance(url, str):
        raise base.SignatureError(f"{what} is missing")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise base.SignatureError(f"{what} has a bad port") from exc
    if (
        parts.scheme != "https"
        or parts.username is not None
        or port not in (None, 443)
        or not SNS_HOST.match(parts.hostname or "")
        or not parts.path.endswith(suffix)
    ):
        raise base.SignatureError(f"{what} is not an SNS https URL: {url!r}")


def _string_to_sign(envelope: dict[str, Any]) -> bytes:
    fields = SIGNED_FIELDS.get(str(envelope.get("Type")))
    if fields is None:
        raise base.SignatureError(f"unknown SNS message type {envelope.get('Type')!r}")
    lines = []
    for name in fields:
        value = envelope.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise base.SignatureError(f"SNS field {name} is not a string")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def verify(*, body: bytes, headers: Mapping[str, str], url: str, secrets: list[str]) -> None:
    topics = base.require_secrets(secrets)
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        # Malformed (400), not unsigned: there is no envelope to verify.
        raise base.MalformedPayload("the SNS body is not JSON") from exc
    if not isinstance(envelope, dict) or envelope.get("Type") not in SIGNED_FIELDS:
        raise base.SignatureError("not an SNS envelope")
    for header_name, field in (
        ("x-amz-sns-message-type", "Type"),
        ("x-amz-sns-message-id", "MessageId"),
        ("x-amz-sns-topic-arn", "TopicArn"),
    ):
        value = base.header(headers, header_name)
        if value is not None and value != envelope.get(field):
            raise base.SignatureError(f"{header_name} disagrees with the envelope's {field}")
    # A valid signature only proves that *some* SNS topic sent it.
    if envelope.get("TopicArn") not in topics:
        raise base.SignatureError(f"SNS topic {envelope.get('TopicArn')!r} is not ours")
    algorithm = SIGNATURE_HASHES.get(str(envelope.get("SignatureVersion")))
    if algorithm is None:
        raise base.SignatureError("unknown SNS SignatureVersion")
    cert_url = envelope.get("SigningCertURL")
    _check_sns_url(cert_url, what="SigningCertURL", suffix=".pem")
    try:
        signature = base64.b64decode(str(envelope.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise base.SignatureError("SNS Signature is not base64") from exc
    if not signature:
        raise base.SignatureError("SNS Signature is missing")
    public_key = load_certificate(cert_url).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise base.SignatureError("SNS signing certificate is not RSA")
    try:
        public_key.verify(signature, _string_to_sign(envelope), padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise base.SignatureError("SNS signature does not match") from exc


def sign_envelope(
    envelope: dict[str, Any],
    private_key_pem: str | bytes,
    cert_url: str,
    version: str = "1",
) -> dict[str, Any]:
    key = serialization.load_pem_private_key(
        private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem,
        password=None,
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise base.ConfigurationError("SNS signing key must be RSA")
    version = str(version)
    if version not in SIGNATURE_HASHES:
        raise ValueError(f"SNS SignatureVersion is 1 or 2, not {version!r}")
    signed = {**envelope, "SignatureVersion": version, "SigningCertURL": cert_url}
    signature = key.sign(_string_to_sign(signed), padding.PKCS1v15(), SIGNATURE_HASHES[version]())
    signed["Signature"] = base64.b64encode(signature).decode()
    return signed


def sns_headers(envelope: Mapping[str, Any]) -> dict[str, str]:
    headers = {
        "x-amz-sns-message-type": str(envelope["Type"]),
        "x-amz-sns-message-id": str(envelope["MessageId"]),
        "x-amz-sns-topic-arn": str(envelope["TopicArn"]),
        "Content-Type": "text/plain; charset=UTF-8",
    }
    return headers


def _envelope(body: bytes) -> dict[str, Any]:
    envelope = base.load_json(body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Type"), str):
        raise base.MalformedPayload("not an SNS envelope")
    return envelope


def subscribe_url(body: bytes) -> str | None:
    envelope = _envelope(body)
    if envelope["Type"] != SUBSCRIPTION_CONFIRMATION:
        return None
    url = envelope.get("SubscribeURL")
    try:
        _check_sns_url(url, what="SubscribeURL")
    except base.SignatureError as exc:
        raise base.MalformedPayload(str(exc)) from exc
    return url


def parse(
    body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "",
    received_at: datetime,
) -> list[Event]:
    envelope = _envelope(body)
    if envelope["Type"] in (SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION):
        return []
    if envelope["Type"] != NOTIFICATION:
        raise base.MalformedPayload(f"unknown SNS message type {envelope['Type']!r}")
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise base.MalformedPayload("SNS Message must be a string")
    if message.strip() == VALIDATION_MESSAGE:
        return []
    try:
        ses = json.loads(message)
    except ValueError as exc:
        raise base.MalformedPayload("SNS Message is not an SES event") from exc
    if not isinstance(ses, dict):
        raise base.MalformedPayload("SNS Message is not an SES event")
    # Event publishing says eventType; identity notifications notificationType.
    event_type = ses.get("eventType") or ses.get("notificationType")
    if event_type in NOT_EVENTS:
        return []
    mail = ses.get("mail")
    if not isinstance(event_type, str) or not isinstance(mail, dict) or not mail.get("messageId"):
        raise base.MalformedPayload("SES event needs eventType and mail.messageId")

    detail_key = DETAIL_KEYS.get(event_type, event_type[:1].lower() + event_type[1:])
    obj = ses.get(detail_key) if isinstance(ses.get(detail_key), dict) else {}
    type_, fields, reason = _classify(event_type, obj)
    raw_time = obj.get("timestamp") or mail.get("timestamp") or envelope.get("Timestamp")
    occurred_at = base.from_iso(raw_time) if raw_time else received_at

    ses_message_id = str(mail["messageId"])
    key_parts = ["ses", event_type, ses_message_id, str(raw_time or envelope.get("MessageId"))]
    if obj.get("feedbackId"):
        key_parts.append(str(obj["feedbackId"]))
    if event_type == "Click":
        key_parts.append(str(obj.get("link") or ""))
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    return [
        base.provider_event(
            PROVIDER,
            type=type_,
            occurred_at=occurred_at,
            idempotency_key=":".join(key_parts),
            detail=ses,
            # Message tags arrive as lists of values.
            message_id=base.our_message_id(tags.get("tidings_message_id")),
            attempt=base.our_attempt(tags.get("tidings_attempt")),
            provider_message_id=ses_message_id,
            reason=reason[:500],
            **fields,
        )
    ]


def _classify(event_type: str, obj: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    if event_type == "Send":
        return EventType.ACCEPTED, {}, ""
    if event_type == "Delivery":
        return EventType.DELIVERED, {}, ""
    if event_type == "Open":
        return EventType.OPENED, {}, ""
    if event_type == "Click":
        return EventType.CLICKED, {"link_url": str(obj.get("link") or "")}, ""
    if event_type == "Reject":
        return EventType.FAILED, {}, str(obj.get("reason") or "rejected")
    if event_type == "Rendering Failure":
        return EventType.FAILED, {}, str(obj.get("errorMessage") or "rendering failure")
    if event_type == "DeliveryDelay":
        return (
            EventType.DEFERRED,
            {},
            _recipients_reason(
                str(obj.get("delayType") or "delayed"), obj.get("delayedRecipients")
            ),
        )
    if event_type == "Bounce":
        return _bounce(obj)
    if event_type == "Complaint":
        return _complaint(obj)
    if event_type == "Subscription":
        return _subscription(obj)
    return EventType.UNKNOWN, {}, f"SES event {event_type!r}"


def _bounce(obj: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    kind = str(obj.get("bounceType") or "Undetermined")
    subtype = str(obj.get("bounceSubType") or "Undetermined")
    reason = _recipients_reason(f"{kind}/{subtype}", obj.get("bouncedRecipients"))
    if kind == "Permanent" and subtype in SUPPRESSED_SUBTYPES:
        # SES's list does not say whether a bounce or a complaint put the
        # address there; it reports it as a permanent bounce, so take that.
        return EventType.SUPPRESSED, {"suppression": base.SUPPRESS_HARD_BOUNCE}, reason
    if kind == "Permanent":
        fields = {"bounce_type": BounceType.HARD, "suppression": base.SUPPRESS_HARD_BOUNCE}
        return EventType.BOUNCED, fields, reason
    # Transient is final too (SES publishes only bounces it stopped retrying);
    # Undetermined is treated as soft so it suppresses nothing.
    return EventType.BOUNCED, {"bounce_type": BounceType.SOFT}, reason


def _complaint(obj: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    feedback = str(obj.get("complaintFeedbackType") or "")
    reason = f"complaint: {feedback}" if feedback else "complaint"
    if obj.get("complaintSubType") == "OnAccountSuppressionList":
        fields = {"suppression": base.SUPPRESS_SPAM_COMPLAINT}
        return EventType.SUPPRESSED, fields, "OnAccountSuppressionList"
    if feedback == "not-spam":
        return EventType.UNKNOWN, {}, reason
    return EventType.SPAMMED, {"suppression": base.SUPPRESS_SPAM_COMPLAINT}, reason


def _subscription(obj: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    prefs = obj.get("newTopicPreferences")
    prefs = prefs if isinstance(prefs, dict) else {}
    topics = prefs.get("topicSubscriptionStatus") or []
    opted_out = bool(prefs.get("unsubscribeAll")) or any(
        isinstance(t, dict) and t.get("subscriptionStatus") == "OptOut" for t in topics
    )
    if opted_out:
        fields = {"suppression": base.SUPPRESS_UNSUBSCRIBED}
        return EventType.UNSUBSCRIBED, fields, str(obj.get("source") or "unsubscribed")
    return EventType.UNKNOWN, {}, "SES subscription preferences changed"


def _recipients_reason(prefix: str, recipients: Any) -> str:
    if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict):
        diagnostic = recipients[0].get("diagnosticCode") or recipients[0].get("status")
        if diagnostic:
            return f"{prefix}: {diagnostic}"
    return prefix
