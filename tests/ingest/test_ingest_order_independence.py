"""Property-based, on the database: any permutation, any duplication and any
split into batches of the same events gives the same messages and counters.

The messages have been handed to their provider first (our pipeline's
attempt and send, stored before the provider is called), as every message a
provider or a recipient can report on has: engagement with a message never
handed over is refused when it arrives (DESIGN.md "Only a sent message can
be engaged with"), which is by design a judgement at arrival."""

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import ActionCounter, LinkCounter, SeriesCounter
from campaigns.vocabulary import Channel
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.models import Message, MessageEvent, Suppression
from messaging.status import STATUS_BEARING
from tests.factories import action, at, campaign, message, person
from tests.ingest.helpers import assert_no_drift, counters_snapshot

TYPES = sorted(STATUS_BEARING - {"queued", "drafted"}) + ["accepted", "deferred", "unknown"]
FIELDS = (
    "status",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "bounced_at",
    "bounce_type",
    "open_count",
    "click_count",
    "failure_reason",
    "sent_at",
    "converted_at",
)


def event_list(draw_spec, message_ids, link_ids):
    events = []
    for n, (index, type_, minute, machine, hard, link) in enumerate(draw_spec):
        message_id = message_ids[index % len(message_ids)]
        events.append(
            Event(
                type=type_,
                occurred_at=at(minute),
                idempotency_key=f"k{n}",
                source="provider",
                message_id=message_id,
                machine=machine,
                bounce_type=("hard" if hard else "soft") if type_ == "bounced" else "",
                reason=f"r{n}" if type_ in ("failed", "undeliverable") else "",
                link_id=link_ids[link % len(link_ids)] if type_ == "clicked" and link else None,
            )
        )
    return events


spec = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.sampled_from(TYPES),
        st.integers(1, 20),
        st.booleans(),
        st.booleans(),
        st.integers(0, 2),
    ),
    min_size=1,
    max_size=25,
)


KEPT = ("queued:0", "attempted:0", "sent:0")


def hand_over(ids):
    apply_events(
        [
            Event(type_, at(0), f"{type_}:0", "pipeline", message_id=message_id)
            for message_id in ids
            for type_ in ("attempted", "sent")
        ]
    )


def snapshot():
    messages = {m["id"]: m for m in Message.objects.values("id", *FIELDS)}
    return messages, counters_snapshot(), set(Suppression.objects.values_list("address", flat=True))


def reset(ids):
    MessageEvent.objects.filter(message_id__in=ids).exclude(idempotency_key__in=KEPT).delete()
    Suppression.objects.all().delete()
    ActionCounter.objects.all().delete()
    LinkCounter.objects.all().delete()
    SeriesCounter.objects.all().delete()
    # Back to "just queued": re-derive from the remaining events by replaying them.
    from messaging.reconcile import find_drift, repair

    drift, expected, drifted = find_drift()
    repair(None, drift, expected, drifted)


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=spec, seed=st.integers(0, 2**32), channel_mix=st.permutations(Channel.values))
def test_permutations_duplicates_and_batching_give_the_same_state(spec, seed, channel_mix):
    rnd = random.Random(seed)
    goal = campaign()
    msgs = [
        message(
            channel,
            action_obj=action(channel, campaign_obj=goal),
            person_obj=person(email=f"p{seed}-{i}@example.com"),
        )
        for i, channel in enumerate(channel_mix)
    ]
    ids = [m.id for m in msgs]
    link_ids = [link_id for m in msgs for link_id in m.action.links.values_list("id", flat=True)]
    link_ids = sorted(link_ids)[:2] or [None]
    events = event_list(spec, ids, link_ids)

    Suppression.objects.all().delete()  # examples share one database transaction
    hand_over(ids)
    apply_events(events)
    expected = snapshot()
    assert_no_drift()

    reset(ids)
    shuffled = events + rnd.sample(events, k=len(events) // 2)
    rnd.shuffle(shuffled)
    cut = rnd.randint(0, len(shuffled))
    apply_events(shuffled[:cut])
    apply_events(shuffled[cut:])
    apply_events(rnd.sample(events, k=min(3, len(events))))  # a late redelivery
    assert snapshot() == expected
    assert_no_drift()


@pytest.mark.django_db
def test_a_randomized_workload_of_ten_thousand_events_reconciles_with_zero_drift():
    rnd = random.Random(20261126)
    goal = campaign()
    actions = [action(channel, campaign_obj=goal) for channel in Channel.values]
    people = [person() for _ in range(60)]
    from messaging.sending import messages_create

    msgs = []
    for act in actions:
        msgs += messages_create(action=act, people=people)
    links = {act.id: list(act.links.values_list("id", flat=True)) for act in actions}
    events = []
    for n in range(10_000):
        msg = rnd.choice(msgs)
        type_ = rnd.choice(TYPES)
        events.append(
            Event(
                type=type_,
                occurred_at=at(rnd.randint(1, 60 * 24 * 3)),
                idempotency_key=f"w{n}",
                source="provider",
                message_id=msg.id,
                machine=rnd.random() < 0.1,
                bounce_type=rnd.choice(["hard", "soft"]) if type_ == "bounced" else "",
                link_id=rnd.choice(links[msg.action_id]) if type_ == "clicked" else None,
            )
        )
    deliveries = events + rnd.sample(events, k=3_000)  # duplicates
    rnd.shuffle(deliveries)
    for start in range(0, len(deliveries), 500):
        apply_events(deliveries[start : start + 500])
    assert MessageEvent.objects.exclude(idempotency_key="queued:0").count() == 10_000
    assert_no_drift()
    totals = Counter()
    for metric, value in ActionCounter.objects.values_list("metric", "value"):
        totals[metric] += value
    assert totals["messages"] == len(msgs)
    assert sum(v for k, v in totals.items() if k.startswith("current_")) == len(msgs)
