"""The one normalised event shape every edge produces: provider parsers,
tracking endpoints, the API, the pipeline and attribution all hand lists of
these to messaging.ingest.apply_events."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    type: str  # an EventType value
    occurred_at: datetime  # aware; the provider's or device's time
    idempotency_key: str  # unique per message: provider event id, or a natural key
    source: str  # a Source value
    message_id: int | None = None  # ours, when the event carries it
    provider: str = ""
    provider_message_id: str = ""  # fallback correlation
    link_id: int | None = None
    link_url: str = ""  # a provider-reported click: matched to the action's links
    machine: bool = False
    bounce_type: str = ""  # "hard" / "soft" on bounces
    reason: str = ""  # failure, undeliverable or suppression reason
    # A provider's own suppression verdict or an event that suppresses:
    # "hard_bounce" / "spam_complaint" add a suppression entry, "unsubscribed"
    # marks the person unsubscribed.
    suppression: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    # The attempt it belongs to (CONTRACT.md "Attempts"); None: the one
    # current when it is received.
    attempt: int | None = None

    def in_attempt(self, attempt: int) -> Event:
        """This event in ``attempt``: dataclasses.replace(self, attempt=…) at a
        third of its cost (ingest gives every event of a batch its attempt)."""
        return Event(*_ALL_BUT_ATTEMPT(self), attempt)


assert fields(Event)[-1].name == "attempt"
_ALL_BUT_ATTEMPT = attrgetter(*(f.name for f in fields(Event)[:-1]))
