"""Set-based writes for the ingestion core.

On PostgreSQL every batch write is one statement whose parameters are one
array per column (``unnest``): the statement text stays the same whatever the
batch size, so neither psycopg nor the server re-parses a 1,000-row VALUES
list, and rows travel as arrays. On SQLite the ORM's bulk methods do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

from django.db import connection, models

from campaigns.models import ActionCounter, BounceReasonCounter, Link, LinkCounter, SeriesCounter


def apply_delta(delta: Mapping[tuple, int], campaign_of_action: Mapping[int, int]) -> None:
    """Increment counters by ``delta`` (keys as campaigns.metrics builds them).
    Rows are upserted in key order so concurrent batches lock them in the same
    order and cannot deadlock."""
    action_rows, link_rows, series_rows, bounce_rows = [], [], [], []
    link_campaigns = _link_campaigns({key[1] for key in delta if key[0] == "link"})
    for key, value in delta.items():
        if not value:
            continue
        kind = key[0]
        if kind == "action":
            _, action_id, metric = key
            action_rows.append((campaign_of_action[action_id], action_id, metric, value))
        elif kind == "link":
            _, link_id, metric = key
            link_rows.append((link_campaigns[link_id], link_id, metric, value))
        elif kind == "bounce":  # campaigns.deliverability
            _, action_id, bounce_type, reason = key
            bounce_rows.append(
                (campaign_of_action[action_id], action_id, bounce_type, reason, value)
            )
        else:
            _, action_id, basis, bucket, metric = key
            series_rows.append(
                (campaign_of_action[action_id], action_id, basis, bucket, metric, value)
            )
    statements = [
        _upsert(
            ActionCounter,
            ["campaign", "action", "metric", "value"],
            2,
            sorted(action_rows, key=lambda r: (r[1], r[2])),
        ),
        _upsert(
            LinkCounter,
            ["campaign", "link", "metric", "value"],
            2,
            sorted(link_rows, key=lambda r: (r[1], r[2])),
        ),
        _upsert(
            SeriesCounter,
            ["campaign", "action", "basis", "bucket", "metric", "value"],
            4,
            sorted(series_rows, key=lambda r: (r[1], r[2], r[3], r[4])),
        ),
        _upsert(
            BounceReasonCounter,
            ["campaign", "action", "bounce_type", "reason", "value"],
            3,
            sorted(bounce_rows, key=lambda r: (r[1], r[2], r[3])),
        ),
    ]
    statements = [statement for statement in statements if statement is not None]
    if statements and connection.vendor == "postgresql":
        # One round trip: the first upserts ride along as data-modifying
        # CTEs of the last, always in the same table order.
        *leading, (last_sql, last_params) = statements
        ctes = ", ".join(f"c{i} AS ({sql})" for i, (sql, _) in enumerate(leading))
        params = [value for _, p in leading for value in p] + last_params
        execute_bound(f"WITH {ctes} {last_sql}" if leading else last_sql, params)


def _link_campaigns(link_ids: set[int]) -> dict[int, int]:
    if not link_ids:
        return {}
    return dict(Link.objects.filter(id__in=link_ids).values_list("id", "action__campaign_id"))


def _upsert(
    model: type[models.Model], fields: list[str], key_width: int, rows: Sequence[tuple]
) -> tuple[str, list] | None:
    """INSERT … ON CONFLICT (the key: the fields after campaign, up to
    key_width of them) DO UPDATE SET value = value + the increment. On
    PostgreSQL the statement is returned for the caller to run; elsewhere it
    runs here."""
    if not rows:
        return None
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    q = connection.ops.quote_name
    table = q(meta.db_table)
    columns = [field.column for field in model_fields]
    target = ", ".join(q(column) for column in columns[1 : 1 + key_width])
    conflict = f"ON CONFLICT ({target}) DO UPDATE SET value = {table}.value + EXCLUDED.value"
    names = ", ".join(q(column) for column in columns)
    if connection.vendor == "postgresql":
        return (
            f"INSERT INTO {table} ({names}) SELECT * FROM {_unnest(model_fields)} {conflict}",
            _column_arrays(model_fields, rows),
        )
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([placeholder] * len(chunk))} "
                f"{conflict}",
                [
                    _prep(field, value)
                    for row in chunk
                    for field, value in zip(model_fields, row, strict=True)
                ],
            )
    return None


def execute_bound(sql: str, params: list) -> int:
    """Runs a statement with server-side parameter binding on Django's own
    connection (same transaction); returns its row count. Django's psycopg
    cursors bind on the client, quoting every array element into the query
    text; sent apart, in binary, the arrays of a 1,000-row batch cost a
    fraction of that."""
    return _bound(sql, params, lambda cursor: cursor.rowcount)


def select_bound(sql: str, params: list) -> list[tuple]:
    """Runs a query as execute_bound does and fetches its rows in binary:
    timestamps decoded by psycopg's C loader rather than parsed from text
    (Django's own timestamptz loader is Python)."""
    return _bound(sql, params, lambda cursor: cursor.fetchall(), binary=True)


def _bound(sql: str, params: list, result, *, binary: bool = False):
    import psycopg

    connection.ensure_connection()
    started = time.monotonic()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=binary)
        out = result(cursor)
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return out


