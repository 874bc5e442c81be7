"""The status engine, rule by rule (DESIGN.md "Status rules"), on plain facts."""

from datetime import UTC, datetime, timedelta

from campaigns.vocabulary import Channel
from messaging.status import EventFact, compute_state, implied_events

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def fact(type_, minutes=0, key=None, **kw):
    return EventFact(
        type=type_,
        occurred_at=T0 + timedelta(minutes=minutes),
        key=key or f"{type_}-{minutes}",
        **kw,
    )


def journey(*facts):
    return [fact("queued", 0), fact("attempted", 1), fact("sent", 2), *facts]


def test_a_later_stage_wins_over_an_earlier_one_whatever_the_clocks_say():
    # The provider's clock reads earlier than our "sent": delivered still wins.
    state = compute_state(Channel.EMAIL, journey(fact("delivered", 1.5)))
    assert state.status == "delivered"


def test_a_late_delivery_never_hides_an_open():
    state = compute_state(Channel.EMAIL, journey(fact("opened", 5), fact("delivered", 60)))
    assert state.status == "opened"
    assert state.at("delivered") == T0 + timedelta(minutes=5)


def test_a_click_implies_an_open_at_the_same_instant_on_email():
    state = compute_state(Channel.EMAIL, journey(fact("delivered", 3), fact("clicked", 10)))
    assert state.status == "clicked"
    assert state.at("opened") == state.at("clicked") == T0 + timedelta(minutes=10)
    assert state.open_count == 1
    assert implied_events(Channel.EMAIL, journey(fact("delivered", 3), fact("clicked", 10))) == [
        ("opened", T0 + timedelta(minutes=10))
    ]


def test_a_click_implies_an_open_on_push():
    state = compute_state(Channel.PUSH, journey(fact("clicked", 10)))
    assert state.at("opened") == T0 + timedelta(minutes=10)
    assert state.open_count == 1


def test_a_click_never_implies_an_open_on_sms():
    state = compute_state(Channel.SMS, journey(fact("delivered", 3), fact("clicked", 10)))
    assert state.at("opened") is None
    assert state.open_count == 0
    assert state.status == "clicked"


def test_engagement_implies_delivery_on_email_and_sms_only():
    for channel in (Channel.EMAIL, Channel.SMS):
        state = compute_state(channel, journey(fact("clicked", 10)))
        assert state.at("delivered") == T0 + timedelta(minutes=10), channel
    state = compute_state(Channel.PUSH, journey(fact("clicked", 10)))
    assert state.at("delivered") is None


def test_an_earlier_real_open_counts_and_a_click_adds_no_second_open():
    state = compute_state(
        Channel.EMAIL, journey(fact("opened", 4), fact("opened", 6), fact("clicked", 10))
    )
    assert state.at("opened") == T0 + timedelta(minutes=4)
    assert state.open_count == 2
    assert state.click_count == 1


def test_a_soft_bounce_followed_by_a_delivery_reads_delivered():
    state = compute_state(
        Channel.EMAIL, journey(fact("bounced", 3, bounce_type="soft"), fact("delivered", 30))
    )
    assert state.status == "delivered"
    assert state.bounce_type == "soft"
    assert state.at("bounced") == T0 + timedelta(minutes=3)


def test_a_hard_bounce_after_delivery_reads_bounced():
    state = compute_state(
        Channel.EMAIL, journey(fact("delivered", 3), fact("bounced", 30, bounce_type="hard"))
    )
    assert state.status == "bounced"
    assert state.bounce_type == "hard"


def test_bounce_type_is_that_of_the_latest_bounce():
    state = compute_state(
        Channel.EMAIL,
        journey(fact("bounced", 3, bounce_type="soft"), fact("bounced", 30, bounce_type="hard")),
    )
    assert state.bounce_type == "hard"


def test_history_only_events_never_move_the_status():
    base = compute_state(Channel.EMAIL, journey())
    noisy = compute_state(
        Channel.EMAIL,
        journey(
            fact("accepted", 50),
            fact("deferred", 60),
            fact("unknown", 70),
            fact("refused", 80),
            fact("opened", 90, machine=True),
            fact("clicked", 95, machine=True),
        ),
    )
    assert noisy.status == base.status == "sent"
    assert noisy.milestones == base.milestones
    assert (noisy.open_count, noisy.click_count) == (0, 0)
    assert (noisy.machine_open_count, noisy.machine_click_count) == (1, 1)


def test_an_event_the_channel_does_not_track_never_bears_a_status():
    state = compute_state(Channel.AIRSHIP, journey(fact("clicked", 10)))
    assert state.status == "sent"
    assert state.click_count == 0
    state = compute_state(Channel.SMS, journey(fact("opened", 10)))
    assert state.status == "sent"


def test_a_retry_starts_the_next_attempt_by_number():
    facts = [
        fact("queued", 0),
        fact("attempted", 1),
        fact("failed", 2, reason="timeout"),
        fact("queued", 10, key="queued-retry", attempt=2),
    ]
    state = compute_state(Channel.EMAIL, facts)
    assert state.status == "queued"
    assert state.at("failed") is None
    assert state.failure_reason == ""
    state = compute_state(
        Channel.EMAIL, [*facts, fact("attempted", 11, attempt=2), fact("sent", 12, attempt=2)]
    )
    assert state.status == "sent"
    assert state.at("queued") == T0 + timedelta(minutes=10)


