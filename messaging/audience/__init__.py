"""Audience: who may be sent to.

- ``suppression``: the suppression list and person state (unsubscribe,
  delete) as services, and the batch check the pre-send step uses;
- ``suppression_csv``: import and export of the suppression list.

May import: the core (``messaging.models``) and Django. Never imports
``messaging.sending``, ``messaging.webhooks`` or ``messaging.tracking``.
"""
