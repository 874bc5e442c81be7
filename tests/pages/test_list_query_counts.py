"""List pages run the same number of queries however many rows they show."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.vocabulary import Channel
from tests import factories
from tests.pages.helpers import bulk_messages

pytestmark = pytest.mark.django_db

# session, user, then the page's own: campaigns + their counters + their
# Gmail and Yahoo spam counters (the sender-health flag, issue 16).
CAMPAIGNS_LIST = 5
# session, user, the page of messages, the campaign and action pickers.
DELIVERY_LOG = 5


def grow(n_campaigns: int, n_messages: int) -> None:
    for _ in range(n_campaigns):
        campaign = factories.campaign()
        action = factories.action(Channel.EMAIL, campaign_obj=campaign)
        bulk_messages(action, n_messages, "delivered", "opened", "clicked")


def test_the_campaigns_list_runs_a_constant_number_of_queries(logged_in, django_assert_num_queries):
    grow(1, 2)
    with django_assert_num_queries(CAMPAIGNS_LIST):
        logged_in.get("/?sort=-open_rate")
    grow(6, 3)
    with django_assert_num_queries(CAMPAIGNS_LIST):
        response = logged_in.get("/?sort=-open_rate")
    assert len(response.context["rows"]) == 7


@pytest.mark.parametrize(
    "query",
    ["", "?status=clicked", "?channel=email&status=clicked", "?q=person-1", "?campaign=1"],
)
def test_the_delivery_log_runs_a_constant_number_of_queries(
    logged_in, django_assert_num_queries, query
):
    # The recipient search reads the matching people first (one query).
    expected = DELIVERY_LOG + (1 if "q=" in query else 0)
    grow(1, 3)
    logged_in.get("/deliveries/" + query)  # warm the session
    with django_assert_num_queries(expected):
        logged_in.get("/deliveries/" + query)
    grow(3, 40)
    with django_assert_num_queries(expected):
        response = logged_in.get("/deliveries/" + query)
    if not query:
        assert len(response.context["rows"]) == 50


def test_the_campaign_page_runs_a_constant_number_of_queries(logged_in):
    campaign = factories.campaign()
    email = factories.action(Channel.EMAIL, campaign_obj=campaign)
    bulk_messages(email, 2, "delivered")
    with CaptureQueriesContext(connection) as small:
        logged_in.get(f"/campaigns/{campaign.id}/")
    for channel in (Channel.SMS, Channel.PUSH):
        bulk_messages(factories.action(channel, campaign_obj=campaign), 30, "clicked")
    bulk_messages(email, 30, "delivered", "opened", "clicked")
    with CaptureQueriesContext(connection) as large:
        logged_in.get(f"/campaigns/{campaign.id}/")
    assert len(large) == len(small)


def test_the_admin_message_and_suppression_lists_run_a_constant_number_of_queries(logged_in):
    from messaging.audience.suppression import suppression_add

    grow(1, 2)
    suppression_add(address="one@example.com")
    sizes = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            logged_in.get("/admin/messaging/message/")
            logged_in.get("/admin/messaging/suppression/")
        sizes.append(len(queries))
        grow(2, 20)
        for n in range(20):
            suppression_add(address=f"s{n}-{len(sizes)}@example.com")
    assert sizes[0] == sizes[1]
