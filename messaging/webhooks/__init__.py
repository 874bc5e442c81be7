"""Webhooks: provider callbacks in, stored raw, applied as normalised events.

- ``providers/``: one module per provider (SendGrid, Twilio, Mailgun,
  Postmark, SES/SNS): parse request bytes into normalised events and verify
  signatures; they never touch the database;
- ``inbox``: the raw-request inbox (stored and committed first, then applied
  through ``messaging.ingest``), waiting callbacks and the sweeper;
- ``views`` / ``urls``: the endpoints; ``tasks``: the sweeper's Celery task.

May import: the core (``messaging.models``, ``events``, ``ingest``) and
``campaigns.vocabulary``. Never imports ``messaging.sending``,
``messaging.tracking`` or ``messaging.audience``.
"""