def _prep(field: models.Field, value):
    return field.get_db_prep_save(value, connection)


def _unnest(fields: Sequence[models.Field]) -> str:
    # %b: arrays travel in psycopg's binary format (no text quoting of each
    # element); JSON goes as text and is cast on the server.
    return "unnest(" + ", ".join(f"%b::{field.db_type(connection)}[]" for field in fields) + ")"


def _column_arrays(fields: Sequence[models.Field], rows: Sequence[Sequence]) -> list[list]:
    arrays = []
    for i, field in enumerate(fields):
        if isinstance(field, models.JSONField):
            arrays.append([None if row[i] is None else json.dumps(row[i]) for row in rows])
        else:
            # Plain values (str, int, bool, aware datetime, None) need no
            # per-value field preparation; psycopg adapts them directly.
            arrays.append([row[i] for row in rows])
    return arrays


def bulk_insert(model: type[models.Model], rows: Sequence[Sequence], fields: Sequence[str]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of rows given as values in ``fields``
    order (no model instances on the hot path; no pks returned)."""
    if not rows:
        return
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        objects = [
            model(**{field.attname: value for field, value in zip(model_fields, row, strict=True)})
            for row in rows
        ]
        model.objects.bulk_create(objects, ignore_conflicts=True, batch_size=500)
        return
    q = connection.ops.quote_name
    names = ", ".join(q(field.column) for field in model_fields)
    execute_bound(
        f"INSERT INTO {q(meta.db_table)} ({names}) SELECT * FROM {_unnest(model_fields)} "
        "ON CONFLICT DO NOTHING",
        _column_arrays(model_fields, rows),
    )


def bulk_update_rows(
    model: type[models.Model], objects: Sequence[models.Model], fields: Sequence[str]
) -> None:
    if not objects:
        return
    if connection.vendor != "postgresql":
        _update_rows_one_by_one(model, objects, fields)
        return
    meta = model._meta
    model_fields = [meta.pk] + [meta.get_field(name) for name in fields]
    q = connection.ops.quote_name
    pk = q(meta.pk.column)
    names = ", ".join(q(field.column) for field in model_fields)
    assignments = ", ".join(f"{q(f.column)} = v.{q(f.column)}" for f in model_fields[1:])
    rows = [[getattr(obj, field.attname) for field in model_fields] for obj in objects]
    execute_bound(
        f"UPDATE {q(meta.db_table)} AS t SET {assignments} "
        f"FROM {_unnest(model_fields)} AS v ({names}) WHERE t.{pk} = v.{pk}",
        _column_arrays(model_fields, rows),
    )


def _update_rows_one_by_one(
    model: type[models.Model], objects: Sequence[models.Model], fields: Sequence[str]
) -> None:
    # SQLite (the embedded default): one prepared UPDATE run for every row.
    # Django's bulk_update builds a CASE WHEN per field and row, whose
    # expression resolving made seeding the demo minutes long.
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    q = connection.ops.quote_name
    assignments = ", ".join(f"{q(field.column)} = %s" for field in model_fields)
    sql = f"UPDATE {q(meta.db_table)} SET {assignments} WHERE {q(meta.pk.column)} = %s"
    params = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in model_fields]
        + [obj.pk]
        for obj in objects
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
