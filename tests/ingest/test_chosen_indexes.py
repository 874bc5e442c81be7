"""Indexes are chosen, not accumulated (DESIGN.md "Scale"): on every table of
ours, no plain index's columns are a leading prefix of another index's, so
no write maintains an index that another already provides. Columns are
compared with their operator class (a ``varchar_pattern_ops`` index serves
prefix LIKE, which the plain one cannot)."""

import pytest
from django.db import connection

OUR_TABLES = ("messaging_%", "campaigns_%")
# Django's auto-created many-to-many table indexes both keys besides its
# unique pair; it is small (one row per conversion) and left as Django makes it.
AUTO_CREATED = {"messaging_personevent_converted_messages"}


def indexes_by_table() -> dict[str, list[tuple[str, list[str], bool, bool]]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, i.relname,
                   array_agg(a.attname || ' ' || oc.opcname ORDER BY k.ordinality),
                   ix.indisunique, ix.indpred IS NOT NULL
            FROM pg_index ix
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_class i ON i.oid = ix.indexrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
            CROSS JOIN LATERAL unnest(ix.indkey, ix.indclass)
                WITH ORDINALITY AS k(attnum, opclass, ordinality)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            JOIN pg_opclass oc ON oc.oid = k.opclass
            WHERE t.relkind IN ('r', 'p') AND (t.relname LIKE %s OR t.relname LIKE %s)
            GROUP BY t.relname, i.relname, ix.indisunique, ix.indpred
            """,
            OUR_TABLES,
        )
        tables: dict[str, list[tuple[str, list[str], bool, bool]]] = {}
        for table, index, columns, unique, partial in cursor.fetchall():
            tables.setdefault(table, []).append((index, list(columns), unique, partial))
        return tables


@pytest.mark.django_db
def test_no_plain_index_is_a_prefix_of_another_index_on_the_same_table():
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    redundant = []
    for table, indexes in indexes_by_table().items():
        if table in AUTO_CREATED:
            continue
        for name, columns, unique, partial in indexes:
            if unique or partial:
                continue  # a constraint or a narrower index: not a duplicate
            for other, other_columns, _, other_partial in indexes:
                if other == name or other_partial:
                    continue
                if other_columns[: len(columns)] == columns:
                    redundant.append(f"{table}.{name} {columns} is a prefix of {other}")
    assert redundant == []


@pytest.mark.django_db
def test_the_event_log_has_only_its_unique_key_and_the_partial_link_index():
    if connection.vendor != "postgresql":
        pytest.skip("reads PostgreSQL's catalog")
    names = {name for name, *_ in indexes_by_table()["messaging_messageevent"]}
    assert names == {
        "messaging_messageevent_pkey",
        "messageevent_idempotency",
        "messageevent_link_idx",
    }
