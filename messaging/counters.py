"""Set-based writes for the ingestion core: counter increments as one upsert
per table, and bulk row updates as one UPDATE ... FROM (VALUES ...) on
PostgreSQL (Django's bulk_update builds a CASE per column and row, which is
several times slower for a 1,000-row batch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection, models

from campaigns.models import ActionCounter, LinkCounter, SeriesCounter

_CHUNK = 1000


def apply_delta(delta: Mapping[tuple, int], campaign_of_action: Mapping[int, int]) -> None:
    """Increment counters by ``delta`` (keys as campaigns.metrics builds them).
    Rows are upserted in key order so concurrent batches lock them in the same
    order and cannot deadlock."""
    action_rows, link_rows, series_rows = [], [], []
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
        else:
            _, action_id, basis, bucket, metric = key
            series_rows.append(
                (
                    campaign_of_action[action_id],
                    action_id,
                    basis,
                    connection.ops.adapt_datetimefield_value(bucket),
                    metric,
                    value,
                )
            )
    _upsert(
        ActionCounter,
        ["campaign_id", "action_id", "metric", "value"],
        ["action_id", "metric"],
        sorted(action_rows, key=lambda r: (r[1], r[2])),
    )
    _upsert(
        LinkCounter,
        ["campaign_id", "link_id", "metric", "value"],
        ["link_id", "metric"],
        sorted(link_rows, key=lambda r: (r[1], r[2])),
    )
    _upsert(
        SeriesCounter,
        ["campaign_id", "action_id", "basis", "bucket", "metric", "value"],
        ["action_id", "basis", "bucket", "metric"],
        sorted(series_rows, key=lambda r: (r[1], r[2], str(r[3]), r[4])),
    )


def _link_campaigns(link_ids: set[int]) -> dict[int, int]:
    if not link_ids:
        return {}
    from campaigns.models import Link

    return dict(Link.objects.filter(id__in=link_ids).values_list("id", "action__campaign_id"))


def _upsert(
    model: type[models.Model], columns: list[str], conflict: list[str], rows: Sequence[tuple]
) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    target = ", ".join(connection.ops.quote_name(c) for c in conflict)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            sql = (
                f"INSERT INTO {table} ({cols}) VALUES {', '.join([placeholder] * len(chunk))} "
                f"ON CONFLICT ({target}) DO UPDATE SET value = {table}.value + EXCLUDED.value"
            )
            cursor.execute(sql, [value for row in chunk for value in row])


def bulk_update_rows(
    model: type[models.Model], objects: Sequence[models.Model], fields: Sequence[str]
) -> None:
    if not objects:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objects, fields, batch_size=500)
        return
    meta = model._meta
    table = connection.ops.quote_name(meta.db_table)
    model_fields = [meta.get_field(name) for name in fields]
    pk = meta.pk
    columns = [pk.column] + [field.column for field in model_fields]
    casts = [pk.db_type(connection)] + [field.db_type(connection) for field in model_fields]
    # Cast every VALUES column so NULLs and text literals get the right types.
    assignments = ", ".join(
        f"{connection.ops.quote_name(c)} = v.{connection.ops.quote_name(c)}" for c in columns[1:]
    )
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        for start in range(0, len(objects), _CHUNK):
            chunk = objects[start : start + _CHUNK]
            row_sql = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
            params = []
            for obj in chunk:
                params.append(obj.pk)
                for field in model_fields:
                    params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
            pk_name = connection.ops.quote_name(pk.column)
            sql = (
                f"UPDATE {table} AS t SET {assignments} "
                f"FROM (VALUES {', '.join([row_sql] * len(chunk))}) AS v ({names}) "
                f"WHERE t.{pk_name} = v.{pk_name}"
            )
            cursor.execute(sql, params)
