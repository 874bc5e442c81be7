"""Property-based: the status engine is a function of the set of events."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import channels
from campaigns.vocabulary import Channel
from messaging.status import (
    AFTER_SEND_TYPES,
    RANK,
    STATUS_BEARING,
    STATUS_CLASS,
    EventFact,
    compute_state,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TYPES = [*sorted(STATUS_BEARING), "accepted", "deferred", "unknown", "refused"]

fact_strategy = st.builds(
    lambda type_, minute, key, machine, bounce, link, attempt: EventFact(
        type=type_,
        occurred_at=T0 + timedelta(minutes=minute),
        key=key,
        machine=machine,
        bounce_type=bounce if type_ == "bounced" else "",
        link_id=link if type_ == "clicked" else None,
        attempt=attempt,
    ),
    st.sampled_from(TYPES),
    st.integers(0, 30),  # few distinct minutes: many ties
    st.text("abcdef", min_size=1, max_size=3),
    st.booleans(),
    st.sampled_from(["hard", "soft"]),
    st.sampled_from([None, 1, 2]),
    st.integers(1, 3),
)


def unique_by_key(facts):
    seen = {}
    for fact in facts:
        seen.setdefault(fact.key, fact)
    return list(seen.values())


event_sets = st.lists(fact_strategy, max_size=14).map(unique_by_key)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(Channel.values), event_sets, st.randoms())
def test_any_permutation_and_duplication_gives_the_same_state(channel, facts, rnd):
    expected = compute_state(channel, facts)
    shuffled = facts + [rnd.choice(facts) for _ in range(len(facts) // 2)] if facts else []
    rnd.shuffle(shuffled)
    assert compute_state(channel, shuffled) == expected


def brute_force_status(channel, facts):
    """DESIGN.md read literally: among the counting events (pipeline and
    hand-over events of the latest attempt only), the one that no other beats
    on (class, verdict, occurred_at, rank, key), compared component by
    component; a verdict is a failed, undeliverable or suppressed event."""
    bearing = [
        f
        for f in facts
        if f.type in STATUS_BEARING and not f.machine and channels.accepts_event(channel, f.type)
    ]
    attempts = [f.attempt for f in bearing if STATUS_CLASS[f.type] <= 1]
    if attempts:
        bearing = [f for f in bearing if STATUS_CLASS[f.type] > 1 or f.attempt == max(attempts)]
    for candidate in bearing:
        beaten = False
        for other in bearing:
            if other is candidate:
                continue
            for mine, theirs in (
                (STATUS_CLASS[candidate.type], STATUS_CLASS[other.type]),
                (candidate.type in VERDICTS, other.type in VERDICTS),
                (candidate.occurred_at, other.occurred_at),
                (RANK[candidate.type], RANK[other.type]),
                (candidate.key, other.key),
            ):
                if mine != theirs:
                    beaten = theirs > mine
                    break
            if beaten:
                break
        if not beaten:
            return candidate.type
    return None


VERDICTS = {"failed", "undeliverable", "suppressed"}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(Channel.values), event_sets)
def test_the_engine_agrees_with_a_brute_force_reading_of_the_rule(channel, facts):
    assert compute_state(channel, facts).status == brute_force_status(channel, facts)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(Channel.values), event_sets, st.booleans())
def test_milestones_respect_the_funnel(channel, facts, opens):
    # sent ≥ delivered ≥ opened ≥ clicked, for every message (DESIGN.md):
    # whatever reached the provider's verdict or the recipient was sent.
    state = compute_state(channel, facts, opens=opens)
    if state.status in AFTER_SEND_TYPES:
        assert state.at("sent") is not None
    for milestone in AFTER_SEND_TYPES:
        if state.at(milestone) is not None:
            assert state.at("sent") is not None, milestone
    if channels.opens_tracked(channel, opens) and state.at("clicked"):
        assert state.at("opened") is not None and state.at("opened") <= state.at("clicked")
        assert state.open_count >= 1
    if channels.reports_delivery(channel) and state.at("opened"):
        assert state.at("delivered") is not None and state.at("delivered") <= state.at("opened")
    if not channels.opens_tracked(channel, opens):
        assert state.at("opened") is None and state.open_count == 0


# --- Attempts and provider verdicts (issue 10) ------------------------------------

OUR_SEND = T0 + timedelta(hours=1, milliseconds=700)
skews = st.integers(-300, 300)  # the provider's clock against ours, in seconds


def provider_time(offset: int, skew: int):
    # Providers date in whole seconds, on their own clock.
    moment = OUR_SEND + timedelta(seconds=offset + skew)
    return moment.replace(microsecond=0)


@settings(max_examples=300, deadline=None)
@given(
    # Suppression is for email only (the capability table).
    st.sampled_from(
        [(Channel.EMAIL, "failed"), (Channel.EMAIL, "suppressed"), (Channel.SMS, "failed")]
        + [(channel, "undeliverable") for channel in Channel.values]
    ),
    st.integers(1, 4),
    skews,
    st.lists(st.sampled_from(["accepted", "deferred", "unknown", "refused"]), max_size=3),
)
def test_a_provider_failure_always_wins_over_our_sent_of_the_same_attempt(
    verdict_on, attempt, skew, history
):
    channel, verdict = verdict_on
    earlier = [
        EventFact("queued", T0, "queued:0"),
        EventFact("attempted", T0 + timedelta(seconds=1), "attempted:0"),
        EventFact("failed", T0 + timedelta(seconds=2), "failed:0"),
    ]
    facts = [
        *(earlier if attempt > 1 else []),
        EventFact("queued", OUR_SEND - timedelta(seconds=2), f"q{attempt}", attempt=attempt),
        EventFact("attempted", OUR_SEND - timedelta(seconds=1), f"a{attempt}", attempt=attempt),
        EventFact("sent", OUR_SEND, f"s{attempt}", attempt=attempt),
        EventFact(verdict, provider_time(0, skew), "provider-verdict", attempt=attempt),
        *(
            EventFact(kind, provider_time(n, skew), f"h{n}", attempt=attempt)
            for n, kind in enumerate(history)
        ),
    ]
    state = compute_state(channel, facts)
    assert state.status == verdict
    assert state.at("sent") is None


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(Channel.values),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["delivered", "bounced", "failed", "opened", "clicked", "converted", "spammed"]
            ),
            st.integers(0, 3 * 3600),
        ),
        max_size=8,
    ),
    skews,
    skews,
    st.integers(1, 3),
    st.randoms(),
)
def test_the_status_is_independent_of_arrival_order_and_of_the_skew_inside_an_attempt(
    channel, provider_events, skew_a, skew_b, attempt, rnd
):
    def facts(skew):
        ours = [
            EventFact("queued", OUR_SEND - timedelta(seconds=2), "q", attempt=attempt),
            EventFact("attempted", OUR_SEND - timedelta(seconds=1), "a", attempt=attempt),
            EventFact("sent", OUR_SEND, "s", attempt=attempt),
        ]
        theirs = [
            EventFact(kind, provider_time(offset, skew), f"p{n}", attempt=attempt)
            for n, (kind, offset) in enumerate(provider_events)
        ]
        return ours + theirs

    shuffled = facts(skew_b)
    rnd.shuffle(shuffled)
    assert compute_state(channel, facts(skew_a)).status == compute_state(channel, shuffled).status
