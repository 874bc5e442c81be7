"""Counters stay exact when several writers apply overlapping batches at once."""

import random
import threading

import pytest
from django.db import connection, connections

from campaigns.vocabulary import Channel
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.models import Message
from messaging.sending import messages_create
from tests.factories import action, at, campaign, person
from tests.ingest.helpers import assert_no_drift

TYPES = ["attempted", "sent", "delivered", "opened", "clicked", "bounced", "converted"]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL's row locks"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_batches_leave_no_drift():
    goal = campaign()
    actions = [action(channel, campaign_obj=goal) for channel in (Channel.EMAIL, Channel.SMS)]
    people = [person() for _ in range(40)]
    messages = [
        m
        for act in actions
        for m in messages_create(action=act, people=people, now=at(0), backdate=True)
    ]
    rnd = random.Random(5)
    events = []
    for n in range(1500):
        type_ = rnd.choice(TYPES)
        events.append(
            Event(
                type=type_,
                occurred_at=at(rnd.randint(1, 500)),
                idempotency_key=f"c{n}",
                source="provider",
                message_id=rnd.choice(messages).id,
                bounce_type=rnd.choice(["hard", "soft"]) if type_ == "bounced" else "",
            )
        )
    errors = []

    def writer(seed):
        local = random.Random(seed)
        mine = events + local.sample(events, 300)
        local.shuffle(mine)
        try:
            for start in range(0, len(mine), 100):
                apply_events(mine[start : start + 100])
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_no_drift()
    assert Message.objects.filter(campaign=goal).count() == 80
