"""Re-attribution throughput: a campaign with 100k goal events and 200k
messages (scale 1.0), attributed again after an edit of its window.

100k people, two emails each (the first delivered at the start, the second
two hours later, half of the second ones opened), one purchase per person
somewhere in the next 30 hours. The data is written directly (bulk inserts
of messages, their events and the goal events); the conversions are first
attributed with the default window (168 h), then the window is cut to 24 h
and the campaign's goal events are attributed again: that run is timed, as
the Celery task runs it (batches of 1,000 people, one transaction each)."""

import random
import time
from datetime import UTC, datetime, timedelta


def run(scale: float) -> dict:
    from campaigns.models import Action, Campaign
    from campaigns.vocabulary import Channel, Status
    from messaging import counters
    from messaging.models import Message, MessageEvent, Person, PersonEvent
    from messaging.reattribution import reattribute_campaign

    n_people = int(100_000 * scale)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    rnd = random.Random(11)
    campaign = Campaign.objects.create(name="bench attribution", conversion_event="purchase")
    action = Action.objects.create(
        campaign=campaign, name="email", channel=Channel.EMAIL, subject="s", body="b"
    )
    people = Person.objects.bulk_create(
        [Person(external_id=f"bench-attr-{i}", email=f"a{i}@example.com") for i in range(n_people)],
        batch_size=5000,
    )
    plans = []
    for person in people:
        opened = rnd.random() < 0.5
        for sent_at, opened_at in ((t0, None), (t0 + timedelta(hours=2), opened)):
            plans.append((person.id, sent_at, opened_at))
    messages = Message.objects.bulk_create(
        [
            Message(
                campaign=campaign,
                action=action,
                person_id=person_id,
                channel=Channel.EMAIL,
                address="x@example.com",
                status=Status.OPENED if opened else Status.DELIVERED,
                queued_at=sent_at,
                sent_at=sent_at,
                delivered_at=sent_at + timedelta(minutes=1),
                opened_at=sent_at + timedelta(hours=1) if opened else None,
                open_count=1 if opened else 0,
            )
            for person_id, sent_at, opened in plans
        ],
        batch_size=5000,
    )
    fields = (
        "message",
        "type",
        "occurred_at",
        "received_at",
        "source",
        "idempotency_key",
        "machine",
        "link",
        "bounce_type",
        "reason",
        "provider",
        "detail",
        "attempt",
        "message_created_at",
    )
    rows = []
    for message, (_, sent_at, opened) in zip(messages, plans, strict=True):
        delivered = sent_at + timedelta(minutes=1)
        steps = [("queued", sent_at), ("sent", sent_at), ("delivered", delivered)]
        if opened:
            steps.append(("opened", sent_at + timedelta(hours=1)))
        rows += [
            (
                message.id,
                *(kind, moment, t0, "provider", kind, False, None, "", "", "", {}, 1),
                message.created_at,
            )
            for kind, moment in steps
        ]
    for start in range(0, len(rows), 20_000):
        counters.bulk_insert(MessageEvent, rows[start : start + 20_000], fields)
    PersonEvent.objects.bulk_create(
        [
            PersonEvent(
                person=person,
                name="purchase",
                event_id=f"order-{person.id}",
                occurred_at=t0 + timedelta(minutes=rnd.randint(10, 30 * 60)),
            )
            for person in people
        ],
        batch_size=5000,
    )

    from django.db import connection

    with connection.cursor() as cursor:
        # Fresh bulk-loaded tables: the statistics autovacuum would gather.
        cursor.execute("ANALYZE")
    first = reattribute_campaign(campaign.id)
    Campaign.objects.filter(pk=campaign.pk).update(conversion_window_hours=24)
    started = time.perf_counter()
    again = reattribute_campaign(campaign.id)
    elapsed = time.perf_counter() - started
    return {
        "reattribute_goal_events": again.goals,
        "reattribute_changed_conversions": again.added + again.removed,
        "reattribute_first_added": first.added,
        "reattribute_goal_events_per_s": round(again.goals / elapsed, 1),
    }
