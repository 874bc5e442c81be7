"""A bounced message counts once, under its latest bounce's reason (the one
that gives its bounce type): a later bounce with another reason moves it, an
earlier one arriving late moves nothing, in any arrival order."""

import itertools

import pytest

from campaigns.deliverability import bounce_reasons
from campaigns.vocabulary import Channel, Source
from tests.factories import event, message
from tests.ingest.helpers import apply, assert_no_drift

pytestmark = pytest.mark.django_db

FIRST = "452 4.2.2 mailbox full"
LATER = "550 5.1.1 user unknown"


@pytest.mark.parametrize("order", list(itertools.permutations(range(2))))
def test_the_latest_bounce_gives_the_reason_in_any_arrival_order(order):
    msg = message(Channel.EMAIL)
    apply(
        event(msg, "attempted", 1, source=Source.PIPELINE),
        event(msg, "sent", 2, source=Source.PIPELINE),
    )
    bounces = [
        event(msg, "bounced", 5, bounce_type="soft", reason=FIRST),
        event(msg, "bounced", 9, bounce_type="hard", reason=LATER),
    ]
    for index in order:
        apply(bounces[index])
    [row] = bounce_reasons(msg.campaign_id)
    assert (row["bounce_type"], row["count"]) == ("hard", 1)
    assert "user unknown" in row["reason"]
    assert_no_drift()
