"""The Celery app: broker and every setting from Django's settings (the
CELERY_ namespace); tasks live in the tasks.py of each capability package
(messaging, messaging.sending, messaging.webhooks, messaging.audience,
messaging.reporting)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tidings")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(
    [
        "messaging",
        "messaging.sending",
        "messaging.webhooks",
        "messaging.audience",
        "messaging.reporting",
    ]
)


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


@signals.worker_init.connect
def _scheduler_must_run(sender=None, **kwargs):
    """DESIGN.md "The send pipeline" 7: a worker started with --beat whose
    scheduler cannot run stops at start-up, loudly, instead of running on
    with its sweepers silently dead (beat runs in a child process that can
    die alone)."""
    import logging

    from celery.utils.imports import symbol_by_name

    logger = logging.getLogger("tidings.beat")
    if sender is None or not sender.options.get("beat"):
        logger.warning(
            "This worker runs no beat (no --beat): the sweepers run only if a "
            "`celery -A config beat` runs elsewhere."
        )
        return
    scheduler_cls = symbol_by_name(sender.scheduler or sender.app.conf.beat_scheduler)
    try:
        scheduler = scheduler_cls(
            app=sender.app, schedule_filename=sender.schedule_filename, lazy=False
        )
        scheduler.close()
    except Exception as exc:
        logger.critical("The beat scheduler cannot run, so no sweeper would: %r", exc)
        raise SystemExit(
            f"Tidings: the beat scheduler {scheduler_cls.__name__} cannot start ({exc!r}); "
            "the sweepers would never run. Fix it, or start the worker without --beat "
            "and run `celery -A config beat` elsewhere."
        ) from exc
