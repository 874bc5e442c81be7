"""Tracking: what a recipient's device hits.

- ``tokens``: signed tokens and the URLs of the open pixel and click redirect;
- ``views`` / ``urls``: the pixel and the redirect, and ``recipient_event``,
  the one builder of a recipient's open or click (the simulator uses it too);
- ``bots``: the machine-traffic rules (HEAD requests, known bot user agents);
- ``unsubscribe``: one-click unsubscribe (RFC 8058), ``/u/<token>``.

May import: the core (``messaging.models``, ``events``, ``ingest``),
``campaigns`` and the audience services (an unsubscribe). Never imports
``messaging.sending`` or ``messaging.webhooks``.
"""
