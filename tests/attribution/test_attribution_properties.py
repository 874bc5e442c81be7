"""Properties: the stored conversions always equal the brute-force reading of
the credit rule over the final event set, whatever the order, duplicates,
late deliveries and bounces; and the conversion rate never exceeds 1."""

import random
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import AttributionRule
from campaigns.vocabulary import Channel
from messaging.attribution import CampaignGoal, Candidate, Goal, attribute, moments_of
from messaging.conversions import person_event_record
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.message_states import EVENT_FIELDS, fact_of
from messaging.models import Message, MessageEvent
from messaging.reattribution import reattribute_campaign
from messaging.status import EventFact
from tests.attribution.brute_force import credited_message
from tests.factories import T0, action, at, campaign, message, person
from tests.ingest.helpers import assert_no_drift, metrics

RULES = list(AttributionRule.values)
CHANNELS = [Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.AIRSHIP, Channel.SLACK]
KIND_TYPE = {"soft": "bounced", "hard": "bounced", "machine": "opened"}
EVENT_TYPES = ["sent", "delivered", "opened", "clicked", "soft", "hard", "failed", "machine"]


def _fact(kind: str, minute: int, key: str) -> EventFact:
    if kind in ("soft", "hard"):
        return EventFact("bounced", at(minute), key, bounce_type=kind)
    if kind == "machine":
        return EventFact("opened", at(minute), key, machine=True)
    return EventFact(kind, at(minute), key)


message_events = st.lists(
    st.tuples(st.sampled_from(EVENT_TYPES), st.integers(0, 300)), min_size=0, max_size=6
)


# --- The pure function against the brute force (many examples, no database) ----------


@settings(max_examples=400, deadline=None)
@given(
    rule=st.sampled_from(RULES),
    window=st.integers(1, 4),
    messages=st.lists(
        st.tuples(st.sampled_from(CHANNELS), st.sampled_from([1, 2]), message_events),
        min_size=1,
        max_size=6,
    ),
    goals=st.lists(
        st.tuples(st.sampled_from(["purchase", "signup"]), st.integers(0, 400)), max_size=4
    ),
)
def test_attribute_credits_what_the_brute_force_reading_of_the_rule_credits(
    rule, window, messages, goals
):
    campaigns = {
        1: CampaignGoal(1, "purchase", rule, window),
        2: CampaignGoal(2, "purchase", RULES[(RULES.index(rule) + 1) % 4], window + 1),
    }
    stored = []
    for n, (channel, campaign_id, events) in enumerate(messages):
        facts = [_fact(kind, minute, f"{n}-{i}") for i, (kind, minute) in enumerate(events)]
        stored.append((n, channel, campaign_id, facts))
    candidates = [
        Candidate(n, campaign_id, moments_of(channel, facts))
        for n, channel, campaign_id, facts in stored
    ]
    goal_list = [Goal(i, name, at(minute), f"goal:1:{i}") for i, (name, minute) in enumerate(goals)]

    credited = attribute(goal_list, campaigns, candidates)

    expected = {}
    for goal in goal_list:
        for campaign_id, goal_of in campaigns.items():
            if goal.name != goal_of.event:
                continue
            found = credited_message(
                rule=goal_of.rule,
                window_hours=goal_of.window_hours,
                goal_at=goal.occurred_at,
                messages=[(n, ch, facts) for n, ch, c, facts in stored if c == campaign_id],
            )
            if found is not None:
                expected[(goal.id, campaign_id)] = found
    assert credited == expected


# --- On the database: random order, duplicates, batches, goal events in between -------


def stored_conversions(message_ids):
    return set(
        MessageEvent.objects.filter(
            message_id__in=message_ids, type="converted", idempotency_key__startswith="goal:"
        ).values_list("message_id", "idempotency_key")
    )


