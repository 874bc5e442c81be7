"""The pre-send suppression and subscription check (``suppression_check_p50_us``).

1M suppressions (scale 1.0; a tenth of them expiring, some already
expired, some erased digests) and 20k people (a tenth unsubscribed, some
deleted), a fifth of whose addresses are suppressed. Each sample is what the
pipeline's claim does for a chunk of 100 email messages before any provider
call: read the people's state and the suppressed addresses in one round
trip (``presend_reads``) and decide every message's verdict
(``_presend_events``), the real code of ``messaging.sending.pipeline``. The
figure is the median sample divided by 100: microseconds per message.
Target: ≤ 50 µs.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

from bench import common

BATCH = 100


def run(scale: float) -> dict:
    from django.db import connection
    from django.utils import timezone

    from messaging.models import Person
    from messaging.sending.services import _presend_events, presend_reads

    suppressions = max(10_000, int(1_000_000 * scale))
    people = max(2_000, int(20_000 * scale))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO messaging_suppression (address, reason, note, created_at, expires_at) "
            "SELECT 'user' || g || '@bench' || (g %% 97) || '.example', "
            "CASE WHEN g %% 10 = 0 THEN 'soft_bounce' ELSE 'hard_bounce' END, '', now(), "
            "CASE WHEN g %% 20 = 0 THEN now() - interval '1 day' "
            "WHEN g %% 10 = 0 THEN now() + interval '7 days' END "
            "FROM generate_series(1, %s) AS g",
            [suppressions],
        )
        cursor.execute(
            "INSERT INTO messaging_suppression (address, reason, note, created_at) "
            "SELECT 'sha256:' || encode(sha256(('erased' || g || '@bench.example')::bytea), 'hex'),"
            " 'erased', '', now() FROM generate_series(1, %s) AS g",
            [max(100, suppressions // 100)],
        )
        # Every fifth person's address is on the list (user<5k>@…).
        cursor.execute(
            "INSERT INTO messaging_person (external_id, email, phone, push_token, attributes, "
            "unsubscribed_at, deleted_at, created_at, updated_at) "
            "SELECT 'p' || g, "
            "CASE WHEN g %% 5 = 0 THEN 'user' || g || '@bench' || (g %% 97) || '.example' "
            "ELSE 'person' || g || '@example.net' END, '', '', '{}', "
            "CASE WHEN g %% 10 = 3 THEN now() END, CASE WHEN g %% 50 = 7 THEN now() END, "
            "now(), now() FROM generate_series(1, %s) AS g",
            [people],
        )
        # The steady state of a long-lived list: vacuumed (hint bits and the
        # visibility map set) and analysed, as autovacuum leaves it.
        cursor.execute("VACUUM (ANALYZE) messaging_suppression")
        cursor.execute("VACUUM (ANALYZE) messaging_person")
    # Only this module's people: earlier modules of the same run leave their
    # own (the pages' 200k), whose addresses are on no list.
    rows = list(Person.objects.filter(external_id__regex=r"^p[0-9]+$").values_list("id", "email"))
    rng = random.Random(14)
    batches = []
    for n in range(200):
        chosen = rng.sample(rows, BATCH)
        batches.append(
            [
                SimpleNamespace(
                    id=n * BATCH + i,
                    person_id=person_id,
                    channel="email",
                    address=email,
                    send_attempts=0,
                    queued_at=None,
                )
                for i, (person_id, email) in enumerate(chosen)
            ]
        )
    verdicts = []
    position = iter(range(10**9))

    def check() -> None:
        # Exactly the claim's reads and verdicts (messaging.sending.pipeline).
        batch = batches[next(position) % len(batches)]
        now = timezone.now()
        people, suppressed = presend_reads(batch, now)
        verdicts.append(len(_presend_events(batch, people, now, suppressed)))

    # One pass over every batch first: the index pages they touch are cached.
    p50 = common.p50_ms(check, repeat=len(batches), warmup=len(batches))
    per_message_us = p50 * 1000 / BATCH
    stopped = sum(verdicts) / len(verdicts)
    print(
        f"   {suppressions:,} suppressions, {people:,} people: "
        f"{per_message_us:.1f} µs per message ({stopped:.0f} of {BATCH} stopped per batch)",
        flush=True,
    )
    assert stopped > 10, "the bench's batches should hit the list"
    return {"suppression_check_p50_us": per_message_us}
