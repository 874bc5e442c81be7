"""The retry schedule as a property: whatever the jitter draws and however
long each try takes, the delays never shrink (until the last one, clamped to
the window's end), every try lies inside the 3-day window, a notification
fails only once the window is over, and it gets there in a bounded number
of tries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from messaging.reporting.delivery import next_retry_at, retry_delay

WINDOW = timedelta(days=3)
START = datetime(2026, 11, 1, tzinfo=UTC)


@given(
    base=st.floats(min_value=0.5, max_value=600),
    cap=st.floats(min_value=60, max_value=24 * 3600),
    draws=st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=60),
)
def test_delays_never_shrink_and_never_exceed_the_cap(base, cap, draws):
    delays = [
        retry_delay(n, base=base, cap=cap, jitter=jitter) for n, jitter in enumerate(draws, 1)
    ]
    assert all(0 < delay <= cap for delay in delays)
    assert delays == sorted(delays)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    draws=st.lists(st.floats(min_value=0, max_value=1), min_size=200, max_size=200),
    lateness=st.lists(st.floats(min_value=0, max_value=30), min_size=200, max_size=200),
)
def test_a_failing_notification_is_retried_inside_three_days_then_fails(draws, lateness):
    # The tests' base (0.05 s, tests/reporting/conftest.py) and the default cap
    # (6 h): the most tries any schedule makes.
    retry_until = START + WINDOW
    now, failures, tries = START, 0, [START]
    while True:
        failures += 1
        following = next_retry_at(
            failures=failures, now=now, retry_until=retry_until, jitter=draws[failures - 1]
        )
        if following is None:
            break
        assert now < following <= retry_until
        # The worker takes it up a little late (seconds), never early.
        now = following + timedelta(seconds=lateness[failures - 1])
        tries.append(now)
        assert failures < 200, "never gives up"
    assert now >= retry_until  # failed only once the window is over
    assert tries[-2] <= retry_until
    assert len(tries) < 60
