from collections import Counter

from campaigns.metrics import campaign_metrics
from messaging.ingest import apply_events
from messaging.models import Message
from messaging.reconcile import find_drift, stored_counters


def apply(*events, **kw):
    return apply_events(list(events), **kw)


def reload(message):
    return Message.objects.get(pk=message.pk)


def counters_snapshot(campaign_id=None) -> Counter:
    return +stored_counters(campaign_id)


def assert_no_drift(campaign_id=None):
    drift, _, _ = find_drift(campaign_id)
    assert not drift.counters, drift.counters
    assert not drift.messages, drift.messages
    assert not drift.breaches, drift.breaches


def metrics(campaign):
    return campaign_metrics(campaign)
