"""The Celery app: broker and every setting from Django's settings (the
CELERY_ namespace); tasks live in the tasks.py of each capability package
(messaging.sending, messaging.webhooks)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tidings")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["messaging.sending", "messaging.webhooks", "messaging.audience"])


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(sender=None, **kwargs):
    # CELERY_DB_REUSE_MAX keeps connections across tasks; like Django between
    # requests, drop only those that are broken or older than CONN_MAX_AGE
    # (and any left inside a failed transaction).
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
