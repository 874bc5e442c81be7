"""Is recovery running? (DESIGN.md "The send pipeline" 7.)

- ``sweep_finished`` is what each sweeper task calls when it finishes: one
  row per sweeper (``SweepRun``) with the time and its report.
- ``health`` answers ``GET /healthz``: the database, the broker and the age
  of each sweeper's last run, with HTTP 503 when any of them is wrong.
- ``check_sweepers`` is the ``manage.py check --deploy`` warning: a
  deployment with workers whose sweepers have not run lately, or one with no
  broker (where nothing schedules them at all).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

SWEEP_MESSAGES = "sweep-messages"
SWEEP_WEBHOOKS = "sweep-webhooks"
# A sweeper is late after this many of its intervals without a run.
LATE_AFTER_INTERVALS = 3
BROKER_TIMEOUT_SECONDS = 2


def sweep_intervals() -> dict[str, int]:
    return {
        SWEEP_MESSAGES: settings.TIDINGS_SWEEP_INTERVAL_SECONDS,
        SWEEP_WEBHOOKS: settings.TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS,
    }


def workers_expected() -> bool:
    """Tasks go through a broker to workers (else they run in process and no
    scheduler exists)."""
    return not settings.CELERY_TASK_ALWAYS_EAGER


def sweep_finished(name: str, report: dict, *, now: datetime | None = None) -> None:
    from messaging.models import SweepRun

    SweepRun.objects.update_or_create(
        name=name, defaults={"finished_at": now or timezone.now(), "report": report}
    )


def sweepers_status(now: datetime | None = None) -> dict[str, dict]:
    """Each sweeper: when it last finished, how long ago, and whether that is late."""
    from messaging.models import SweepRun

    now = now or timezone.now()
    runs = dict(SweepRun.objects.values_list("name", "finished_at"))
    status = {}
    for name, interval in sweep_intervals().items():
        last = runs.get(name)
        age = (now - last).total_seconds() if last else None
        late = age is None or age > LATE_AFTER_INTERVALS * interval
        status[name] = {
            "last_finished_at": last.isoformat() if last else None,
            "age_seconds": round(age, 1) if age is not None else None,
            "interval_seconds": interval,
            "ok": not late,
        }
    return status


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "vendor": connection.vendor}


def _broker() -> dict:
    if not workers_expected():
        return {"ok": True, "detail": "no broker: tasks run in process (REDIS_URL unset)"}
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # kombu raises its own and the transport's errors
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def health(now: datetime | None = None) -> tuple[bool, dict]:
    database = _database()
    body: dict = {"database": database, "broker": _broker()}
    if not workers_expected():
        body["sweepers"] = {"ok": True, "detail": "not scheduled: no workers (REDIS_URL unset)"}
    elif database["ok"]:
        sweepers = sweepers_status(now)
        body["sweepers"] = {"ok": all(s["ok"] for s in sweepers.values()), **sweepers}
    else:
        body["sweepers"] = {"ok": False, "detail": "unknown: the database is unreachable"}
    ok = all(part["ok"] for part in body.values())
    body = {"status": "ok" if ok else "failing", **body}
    return ok, body


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """GET /healthz: 200 when the database and broker answer and the sweepers
    ran lately, else 503 with what is wrong. No login (a probe has none);
    it shows no data."""
    ok, body = health()
    return JsonResponse(body, status=200 if ok else 503)


def check_sweepers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``manage.py check --deploy``: recovery must run by itself."""
    if not workers_expected():
        return [
            checks.Warning(
                "REDIS_URL is not set: tasks run in the web process and no scheduler runs "
                "the sweepers (lost sends, stale attempts and unapplied webhooks are not "
                "recovered by themselves).",
                hint="Set REDIS_URL and run `make worker` (a worker with --beat).",
                id="messaging.W010",
            )
        ]
    try:
        status = sweepers_status()
    except DatabaseError as exc:
        return [
            checks.Warning(
                f"Cannot read when the sweepers last ran: {exc}",
                id="messaging.W011",
            )
        ]
    late = [name for name, s in status.items() if not s["ok"]]
    if not late:
        return []
    described = ", ".join(
        f"{name} (last {status[name]['last_finished_at'] or 'never'})" for name in late
    )
    return [
        checks.Warning(
            f"The sweepers have not run for {LATE_AFTER_INTERVALS} of their intervals: "
            f"{described}. Is a worker with --beat running?",
            hint="`make worker` starts one; GET /healthz shows the same.",
            id="messaging.W012",
        )
    ]
