"""Shared set-up for the benchmarks: a fresh PostgreSQL database, migrated."""

import os
import statistics
import subprocess
import time
from collections.abc import Callable

import dj_database_url
import psycopg

# Every figure of this run so far (bench.__main__ fills it after each module):
# a module reports its ratio against a figure measured in the same run.
FIGURES: dict[str, float] = {}


def fresh_database() -> None:
    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = config["NAME"]
    admin = psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def p50_ms(fn: Callable[[], object], *, repeat: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def rate(count: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def stop(process: subprocess.Popen) -> None:
    """Terminates a server or worker the benchmark started, killing it if it
    does not stop within 30 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def email_messages(
    name: str, n: int, *, domains: tuple[str, ...] = ("example.com",), **campaign_fields
):
    """A campaign with one email action and ``n`` messages created by the
    pipeline's own messages_create, backdated to 2026-11-01, one recipient
    each (addresses cycling through ``domains``): (campaign, action, messages)."""
    from datetime import UTC, datetime

    from campaigns.models import Action, Campaign
    from campaigns.vocabulary import Channel
    from messaging.models import Person
    from messaging.sending import messages_create

    campaign = Campaign.objects.create(name=f"bench {name}", **campaign_fields)
    action = Action.objects.create(
        campaign=campaign, name="email", channel=Channel.EMAIL, subject="s", body="b"
    )
    people = Person.objects.bulk_create(
        [
            Person(external_id=f"bench-{name}-{i}", email=f"b{i}@{domains[i % len(domains)]}")
            for i in range(n)
        ],
        batch_size=5000,
    )
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    messages = []
    for start in range(0, n, 5000):
        messages += messages_create(
            action=action, people=people[start : start + 5000], now=t0, backdate=True
        )
    return campaign, action, messages
