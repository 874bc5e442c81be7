"""Per-event quarantine around the ingestion core (no poison batch).

A provider that got its 200 never sends the batch again, so one event that
PostgreSQL refuses must not hold back the others forever:

1. ``clean_event`` removes what PostgreSQL cannot store from an event's text
   and JSON — NUL characters, unpaired UTF-16 surrogates, and the NaN and
   infinities JSON allows but ``jsonb`` does not — before anything is
   inserted. The raw request in the webhook inbox keeps the original bytes.
2. ``apply_events_isolated`` applies the cleaned batch in one savepoint; if
   the database still refuses it, it applies each event alone, and an event
   that cannot be applied even alone is stored in its place as a ``refused``
   history event carrying the error, so the rest of the batch applies and the
   refusal is visible on the message.

Connection-level errors (the database went away, a deadlock) are not the
batch's fault: they propagate, and the caller's retry applies everything.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from django.db import InterfaceError, OperationalError, connection, transaction

from campaigns.vocabulary import EventType, Source
from messaging.events import Event
from messaging.ingest import IngestResult, apply_events

logger = logging.getLogger(__name__)

# NUL, and a surrogate code point (only ever unpaired in a Python str).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
_TEXT_FIELDS = tuple(f.name for f in fields(Event) if f.type in ("str", str) and f.name != "type")
# A refused event's error as kept on the event (reason is 500 characters).
ERROR_LIMIT = 480


def clean_text(value: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value


def clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": jsonb has no such numbers
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(item) for item in value]
    return value


def clean_event(event: Event) -> Event:
    changes = {}
    for name in _TEXT_FIELDS:
        value = getattr(event, name)
        if isinstance(value, str):
            cleaned = clean_text(value)
            if cleaned is not value and cleaned != value:
                changes[name] = cleaned
    detail = clean_json(event.detail)
    if detail != event.detail or _has_nan(event.detail):
        changes["detail"] = detail
    return replace(event, **changes) if changes else event


def _has_nan(value: Any) -> bool:
    # NaN != NaN, so a detail holding one never compares equal to itself.
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nan(item) for item in value)
    return False


def clean_events(events: Sequence[Event]) -> list[Event]:
    return [clean_event(event) for event in events]


def _connection_error(exc: BaseException) -> bool:
    # Django's wrappers, and the driver's own (ingest's bulk statements run on
    # the driver's cursor): a lost connection, a deadlock, a cancelled query.
    driver = connection.Database
    return isinstance(
        exc, OperationalError | InterfaceError | driver.OperationalError | driver.InterfaceError
    )


def apply_events_isolated(events: Sequence[Event]) -> IngestResult:
    """``apply_events`` for a batch from outside (a provider's webhook): one
    bad event is stored alone as ``refused`` and never blocks the rest. Runs
    inside the caller's transaction (savepoints of its own)."""
    events = clean_events(events)
    try:
        with transaction.atomic():
            return apply_events(events)
    except Exception as exc:
        if _connection_error(exc):
            raise
        logger.warning(
            "A batch of %d events was refused (%s: %s); applying them one by one",
            len(events),
            type(exc).__name__,
            exc,
        )
    total = IngestResult()
    for event in events:
        try:
            with transaction.atomic():
                result = apply_events([event])
        except Exception as exc:
            if _connection_error(exc):
                raise
            logger.warning("Event %s refused by the database: %s", event.idempotency_key, exc)
            with transaction.atomic():
                result = apply_events([refused_in_place(event, exc)])
        _add(total, result)
    return total


def refused_in_place(event: Event, exc: BaseException) -> Event:
    """What is stored for an event the database refused: a ``refused``
    history event with the error, and of the original only what is certain
    to be storable (its type and key; its detail as an escaped string)."""
    error = clean_text(f"{type(exc).__name__}: {exc}")[:ERROR_LIMIT]
    return Event(
        type=EventType.REFUSED,
        occurred_at=event.occurred_at,
        idempotency_key=clean_text(event.idempotency_key)[:255],
        source=event.source if event.source in Source.values else Source.PROVIDER,
        message_id=event.message_id,
        provider=clean_text(event.provider)[:40],
        provider_message_id=event.provider_message_id,
        reason=f"could not be stored: {error}",
        detail={
            "refused_type": event.type,
            "refused_reason": f"the database refused it: {error}",
            "original": ascii(event.detail)[:5000],
        },
    )


def _add(total: IngestResult, result: IngestResult) -> None:
    total.stored += result.stored
    total.duplicates += result.duplicates
    total.refused += result.refused
    total.unmatched.extend(result.unmatched)
