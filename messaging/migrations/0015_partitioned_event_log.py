# The event log partitioned by month (DESIGN.md "Scale"), and the record of
# pruned history. Self-contained: the partition DDL lives here (not imported
# from messaging.history) so that later changes to that module cannot change
# what this migration did.
#
# Partition key: message_created_at, a copy of the message's created_at. It is
# fixed per message, so the unique (message_id, idempotency_key) key can carry
# it without weakening idempotency (PostgreSQL requires every unique index of
# a partitioned table to include the partition key): a provider's retry that
# arrives months later still finds its first copy in the same partition. A
# message's whole history lives in one partition, so dropping a partition
# drops whole histories, never half of one. received_at or occurred_at would
# put the retry's copy in another partition, where the unique index cannot
# see the first.

from datetime import UTC, datetime

from django.db import migrations, models

TABLE = "messaging_messageevent"
OLD = "messaging_messageevent_unpartitioned"
AHEAD_MONTHS = 2


def _month(moment):
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next(month):
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def _partition_postgresql(cursor, now):
    cursor.execute(f"LOCK TABLE {TABLE}, messaging_message IN SHARE MODE")
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    # Index-backed constraints are relations: their names must be free for
    # the new table's.
    cursor.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass",
        [OLD],
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name[:50]}_unpartitioned"')
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [OLD],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING IDENTITY, message_created_at timestamp with time zone NOT NULL) "
        "PARTITION BY RANGE (message_created_at)"
    )
    # Partitions for every month that has messages, up to AHEAD_MONTHS past
    # now; a default partition catches a row of any month not created yet
    # (the sweeper creates them ahead, and moves such rows into their month).
    cursor.execute("SELECT min(created_at), max(created_at) FROM messaging_message")
    first, last = cursor.fetchone()
    month = _month(first or now)
    last = max(_month(last or now), _month(now))
    for _ in range(AHEAD_MONTHS):
        last = _next(last)
    while month <= last:
        following = _next(month)
        cursor.execute(
            f'CREATE TABLE "{TABLE}_p{month:%Y_%m}" PARTITION OF {TABLE} '
            "FOR VALUES FROM (%s) TO (%s)",
            [month, following],
        )
        month = following
    cursor.execute(f'CREATE TABLE "{TABLE}_default" PARTITION OF {TABLE} DEFAULT')
    cursor.execute(
        f"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [OLD],
    )
    (columns,) = cursor.fetchone()
    cursor.execute(
        f"INSERT INTO {TABLE} ({columns}, message_created_at) "
        f"SELECT {', '.join('e.' + c for c in columns.split(', '))}, m.created_at "
        f"FROM {OLD} e JOIN messaging_message m ON m.id = e.message_id"
    )
    # The primary and unique keys carry the partition key (PostgreSQL's
    # rule); message_created_at is a function of message_id, so the unique
    # key is still exactly "one (message, idempotency key)".
    cursor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, message_created_at)"
    )
    cursor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT messageevent_idempotency "
        "UNIQUE (message_id, idempotency_key, message_created_at)"
    )
    cursor.execute(
        f"CREATE INDEX messageevent_link_idx ON {TABLE} (link_id) WHERE link_id IS NOT NULL"
    )
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(f"DROP TABLE {OLD}")
    _restart_identity(cursor)


def _restart_identity(cursor):
    # LIKE ... INCLUDING IDENTITY made a new sequence (under another name
    # while the old table held the usual one): the usual name, past every id.
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    (sequence,) = cursor.fetchone()
    if sequence.rsplit(".", 1)[-1].strip('"') != f"{TABLE}_id_seq":
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {TABLE}_id_seq")
    cursor.execute(
        f"SELECT setval('{TABLE}_id_seq', coalesce((SELECT max(id) FROM {TABLE}), 0) + 1, false)"
    )


def _unpartition_postgresql(cursor):
    cursor.execute(f"LOCK TABLE {TABLE} IN SHARE MODE")
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD}")
    for name in (f"{TABLE}_pkey", "messageevent_idempotency", "messageevent_link_idx"):
        cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name}_partitioned"')
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' AND conparentid = 0",
        [OLD],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING IDENTITY)"
    )
    cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN message_created_at")
    cursor.execute(
        f"SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [TABLE],
    )
    (columns,) = cursor.fetchone()
    cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {OLD}")
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
    cursor.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT messageevent_idempotency "
        "UNIQUE (message_id, idempotency_key)"
    )
    cursor.execute(
        f"CREATE INDEX messageevent_link_idx ON {TABLE} (link_id) WHERE link_id IS NOT NULL"
    )
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(f"DROP TABLE {OLD} CASCADE")
    _restart_identity(cursor)


def _field(null):
    field = models.DateTimeField(null=null, editable=False)
    field.set_attributes_from_name("message_created_at")
    return field


def partition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _partition_postgresql(cursor, datetime.now(UTC))
        return
    # SQLite (the embedded default) keeps one table: the column, filled.
    model = apps.get_model("messaging", "MessageEvent")
    schema_editor.add_field(model, _field(null=True))
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET message_created_at = (SELECT created_at FROM "
            f"messaging_message WHERE messaging_message.id = {TABLE}.message_id)"
        )
    schema_editor.alter_field(model, _field(null=True), _field(null=False))


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _unpartition_postgresql(cursor)
        return
    schema_editor.remove_field(apps.get_model("messaging", "MessageEvent"), _field(null=False))


class Migration(migrations.Migration):

    dependencies = [
        ('messaging', '0014_no_duplicate_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name='messageevent',
                    name='message_created_at',
                    field=models.DateTimeField(editable=False),
                    preserve_default=False,
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
        migrations.CreateModel(
            name='PrunedHistory',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('before', models.DateTimeField(unique=True)),
                ('pruned_at', models.DateTimeField()),
                ('months', models.JSONField(default=list)),
                ('events', models.BigIntegerField()),
                ('messages', models.BigIntegerField()),
                ('contribution', models.JSONField(default=list)),
            ],
            options={
                'verbose_name_plural': 'pruned history',
                'ordering': ['-before'],
            },
        ),
    ]