def brute_force_conversions(campaigns, messages, goals):
    facts = {m.id: [] for m in messages}
    for row in MessageEvent.objects.filter(message_id__in=facts).values(*EVENT_FIELDS):
        facts[row["message_id"]].append(fact_of(row))
    expected = set()
    for goal_person, name, event_id, occurred_at in goals:
        for goal_campaign in campaigns:
            if goal_campaign.conversion_event != name:
                continue
            found = credited_message(
                rule=goal_campaign.attribution_rule,
                window_hours=goal_campaign.conversion_window_hours,
                goal_at=occurred_at,
                messages=[
                    (m.id, m.channel, facts[m.id])
                    for m in messages
                    if m.campaign_id == goal_campaign.id and m.person_id == goal_person.id
                ],
            )
            if found is not None:
                expected.add((found, f"goal:{goal_person.id}:{event_id}"))
    return expected


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=st.tuples(st.sampled_from(RULES), st.sampled_from(RULES)),
    windows=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    plan=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 3), message_events), min_size=1, max_size=5
    ),
    goal_plan=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from(["purchase", "signup"]), st.integers(0, 360)),
        max_size=4,
    ),
    seed=st.integers(0, 2**16),
    edit=st.tuples(st.sampled_from(RULES), st.integers(1, 3)),
)
def test_stored_conversions_equal_the_brute_force_attribution_of_the_final_event_set(
    rules, windows, plan, goal_plan, seed, edit
):
    shuffle = random.Random(seed)
    first = campaign(attribution_rule=rules[0], conversion_window_hours=windows[0])
    second = campaign(attribution_rule=rules[1], conversion_window_hours=windows[1])
    actions = [
        action(Channel.EMAIL, campaign_obj=first),
        action(Channel.SMS, campaign_obj=first),
        action(Channel.PUSH, campaign_obj=first),
        action(Channel.EMAIL, campaign_obj=second),
    ]
    people = [person(), person()]
    messages, events = [], []
    for n, (who, which, planned) in enumerate(plan):
        msg = message(action_obj=actions[which], person_obj=people[who], now=T0)
        messages.append(msg)
        for i, (kind, minute) in enumerate(planned):
            events.append(
                Event(
                    type=KIND_TYPE.get(kind, kind),
                    occurred_at=at(minute),
                    idempotency_key=f"e{n}-{i}",
                    source="provider",
                    message_id=msg.id,
                    machine=kind == "machine",
                    bounce_type=kind if kind in ("soft", "hard") else "",
                    reason="r" if kind == "failed" else "",
                )
            )
    goals = [
        (people[who], name, f"order-{i}", at(minute))
        for i, (who, name, minute) in enumerate(goal_plan)
    ]
    # Any order, duplicates (of events and of goal events), any batches, the
    # goal events in between.
    work = [("event", e) for e in events] + [("goal", g) for g in goals]
    work += [item for item in work if shuffle.random() < 0.3]
    shuffle.shuffle(work)
    batch = []
    for kind, item in work:
        if kind == "event":
            batch.append(item)
            if shuffle.random() < 0.4:
                apply_events(batch)
                batch = []
        else:
            apply_events(batch)
            batch = []
            who, name, event_id, occurred_at = item
            person_event_record(person=who, name=name, occurred_at=occurred_at, event_id=event_id)
    apply_events(batch)

    ids = [m.id for m in messages]
    campaigns = [first, second]
    assert stored_conversions(ids) == brute_force_conversions(campaigns, messages, goals)
    for each in campaigns:
        rate = metrics(each)["rates"]["conversion"]
        assert rate is None or 0 <= rate <= 1
        assert_no_drift(each.id)

    # An edit of the rule and window: attributed again, still the brute force.
    first.attribution_rule, first.conversion_window_hours = edit
    first.save()
    reattribute_campaign(first.id, batch=1)
    assert stored_conversions(ids) == brute_force_conversions(campaigns, messages, goals)
    assert_no_drift(first.id)
    converted = Message.objects.filter(id__in=ids, converted_at__isnull=False).count()
    assert converted == len({m for m, _ in stored_conversions(ids)})


def test_the_window_runs_to_the_goal_inclusive():
    moments = moments_of(Channel.PUSH, [EventFact("sent", T0, "s")])
    candidates = [Candidate(1, 1, moments)]
    goal_of = {1: CampaignGoal(1, "purchase", "last_reached", 2)}
    on_the_edge = Goal(1, "purchase", T0 + timedelta(hours=2), "goal:1:a")
    past_it = Goal(2, "purchase", T0 + timedelta(hours=2, seconds=1), "goal:1:b")
    at_the_moment = Goal(3, "purchase", T0, "goal:1:c")
    assert attribute([on_the_edge, past_it, at_the_moment], goal_of, candidates) == {
        (1, 1): 1,
        (3, 1): 1,
    }
