"""Writers of one campaign stay parallel (DESIGN.md "Scale").

8 ingest processes (scale 1.0: 10,000 events each, batches of 1,000 —
attempted, sent, delivered, opened, clicked for 2,000 messages a process)
run at once, twice: all writing messages of ONE action (so every batch moves
the same counter rows), then each writing its own action. The ratio of the
two event rates is `ingest_concurrency_ratio`; 1.0 means one campaign's
writers never wait for each other. Each process builds its events first and
starts on the same signal; the wall time runs from that signal until the
last process has committed."""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime

WRITERS = 8
BATCH = 1000
TYPES = ("attempted", "sent", "delivered", "opened", "clicked")


def _setup(n_per_writer: int, tag: str) -> tuple[list[list[int]], list[list[int]]]:
    from campaigns.models import Action, Campaign
    from campaigns.vocabulary import Channel
    from messaging.models import Person
    from messaging.sending import messages_create

    t0 = datetime(2026, 11, 1, tzinfo=UTC)

    def messages_for(action, count, tag):
        people = Person.objects.bulk_create(
            [
                Person(external_id=f"bench-conc-{tag}-{i}", email=f"c{tag}-{i}@example.com")
                for i in range(count)
            ],
            batch_size=5000,
        )
        return [m.id for m in messages_create(action=action, people=people, now=t0)]

    def action_of(campaign, name):
        return Action.objects.create(
            campaign=campaign, name=name, channel=Channel.EMAIL, subject="s", body="b"
        )

    one = action_of(Campaign.objects.create(name=f"bench one action {tag}"), "shared")
    shared = messages_for(one, n_per_writer * WRITERS, f"{tag}-one")
    same = [shared[i::WRITERS] for i in range(WRITERS)]
    many_campaign = Campaign.objects.create(name=f"bench many actions {tag}")
    separate = [
        messages_for(action_of(many_campaign, f"own {i}"), n_per_writer, f"{tag}-many{i}")
        for i in range(WRITERS)
    ]
    return same, separate


def _run_writers(groups: list[list[int]]) -> float:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.concurrency", "write", ",".join(map(str, ids))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for ids in groups
    ]
    for process in processes:  # each says "ready" once its events are built
        assert process.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        process.wait()
        if process.returncode:
            raise RuntimeError(f"an ingest writer failed ({process.returncode})")
    return time.perf_counter() - started


def _write(ids: list[int]) -> None:
    """One writer process: events for its messages, applied in batches."""
    import random
    from datetime import timedelta

    import django

    django.setup()
    from messaging.events import Event
    from messaging.ingest import apply_events

    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    rnd = random.Random(ids[0])
    events = [
        Event(
            type=type_,
            occurred_at=t0 + timedelta(minutes=offset + rnd.random()),
            idempotency_key=f"bench:{type_}",
            source="provider",
            message_id=message_id,
            detail={"event": type_},
        )
        for message_id in ids
        for offset, type_ in enumerate(TYPES)
    ]
    rnd.shuffle(events)
    from django.db import connection

    connection.ensure_connection()
    print("ready", flush=True)
    sys.stdin.readline()
    for start in range(0, len(events), BATCH):
        apply_events(events[start : start + BATCH])


def run(scale: float) -> dict:
    n_per_writer = max(int(2000 * scale), 50)
    rounds = [_setup(n_per_writer, tag) for tag in ("a", "b")]
    events = n_per_writer * len(TYPES) * WRITERS
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    # Two rounds in alternating order (one, own, own, one), so neither
    # scenario always meets the smaller table.
    (same_a, own_a), (same_b, own_b) = rounds
    one_seconds = _run_writers(same_a)
    own_seconds = _run_writers(own_a) + _run_writers(own_b)
    one_seconds += _run_writers(same_b)
    one_action = 2 * events / one_seconds
    own_actions = 2 * events / own_seconds
    return {
        "ingest_8_writers_one_action_events_per_s": round(one_action, 1),
        "ingest_8_writers_own_actions_events_per_s": round(own_actions, 1),
        "ingest_concurrency_ratio": round(one_action / own_actions, 3),
    }


if __name__ == "__main__" and sys.argv[1:2] == ["write"]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    _write([int(i) for i in sys.argv[2].split(",")])
