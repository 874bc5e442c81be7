"""Provider send backends: what the send pipeline hands a message to.

One backend per channel, chosen by ``settings.TIDINGS_PROVIDER_BY_CHANNEL``
(``TIDINGS_PROVIDERS`` / ``TIDINGS_PROVIDER_<CHANNEL>``):

- ``capture`` accepts everything, keeps a durable record of what it accepted
  (``CapturedMessage``, unique per idempotency key) and produces no callbacks;
- ``simulated`` answers as the channel's real provider would (SendGrid,
  Twilio, FCM, Slack, an HTTP endpoint, Airship) and later produces that
  provider's callbacks through the real parsers and ingestion.

Backends are called outside any database transaction, with a batch of
requests; each request carries an idempotency key, and a backend that
honours keys accepts a key once: a repeated call returns the first answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings

from campaigns.vocabulary import EventType


class Outcome:
    SENT = EventType.SENT.value
    FAILED = EventType.FAILED.value
    UNDELIVERABLE = EventType.UNDELIVERABLE.value
    # A transient error (429, 5xx, refused connection): the message stays
    # attempted and the pipeline tries again with backoff, with the same
    # idempotency key.
    RETRY = "retry"
    # No answer (the call timed out, the task hit its soft time limit): the
    # provider may have accepted it. Never a failure by itself (DESIGN.md
    # "The send pipeline" 6): called again with the same key where the
    # backend honours keys, else failed "outcome unknown".
    UNKNOWN = "unknown"


class ProviderTimeout(Exception):
    """A provider call got no answer within ``TIDINGS_PROVIDER_TIMEOUT_SECONDS``
    (a real HTTP backend passes it as its read timeout)."""


def call_timeout() -> float:
    """Every provider call's own timeout, shorter than the task's soft limit
    (config.settings refuses to start otherwise)."""
    return float(settings.TIDINGS_PROVIDER_TIMEOUT_SECONDS)


@dataclass(frozen=True, slots=True)
class SendRequest:
    message_id: int
    channel: str
    address: str
    subject: str
    body: str
    idempotency_key: str
    # The message's attempt (CONTRACT.md "Attempts"): 1 first, +1 per retry or
    # draft send; it travels to the provider as tidings_attempt.
    attempt: int
    tries: int  # provider calls already made in this attempt
    # A stable name for the recipient of this step (campaign, action, person),
    # so a simulation is deterministic for a seed whatever the row ids are.
    stable_key: str = ""
    person_id: int | None = None
    action_id: int | None = None
    # Headers the message is sent with (email: List-Unsubscribe and
    # List-Unsubscribe-Post, messaging.sending.rendering.email_headers).
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: int
    outcome: str  # an Outcome value
    provider: str
    provider_message_id: str = ""
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str
    honours_idempotency_keys: bool

    def send(self, requests: Sequence[SendRequest], *, now: datetime) -> list[SendResult]:
        """Raises ProviderTimeout when the provider does not answer within
        call_timeout()."""

    def after_recorded(
        self, requests: Sequence[SendRequest], results: Sequence[SendResult], *, sent_at: datetime
    ) -> None:
        """Called once the results are stored (a simulated provider schedules
        its callbacks here)."""


def backend_name(channel: str) -> str:
    return settings.TIDINGS_PROVIDER_BY_CHANNEL.get(channel, settings.TIDINGS_PROVIDERS)


def backend_for(channel: str, *, simulator: Any = None) -> Backend:
    name = backend_name(channel)
    if name == "capture":
        from messaging.sending.backends.capture import CaptureBackend

        return CaptureBackend(channel)
    if name == "simulated":
        from messaging.sending.backends.simulated import SimulatedBackend

        return SimulatedBackend(channel, simulator=simulator)
    raise ValueError(f"Unknown provider backend {name!r} for {channel}.")
