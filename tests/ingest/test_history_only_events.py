import pytest

from campaigns.vocabulary import Channel
from tests.factories import event, message
from tests.ingest.helpers import apply, assert_no_drift, counters_snapshot, metrics, reload

pytestmark = pytest.mark.django_db


def test_acceptance_deferral_unknown_and_machine_traffic_move_nothing():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1, source="pipeline"))
    before_message = reload(msg)
    before = counters_snapshot()

    result = apply(
        event(msg, "accepted", 2),
        event(msg, "deferred", 3, reason="421 try later"),
        event(msg, "unknown", 4, detail={"event": "weird"}),
        event(msg, "opened", 5, machine=True),
        event(msg, "clicked", 6, machine=True, link_url="https://example.com/a"),
    )
    assert result.stored == 5
    after_message = reload(msg)
    assert after_message.status == before_message.status == "sent"
    assert after_message.opened_at is None and after_message.clicked_at is None
    assert after_message.open_count == after_message.click_count == 0

    after = counters_snapshot()
    changed = {key for key in after.keys() | before.keys() if after[key] != before[key]}
    # Only the machine counters, and their copies under the recipient's
    # mailbox provider (issue 16: person@example.com is "other").
    assert changed == {
        ("action", msg.action_id, "machine_opens"),
        ("action", msg.action_id, "machine_clicks"),
        ("action", msg.action_id, "mp.other.machine_opens"),
        ("action", msg.action_id, "mp.other.machine_clicks"),
    }
    totals = metrics(msg.campaign)["totals"]
    assert totals == {"opens": 0, "clicks": 0, "machine_opens": 1, "machine_clicks": 1}
    assert msg.events.count() == 7  # queued, sent and the five above
    assert_no_drift()


def test_a_refused_event_in_a_batch_is_stored_but_never_counted():
    msg = message(Channel.SMS)
    apply(event(msg, "sent", 1))
    before = counters_snapshot()
    result = apply(event(msg, "opened", 5), event(msg, "delivered", 6))
    assert result.refused == 1
    msg = reload(msg)
    assert msg.status == "delivered"
    refused = msg.events.get(type="refused")
    assert refused.detail["refused_type"] == "opened"
    after = counters_snapshot()
    changed = {
        key[2]
        for key in after.keys() | before.keys()
        if after[key] != before[key] and key[0] == "action"
    }
    assert "opens" not in changed and "opened" not in changed
    assert_no_drift()


def test_a_duplicate_event_changes_nothing():
    msg = message(Channel.EMAIL)
    first = event(msg, "delivered", 5, key="sg-1")
    apply(event(msg, "sent", 1), first)
    before = counters_snapshot()
    result = apply(first, first)
    assert result.stored == 0 and result.duplicates == 2
    assert counters_snapshot() == before
