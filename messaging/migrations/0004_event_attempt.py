from django.db import migrations, models

# Until now attempt boundaries were inferred from clocks: a retry or a draft's
# send stored a `queued:<n>` event (n >= 1) and every event at or after the
# latest one belonged to the new attempt. That rule, applied to each stored
# event, gives its attempt: 1 + the number of such `queued` events at or
# before it. Only messages that were ever retried or sent from a draft have
# any, so every other event keeps the default (1).
DERIVE_ATTEMPTS = """
UPDATE messaging_messageevent
SET attempt = 1 + (
    SELECT COUNT(*) FROM messaging_messageevent AS q
    WHERE q.message_id = messaging_messageevent.message_id
      AND q.type = 'queued'
      AND q.idempotency_key <> 'queued:0'
      AND q.occurred_at <= messaging_messageevent.occurred_at
)
WHERE message_id IN (
    SELECT message_id FROM messaging_messageevent
    WHERE type = 'queued' AND idempotency_key <> 'queued:0'
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ('messaging', '0003_webhook_inbox'),
    ]

    operations = [
        migrations.AddField(
            model_name="messageevent",
            name="attempt",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.RunSQL(DERIVE_ATTEMPTS, reverse_sql=migrations.RunSQL.noop),
    ]
