import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.vocabulary import Channel
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.sending import messages_create
from tests.factories import action, at, person

pytestmark = pytest.mark.django_db


def batch(messages, n, type_):
    links = list(messages[0].action.links.values_list("id", flat=True))
    return [
        Event(
            type=type_,
            occurred_at=at(5),
            idempotency_key=f"{type_}-{m.id}-{n}",
            source="provider",
            message_id=m.id,
            link_id=links[0] if type_ == "clicked" else None,
        )
        for m in messages
    ]


def queries_for(size):
    act = action(Channel.EMAIL)
    people = [person() for _ in range(size)]
    messages = messages_create(action=act, people=people)
    apply_events(batch(messages, 0, "sent"))
    with CaptureQueriesContext(connection) as ctx:
        result = apply_events(batch(messages, 1, "clicked") + batch(messages, 2, "delivered"))
    assert result.stored == 2 * size
    return len(ctx.captured_queries)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the set-based (unnest) write path is PostgreSQL's; SQLite uses chunked ORM writes",
)
def test_a_batch_takes_a_constant_number_of_queries_whatever_its_size(outbox_cache_pinned):
    # (outbox_cache_pinned: one CI run caught the outbox's cache refresh in
    # one count only, 11 against 12.)
    small = queries_for(10)
    large = queries_for(1000)
    # Every batch write is one statement whatever the batch size (unnest).
    assert large == small, (small, large)
    # 2 are this test's link reads; ingest's own: lock, read events, insert,
    # update messages, counters, and the side reads of this round (the goal
    # campaigns and goal events that a late event may re-attribute, and the
    # soft-bounce policy's check on a delivery).
    assert large <= 11
