"""Audience: who may be sent to, and the trail of every change to it.

- ``suppression``: the suppression list (expiring entries, SHA-256 digests of
  erased addresses) and person state as services, and the batch check the
  pre-send step uses;
- ``subscription``: unsubscribe and resubscribe (scope: the channels
  addressed to the person);
- ``audit`` / ``audit_models``: the append-only audit trail, written by the
  same calls that make each change;
- ``effects``: what a batch of provider events does to the lists (hard
  bounce and spam → suppressed, unsubscribe / resubscribe, the soft-bounce
  policy), called by ``messaging.ingest`` inside its transaction;
- ``erase``: a data-protection erase in one transaction;
- ``suppression_csv``: import and export; ``api`` / ``admin``: the edges of
  the audit trail, resubscribe and erase; ``tasks``: the expiry sweeper.

May import: the core (``messaging.models``, ``events``) and Django. Never
imports ``messaging.sending``, ``messaging.webhooks`` or
``messaging.tracking``. The core imports only ``effects`` (ingest's side
effects) and the audit model (so Django finds it).
"""
