"""The capture backend: accepts every message, records it durably, returns
an id, produces no callbacks. For tests and for outside test suites. It keeps
the headers it was given (List-Unsubscribe on email).

It honours idempotency keys as a provider does: the record is one row per
key (unique constraint), and a repeated call with a key returns the id given
the first time and only counts the call.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction

from messaging.models import CapturedMessage
from messaging.sending.backends import (
    Outcome,
    ProviderTimeout,
    SendRequest,
    SendResult,
    call_timeout,
)

PROVIDER = "capture"


class CaptureBackend:
    name = PROVIDER
    honours_idempotency_keys = True

    def __init__(self, channel: str):
        self.channel = channel

    def send(self, requests: Sequence[SendRequest], *, now: datetime) -> list[SendResult]:
        if not requests:
            return []
        accepted = _record(requests, now)
        latency = settings.TIDINGS_CAPTURE_LATENCY_MS / 1000
        if latency:
            # The provider has accepted; its answer is slow to come back. A
            # worker killed here leaves messages attempted that the provider
            # holds: the crash test's worst case. Slower than the call's
            # timeout, the answer never comes: an unknown outcome.
            timeout = call_timeout()
            time.sleep(min(latency, timeout))
            if latency > timeout:
                raise ProviderTimeout(f"no answer from {PROVIDER} within {timeout:g} s")
        return [
            SendResult(
                message_id=request.message_id,
                outcome=Outcome.SENT,
                provider=PROVIDER,
                provider_message_id=accepted[request.idempotency_key],
            )
            for request in requests
        ]

    def after_recorded(self, requests, results, *, sent_at: datetime) -> None:
        return None


def _record(requests: Sequence[SendRequest], now: datetime) -> dict[str, str]:
    """One upsert for the batch; returns each key's provider message id (the
    first one given for that key)."""
    table = connection.ops.quote_name(CapturedMessage._meta.db_table)
    columns = (
        "idempotency_key",
        "message_id",
        "channel",
        "address",
        "subject",
        "body",
        "headers",
        "provider_message_id",
        "calls",
        "accepted_at",
    )
    unique: dict[str, SendRequest] = {}
    for request in requests:
        unique.setdefault(request.idempotency_key, request)
    rows = []
    accepted_at = (
        now
        if connection.vendor == "postgresql"
        else (connection.ops.adapt_datetimefield_value(now))
    )
    for request in unique.values():
        rows.append(
            (
                request.idempotency_key,
                request.message_id,
                request.channel,
                request.address,
                request.subject[:1000],
                request.body,
                json.dumps(request.headers),
                f"cap_{uuid.uuid4().hex}",
                1,
                accepted_at,
            )
        )
    conflict = (
        f"ON CONFLICT (idempotency_key) DO UPDATE SET calls = {table}.calls + 1 "
        "RETURNING idempotency_key, provider_message_id"
    )
    if connection.vendor == "postgresql":
        # One array per column: the statement text is the same for any batch.
        types = (
            "text",
            "bigint",
            "text",
            "text",
            "text",
            "text",
            "jsonb",
            "text",
            "int",
            "timestamptz",
        )
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest("
            + ", ".join(f"%s::{kind}[]" for kind in types)
            + f") {conflict}"
        )
        params = [list(column) for column in zip(*rows, strict=True)]
    else:
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES {', '.join([placeholder] * len(rows))} {conflict}"
        )
        params = [value for row in rows for value in row]
    # Its own short transaction: the provider commits before it answers.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())
