"""A real database failure for the inbox tests: a trigger that makes every
insert into the event log fail, as a full disk or a lost connection would
while a batch is being applied (the inbox row itself still goes in)."""

from contextlib import contextmanager

from django.db import connection

PG_CREATE = [
    """
    CREATE OR REPLACE FUNCTION tidings_test_refuse_events() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'could not extend file (test)'; END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER tidings_test_refuse_events BEFORE INSERT ON messaging_messageevent
    FOR EACH STATEMENT EXECUTE FUNCTION tidings_test_refuse_events()
    """,
]
PG_DROP = [
    "DROP TRIGGER IF EXISTS tidings_test_refuse_events ON messaging_messageevent",
    "DROP FUNCTION IF EXISTS tidings_test_refuse_events()",
]
SQLITE_CREATE = [
    """
    CREATE TRIGGER tidings_test_refuse_events BEFORE INSERT ON messaging_messageevent
    BEGIN SELECT RAISE(ABORT, 'could not extend file (test)'); END
    """
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS tidings_test_refuse_events"]


def refuse_event_inserts() -> None:
    statements = PG_CREATE if connection.vendor == "postgresql" else SQLITE_CREATE
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def allow_event_inserts() -> None:
    statements = PG_DROP if connection.vendor == "postgresql" else SQLITE_DROP
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@contextmanager
def event_inserts_failing():
    refuse_event_inserts()
    try:
        yield
    finally:
        allow_event_inserts()
