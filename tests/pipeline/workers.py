"""A real Celery worker process for the integration tests: `celery -A config
worker` on the Redis broker from REDIS_URL and the PostgreSQL test database
this test run uses (so the test must commit: transactional_db)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def redis_url() -> str:
    """REDIS_URL, or skip locally; under CI a missing Redis fails the test."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI=true but REDIS_URL is unset: the worker tests need Redis.")
        pytest.skip("REDIS_URL is unset: the worker tests need Redis (CI runs them).")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {url} is not reachable: {exc}")
        pytest.skip(f"Redis at {url} is not reachable: {exc}")
    return url


def require_postgresql() -> None:
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI=true but the tests run on SQLite: the worker tests need PostgreSQL.")
        pytest.skip("A worker process shares the test database only on PostgreSQL.")


def broker_for_workers(settings):
    """The body of a ``broker`` fixture: a flushed Redis broker that worker
    processes share with this test (tasks no longer run eagerly); yields its
    URL and flushes it again afterwards."""
    require_postgresql()
    url = redis_url()
    flush_broker(url)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    yield url
    flush_broker(url)


def test_database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


class WorkerProcess:
    def __init__(self, env: dict[str, str], concurrency: int = 2, extra_args: tuple = ()):
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open while it runs
            prefix="celery-worker-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                *extra_args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Its own process group, so a SIGKILL takes the pool children too.
            start_new_session=True,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited at start:\n{self.output()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool: no shutdown, no acks."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def worker_env(broker: str, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TIDINGS_", "CELERY_", "PYTEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.test_settings",
        SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=test_database_url(),
        REDIS_URL=broker,
        TIDINGS_PROVIDERS="capture",
        CELERY_SKIP_CHECKS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def flush_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def wait_until(predicate, *, timeout: float, interval: float = 0.1, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout}s")
