"""Sending: the pipeline that takes a message from created to handed over.

- ``services``: creating messages (queued or drafted) and the pre-send checks,
  enqueueing, a person's send of a draft, retry and discard;
- ``pipeline``: what a worker does with a chunk: claim, provider call outside
  any transaction, record the outcome;
- ``recovery``: the sweeper of lost tasks and unanswered attempts;
- ``tasks``: the Celery tasks (names kept stable with ``name=``);
- ``backends/``: the provider backends (capture, simulated), and
  ``simulator`` / ``simulated_callbacks``: the simulated providers and the
  callbacks they post in the providers' real formats;
- ``rendering``: a message's content with its tracking URLs.

May import: the core (``messaging.models``, ``events``, ``status``,
``ingest``, ``counters``, ``attribution``), ``campaigns``,
``messaging.audience`` (suppression checks), ``messaging.tracking`` (tokens,
the recipient's open and click) and ``messaging.webhooks`` (the provider
parsers the simulator signs for, and the inbox's waiting callbacks). Nothing
outside this package imports its private (underscore) names; the edges
(views, API, admin, commands) use the names exported here.

The only import cycle left is inside this package: the simulated backend
drives the simulator, and the simulator's callbacks are delivered by a task
(imported lazily, at call time).
"""

from messaging.sending.pipeline import SendReport, idempotency_key, messages_send
from messaging.sending.services import (
    REASON_DELETED,
    REASON_OUTCOME_UNKNOWN,
    REASON_SUPPRESSED,
    REASON_UNSUBSCRIBED,
    NotAllowed,
    action_send,
    address_for,
    message_discard,
    message_retry,
    message_send_draft,
    messages_create,
    messages_enqueue,
    messages_presend_check,
    presend_verdict,
)

__all__ = [
    "REASON_DELETED",
    "REASON_OUTCOME_UNKNOWN",
    "REASON_SUPPRESSED",
    "REASON_UNSUBSCRIBED",
    "NotAllowed",
    "SendReport",
    "action_send",
    "address_for",
    "idempotency_key",
    "message_discard",
    "message_retry",
    "message_send_draft",
    "messages_create",
    "messages_enqueue",
    "messages_presend_check",
    "messages_send",
    "presend_verdict",
]
