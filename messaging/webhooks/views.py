"""Provider webhook endpoints: POST /webhooks/<provider>/.

Verify → store → apply, answering exactly as CONTRACT.md says:

- 503 when the provider's secret is not configured (the message names the
  variable; a system check warns at start-up), never accepting unsigned events;
- 413 over TIDINGS_WEBHOOK_MAX_BYTES, before anything is read or verified;
- 401 (no credentials) / 403 (wrong ones) with nothing stored; a Mailgun
  signature seen before with a different event is a forgery: 403; a Twilio
  MessageSid that is not the one stored for its message: 403;
- 400 for a body that is not the provider's format;
- the raw request is committed to the inbox first; if even that fails the
  answer is 503, so the provider retries;
- then the whole batch goes to the ingestion core in one call; 200 whatever
  happens there (applied, waiting for its message, or failed and kept with
  its error for the sweeper): we hold the data.

Plain Django views: CSRF exempt, no session or token authentication, the raw
body read before anything parses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType

from django.conf import settings
from django.core import checks
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from config import safe_json
from messaging.models import WebhookStatus
from messaging.webhooks import inbox
from messaging.webhooks.providers import base, mailgun, postmark, sendgrid, ses, twilio

logger = logging.getLogger(__name__)


def _sendgrid_credentials(body: bytes, headers: Mapping[str, str]) -> bool:
    return bool(
        base.header(headers, sendgrid.SIGNATURE_HEADER)
        and base.header(headers, sendgrid.TIMESTAMP_HEADER)
    )


def _twilio_credentials(body: bytes, headers: Mapping[str, str]) -> bool:
    return bool(base.header(headers, twilio.SIGNATURE_HEADER))


def _postmark_credentials(body: bytes, headers: Mapping[str, str]) -> bool:
    return bool(base.header(headers, "Authorization"))


def _json_object(body: bytes) -> dict:
    try:
        value = safe_json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _too_deep(body: bytes) -> bool:
    try:
        return safe_json.nesting_depth(body.decode("utf-8")) > safe_json.MAX_DEPTH
    except UnicodeDecodeError:
        return False  # not JSON at all: the verifier refuses it


def _mailgun_credentials(body: bytes, headers: Mapping[str, str]) -> bool:
    block = _json_object(body).get("signature")
    return isinstance(block, dict) and bool(block.get("signature"))


def _ses_credentials(body: bytes, headers: Mapping[str, str]) -> bool:
    return bool(_json_object(body).get("Signature"))


def _body_key(body: bytes, url: str, headers: Mapping[str, str]) -> tuple[str, str]:
    # A retry of a SendGrid or Postmark request repeats its bytes; events
    # inside are deduplicated per message by the ingestion core anyway.
    return inbox.body_digest(body), ""


def _twilio_key(body: bytes, url: str, headers: Mapping[str, str]) -> tuple[str, str]:
    # Our message id rides in the URL: the same form for another URL is
    # another request.
    return inbox.body_digest(url.encode(), body), ""


def _mailgun_key(body: bytes, url: str, headers: Mapping[str, str]) -> tuple[str, str]:
    signature = mailgun.signature_of(body, list(settings.MAILGUN_WEBHOOK_SIGNING_KEY or []))
    return "signature:" + signature, mailgun.event_fingerprint(body)


def _ses_key(body: bytes, url: str, headers: Mapping[str, str]) -> tuple[str, str]:
    # A SubscribeURL off Amazon's SNS hosts is malformed (400): refused
    # before the request is stored, so nothing would ever fetch it.
    ses.subscribe_url(body)
    # SNS retries keep their (signed) MessageId.
    message_id = _json_object(body).get("MessageId")
    if isinstance(message_id, str) and message_id:
        return "sns:" + message_id, ""
    return inbox.body_digest(body), ""


@dataclass(frozen=True)
class Provider:
    module: ModuleType
    setting: str  # the variable holding its secrets (a list; several for rotation)
    credentials_present: Callable[[bytes, Mapping[str, str]], bool]
    dedup: Callable[[bytes, str, Mapping[str, str]], tuple[str, str]]
    basic_auth: bool = False
    json_body: bool = True  # read as JSON before verifying (Twilio posts a form)


PROVIDERS: dict[str, Provider] = {
    sendgrid.PROVIDER: Provider(
        sendgrid, "SENDGRID_WEBHOOK_VERIFICATION_KEY", _sendgrid_credentials, _body_key
    ),
    twilio.PROVIDER: Provider(
        twilio, "TWILIO_AUTH_TOKEN", _twilio_credentials, _twilio_key, json_body=False
    ),
    mailgun.PROVIDER: Provider(
        mailgun, "MAILGUN_WEBHOOK_SIGNING_KEY", _mailgun_credentials, _mailgun_key
    ),
    postmark.PROVIDER: Provider(
        postmark, "POSTMARK_WEBHOOK_AUTH", _postmark_credentials, _body_key, basic_auth=True
    ),
    ses.PROVIDER: Provider(ses, "SES_SNS_TOPIC_ARNS", _ses_credentials, _ses_key),
}


def public_url(request: HttpRequest) -> str:
    # What the provider called (Twilio signs it): our configured public base
    # URL, not the Host header a proxy may have rewritten.
    return settings.TIDINGS_PUBLIC_URL.rstrip("/") + request.get_full_path()


def _answer(code: int, detail: str, **extra) -> JsonResponse:
    return JsonResponse({"detail": detail, **extra}, status=code)


@csrf_exempt
def provider_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    spec = PROVIDERS.get(provider)
    if spec is None:
        return _answer(404, f"No webhook for provider {provider!r}.")
    if request.method == "HEAD":
        # Providers and load balancers probe the URL; nothing to do.
        return HttpResponse(status=200)
    if request.method != "POST":
        response = _answer(405, "Use POST.")
        response["Allow"] = "POST, HEAD"
        return response

    secrets = list(getattr(settings, spec.setting, None) or [])
    if not secrets:
        logger.warning("POST /webhooks/%s/ refused: %s is not set", provider, spec.setting)
        return _answer(
            503, f"{spec.setting} is not set: this webhook accepts no events until it is."
        )

    limit = settings.TIDINGS_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _answer(413, f"Body over {limit} bytes.")
    try:
        body = _read_body(request, limit)
    except RequestDataTooBig:
        return _answer(413, f"Body over {limit} bytes.")
    if len(body) > limit:
        return _answer(413, f"Body over {limit} bytes.")

    if spec.json_body and _too_deep(body):
        # Before verifying: the verifiers read the JSON to find the signature.
        return _answer(400, f"Malformed {provider} payload: JSON nested too deeply.")

    url = public_url(request)
    headers = dict(request.headers.items())
    try:
        spec.module.verify(body=body, headers=headers, url=url, secrets=secrets)
    except base.ConfigurationError as exc:
        logger.error("POST /webhooks/%s/ refused: %s: %s", provider, spec.setting, exc)
        return _answer(503, f"{spec.setting} is not usable: {exc}.")
    except base.TemporarilyUnavailable as exc:
        logger.warning("POST /webhooks/%s/ cannot be verified now: %s", provider, exc)
        response = _answer(503, f"Cannot verify the request now: {exc}; try again later.")
        response["Retry-After"] = "30"
        return response
    except base.SignatureError as exc:
        return _refused(spec, body, headers, str(exc))
    except base.MalformedPayload as exc:
        # A body the verifier cannot even read (the signature lives in it).
        return _answer(400, f"Malformed {provider} payload: {exc}")

    received_at = timezone.now()
    events = None
    try:
        events = spec.module.parse(body, headers=headers, url=url, received_at=received_at)
        dedup_key, fingerprint = spec.dedup(body, url, headers)
    except base.MalformedPayload as exc:
        return _answer(400, f"Malformed {provider} payload: {exc}")
    except Exception:
        # A parser bug on a signed request: keep it (the row records the
        # error when applying re-parses it) and let a fix replay it.
        logger.exception("Parsing a %s webhook failed", provider)
        dedup_key, fingerprint = inbox.body_digest(url.encode(), body), ""
    if events and provider in inbox.PROVIDER_ID_CHECKED:
        foreign = inbox.foreign_provider_ids(events)
        if foreign:
            return _refused_foreign(provider, foreign)

    try:
        row, created = inbox.webhook_request_store(
            provider=provider,
            received_at=received_at,
            url=url,
            headers=inbox.stored_headers(headers.items()),
            body=body,
            dedup_key=dedup_key,
            fingerprint=fingerprint,
        )
    except DatabaseError:
        logger.exception("Could not store a %s webhook request", provider)
        return _answer(503, "Could not store the request; try again later.")

    if not created:
        if row.fingerprint != fingerprint:
            # Mailgun signs only timestamp + token: the same signature with
            # another event is someone replaying a captured signature.
            return _answer(403, "This signature was already used for another event.")
        # A provider retries when it did not get our 200 (or thinks so): if
        # the request is stored but was never applied, apply it now.
        status = inbox.webhook_request_reapply(row.pk, now=received_at)
        if status is None:
            return _answer(200, "Already received.", request=row.pk, inbox=row.status)
        return _answer(200, "Already received; applied now.", request=row.pk, inbox=status)

    status = inbox.webhook_request_apply(request=row, events=events, now=received_at)
    if status == WebhookStatus.FAILED:
        # Stored, so 200: the sweeper applies it later.
        return _answer(200, "Stored; applying failed and will be retried.", request=row.pk)
    return _answer(200, "Stored and applied.", request=row.pk, inbox=status)


def _refused_foreign(provider: str, foreign: list[str]) -> JsonResponse:
    logger.warning("Refused a %s webhook: %s", provider, "; ".join(foreign))
    return _answer(403, "Wrong provider message id: " + "; ".join(foreign[:5]) + ".")


def _read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body. A chunked request has no Content-Length, and Django then
    reads nothing (it would be verified as an empty body and refused): read
    the decoded stream the server hands over (gunicorn decodes the chunks)
    until its end, at most one byte over the limit."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if request.META.get("CONTENT_LENGTH") or not chunked:
        return request.body
    stream = request.META["wsgi.input"]
    parts, size = [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _refused(spec: Provider, body: bytes, headers: Mapping[str, str], reason: str) -> JsonResponse:
    logger.warning("Refused a %s webhook: %s", spec.module.PROVIDER, reason)
    if not spec.credentials_present(body, headers):
        response = _answer(401, f"Missing signature or credentials: {reason}.")
        if spec.basic_auth:
            response["WWW-Authenticate"] = 'Basic realm="tidings webhooks"'
        return response
    return _answer(403, f"Wrong signature or credentials: {reason}.")


def unset_webhook_secrets() -> list[tuple[int, str, str]]:
    """(check number, provider, setting) of every provider webhook with no secret."""
    return [
        (index, name, spec.setting)
        for index, (name, spec) in enumerate(PROVIDERS.items(), start=1)
        if not getattr(settings, spec.setting, None)
    ]


def check_webhook_secrets(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Start-up warning for every provider webhook that has no secret (it
    answers 503 until one is set). With DEBUG on (the demo of `make run`,
    whose simulated providers need no secret) they are expected: the demo's
    server says so in one line (serve_demo) instead of repeating ten lines at
    every command."""
    if settings.DEBUG:
        return []
    return [
        checks.Warning(
            f"{setting} is not set: POST /webhooks/{name}/ answers 503 until it is.",
            hint=f"Set {setting} (comma-separate several to rotate).",
            id=f"messaging.W00{index}",
        )
        for index, name, setting in unset_webhook_secrets()
    ]
