"""Reporting webhooks (DESIGN.md "Reporting webhooks (data out)"): customers'
systems receive message events, signed per Standard Webhooks.

- ``models``: the endpoints, the outbox (one notification per subscribed
  event) and the delivery attempts;
- ``outbox``: called by ``messaging.ingest`` (and the conversions it runs)
  inside the batch's transaction, so a rolled-back batch notifies nothing;
- ``delivery``: claims due notifications (``SKIP LOCKED``), posts them outside
  any transaction, records the outcome, backs off, disables dead endpoints;
- ``payload``: the notification's JSON body, the message as the API's
  detail shows it (but its events), read for a whole batch;
- ``signing``: secrets and the Standard Webhooks headers;
- ``services``: what the API, the admin and the demo call;
- edges: ``api``, ``serializers``, ``admin``, ``tasks``, ``devinbox``.

It may import the messaging core (models, serializers; for the payload's
computed fields, ``sending.rendering`` and ``conversions``, as the API's
detail does) and config; nothing in the core imports it except
``ingest``/``conversions`` (the outbox write).
"""
