"""Shared pieces of the provider webhook modules: errors, header and time
helpers, the event builder, and key generation for tests and the simulated
providers. Nothing here touches the database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from campaigns.vocabulary import Source
from config import safe_json
from messaging.events import Event


class WebhookError(Exception):
    pass


class SignatureError(WebhookError):
    """Missing or wrong signature or credentials: answer 401/403, store nothing."""


class MalformedPayload(WebhookError):
    """The body is not the provider's format: answer 400."""


class TemporarilyUnavailable(WebhookError):
    """The request cannot be verified right now (the provider's signing
    certificate could not be fetched): answer 503 so the provider retries."""


class ConfigurationError(WebhookError):
    """A configured secret is unusable (no secrets, a key that does not load)."""


# Event.suppression values.
SUPPRESS_HARD_BOUNCE = "hard_bounce"
SUPPRESS_SPAM_COMPLAINT = "spam_complaint"
SUPPRESS_UNSUBSCRIBED = "unsubscribed"
SUPPRESS_MANUAL = "manual"  # the provider's own list, no reason given
# Not a suppression: the person resubscribed (clears the unsubscribe).
RESUBSCRIBED = "resubscribed"


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    # Django's request.headers is case-insensitive; a plain dict from a test or
    # a stored inbox row may not be.
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def require_secrets(secrets: list[str]) -> list[str]:
    usable = [s.strip() for s in secrets if s and s.strip()]
    if not usable:
        raise ConfigurationError("no webhook secret is configured")
    return usable


def equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def load_json(body: bytes) -> Any:
    try:
        return safe_json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from exc


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


# A provider's time is stored as it says (ingest bounds it to [message
# created, received + 5 min] and keeps the original in the detail); a time
# that does not even fit a datetime is read as the nearest one that does.
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)


def from_unix(value: Any) -> datetime:
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise MalformedPayload(f"bad Unix timestamp {value!r}") from exc
    if seconds != seconds:  # NaN
        raise MalformedPayload(f"bad Unix timestamp {value!r}")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return _EARLIEST if seconds < 0 else _LATEST


def from_iso(value: Any) -> datetime:
    # Python 3.11 reads "Z", offsets and Postmark's 7-digit fractions.
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError) as exc:
        raise MalformedPayload(f"bad ISO 8601 time {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        return _EARLIEST if parsed.year == 1 else _LATEST


# Message ids are PostgreSQL bigints: a larger number names no message, and
# passed on it would make the database refuse the whole batch.
MAX_MESSAGE_ID = 2**63 - 1


def our_message_id(value: Any) -> int | None:
    # Custom args come back as strings; anything that is not an integer in
    # 1..MAX_MESSAGE_ID is ignored and the provider message id correlates instead.
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()):
            return None
        number = int(text)
    return number if 0 < number <= MAX_MESSAGE_ID else None


def our_attempt(value: Any) -> int | None:
    """``tidings_attempt`` as it comes back (a string, or a list of them);
    None when absent or not a plausible attempt number."""
    number = our_message_id(value)
    return number if number is not None and number <= 32767 else None


def provider_event(
    provider: str,
    *,
    type: str,
    occurred_at: datetime,
    idempotency_key: str,
    detail: dict[str, Any],
    **fields: Any,
) -> Event:
    if "bounce_type" in fields:
        fields["bounce_type"] = str(fields["bounce_type"])
    return Event(
        type=str(type),
        occurred_at=occurred_at,
        idempotency_key=idempotency_key,
        source=str(Source.PROVIDER),
        provider=provider,
        detail=detail,
        **fields,
    )


# Key generation for tests and the simulated providers.


def generate_p256_keypair() -> tuple[str, str]:
    """(private key PEM, public key as SendGrid shows it: base64 DER SPKI)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode()


def generate_rsa_certificate(common_name: str = "sns.amazonaws.com") -> tuple[str, str]:
    """(RSA private key PEM, self-signed certificate PEM) standing in for SNS's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return private_pem, cert.public_bytes(serialization.Encoding.PEM).decode()