def test_a_retry_after_a_failure_dated_ahead_of_it_reads_queued_then_sent():
    # The provider's clock ran ten minutes ahead of ours: its failure of the
    # first attempt is dated after our retry. Attempts are counted, so the
    # retry still reads queued, then sent.
    facts = [
        fact("queued", 0),
        fact("attempted", 1),
        fact("sent", 2),
        fact("failed", 15, reason="dropped: Invalid"),
        fact("queued", 5, key="queued-retry", attempt=2),
    ]
    assert compute_state(Channel.EMAIL, facts).status == "queued"
    facts += [fact("attempted", 5, attempt=2), fact("sent", 6, attempt=2)]
    state = compute_state(Channel.EMAIL, facts)
    assert state.status == "sent"
    assert state.failure_reason == ""


def test_a_provider_failure_beats_our_sent_of_the_same_attempt_whatever_the_clocks():
    for verdict in ("failed", "suppressed"):
        # The provider dates its verdict a second before our own "sent".
        state = compute_state(
            Channel.EMAIL,
            [fact("queued", 0), fact("attempted", 1), fact("sent", 2), fact(verdict, 1.5)],
        )
        assert state.status == verdict
    # ... but not our sent of a later attempt.
    state = compute_state(
        Channel.EMAIL,
        [
            fact("queued", 0),
            fact("attempted", 1),
            fact("failed", 2),
            fact("queued", 3, key="q2", attempt=2),
            fact("attempted", 3, key="a2", attempt=2),
            fact("sent", 4, key="s2", attempt=2),
        ],
    )
    assert state.status == "sent"


def test_a_sent_draft_reads_queued_then_onwards():
    facts = [fact("drafted", 0), fact("queued", 5, attempt=2)]
    assert compute_state(Channel.EMAIL, facts).status == "queued"


def test_with_open_tracking_off_a_click_implies_no_open():
    state = compute_state(
        Channel.EMAIL, journey(fact("opened", 4), fact("clicked", 10)), opens=False
    )
    assert state.status == "clicked"
    assert state.at("opened") is None and state.open_count == 0
    assert state.at("delivered") == T0 + timedelta(minutes=10)


def test_the_failure_reason_is_that_of_the_latest_failure():
    state = compute_state(
        Channel.EMAIL, [fact("queued", 0), fact("attempted", 1), fact("failed", 2, reason="boom")]
    )
    assert state.status == "failed"
    assert state.failure_reason == "boom"


def test_ties_at_the_same_instant_follow_journey_order():
    state = compute_state(
        Channel.EMAIL, journey(fact("opened", 10), fact("clicked", 10), fact("converted", 10))
    )
    assert state.status == "converted"
    state = compute_state(Channel.EMAIL, journey(fact("unsubscribed", 10), fact("spammed", 10)))
    assert state.status == "spammed"


def test_clicks_count_per_link():
    state = compute_state(
        Channel.EMAIL,
        journey(
            fact("clicked", 10, link_id=7),
            fact("clicked", 11, link_id=7),
            fact("clicked", 12, link_id=8),
            fact("clicked", 13),
        ),
    )
    assert state.link_clicks == ((7, 2), (8, 1))
    assert state.click_count == 4


# --- The hand-over implied (sent ≥ delivered for every message) -------------------


def test_a_delivery_report_with_no_sent_of_the_attempt_implies_the_send():
    # Our worker died after the provider took the message (or our side timed
    # out: "outcome unknown"); the provider's report proves the hand-over.
    for ours in ([], [fact("failed", 2, reason="outcome unknown: timeout", attempt=1)]):
        events = [fact("queued", 0), fact("attempted", 1), fact("delivered", 3), *ours]
        state = compute_state(Channel.EMAIL, events)
        assert state.status == "delivered"
        assert state.at("sent") == state.at("delivered") == T0 + timedelta(minutes=3)
        assert implied_events(Channel.EMAIL, events) == [("sent", T0 + timedelta(minutes=3))]


def test_a_late_report_of_an_earlier_attempt_implies_a_send_when_the_retry_failed_early():
    events = [
        fact("attempted", 1, attempt=1),
        fact("sent", 2, attempt=1),
        fact("failed", 3, key="dropped", attempt=1),
        fact("queued", 10, attempt=2),
        fact("attempted", 11, attempt=2),
        fact("failed", 12, attempt=2),
        fact("delivered", 4, attempt=1),  # the provider's late word on attempt 1
    ]
    state = compute_state(Channel.SMS, events)
    assert state.status == "delivered"
    assert state.at("sent") == T0 + timedelta(minutes=4)


def test_a_real_send_of_the_attempt_is_never_replaced_by_an_implied_one():
    # The provider's clock reads earlier than our "sent": sent_at stays ours.
    events = journey(fact("delivered", 1.5))
    state = compute_state(Channel.EMAIL, events)
    assert state.at("sent") == T0 + timedelta(minutes=2)
    assert implied_events(Channel.EMAIL, events) == []


def test_a_provider_verdict_still_unsends_the_message():
    state = compute_state(Channel.EMAIL, journey(fact("failed", 3, key="dropped")))
    assert state.status == "failed" and state.at("sent") is None


# --- The open tracking switch is the pixel's: email only --------------------------


def test_push_keeps_its_opens_and_click_implies_open_with_the_switch_off():
    events = journey(fact("opened", 4), fact("clicked", 10))
    state = compute_state(Channel.PUSH, events, opens=False)
    assert state.at("opened") == T0 + timedelta(minutes=4)
    assert state.open_count == 1
    clicked_only = compute_state(Channel.PUSH, journey(fact("clicked", 10)), opens=False)
    assert clicked_only.at("opened") == T0 + timedelta(minutes=10)


def test_email_with_the_switch_off_has_no_opens():
    state = compute_state(
        Channel.EMAIL, journey(fact("opened", 4), fact("clicked", 10)), opens=False
    )
    assert state.at("opened") is None and state.open_count == 0
