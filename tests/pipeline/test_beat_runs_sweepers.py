"""Integration: `make worker` (a Celery worker with --beat) on PostgreSQL and
Redis with SECRET_KEY set — the production settings, no var/ directory
involved — runs its sweepers by itself; a worker whose scheduler cannot run
refuses to start, loudly (DESIGN.md "The send pipeline" 7)."""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.utils import timezone

from messaging.health import SWEEP_MESSAGES, SWEEP_WEBHOOKS
from messaging.models import SweepRun
from tests.pipeline.workers import (
    ROOT,
    WorkerProcess,
    flush_broker,
    redis_url,
    require_postgresql,
    wait_until,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def production_env(broker: str, **overrides: str) -> dict[str, str]:
    env = worker_env(broker, **overrides)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"  # not the test settings
    env["SECRET_KEY"] = "a-production-like-secret-key-for-this-test-only"
    env["DEBUG"] = "false"
    env.pop("CELERY_SKIP_CHECKS", None)
    return env


def test_a_fresh_worker_with_beat_on_postgresql_and_redis_runs_both_sweepers_by_itself():
    require_postgresql()
    broker = redis_url()
    flush_broker(broker)
    schedule_file = ROOT / "var" / "celerybeat-schedule"
    existed = schedule_file.exists()
    started = timezone.now()
    worker = WorkerProcess(
        production_env(
            broker,
            TIDINGS_SWEEP_INTERVAL_SECONDS="1",
            TIDINGS_WEBHOOK_SWEEP_INTERVAL_SECONDS="1",
        ),
        extra_args=("--beat",),
    )
    try:
        worker.wait_ready()
        wait_until(
            lambda: (
                SweepRun.objects.filter(
                    name__in=[SWEEP_MESSAGES, SWEEP_WEBHOOKS], finished_at__gte=started
                ).count()
                == 2
            ),
            timeout=30,
            message="the sweepers did not run",
        )
        # And they keep running: a later run of each.
        first = dict(SweepRun.objects.values_list("name", "finished_at"))
        wait_until(
            lambda: all(
                SweepRun.objects.get(name=name).finished_at > first[name]
                for name in (SWEEP_MESSAGES, SWEEP_WEBHOOKS)
            ),
            timeout=30,
            message="the sweepers ran once and stopped",
        )
        output = worker.output()
        assert "FileNotFoundError" not in output
        assert "beat: Starting" in output
    finally:
        worker.stop()
        flush_broker(broker)
    # Beat kept its schedule in memory: it wrote no file.
    assert schedule_file.exists() == existed


def test_a_worker_whose_scheduler_cannot_run_refuses_to_start_and_says_why():
    require_postgresql()
    broker = redis_url()
    missing = Path(tempfile.gettempdir()) / "tidings-no-such-directory" / "celerybeat-schedule"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--beat",
            "--scheduler=celery.beat:PersistentScheduler",
            f"--schedule={missing}",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=production_env(broker),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "the sweepers would never run" in result.stderr + result.stdout
