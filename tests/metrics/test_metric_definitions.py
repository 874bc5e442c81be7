import pytest

from campaigns.metrics import campaign_metrics, rate
from campaigns.vocabulary import Channel, Status
from messaging.sending import messages_create
from tests.factories import action, at, campaign, event, person
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


def test_a_rate_with_a_zero_denominator_is_undefined():
    assert rate(0, 0) is None
    assert rate(3, 0) is None
    assert rate(None, 5) is None
    assert rate(1, 4) == 0.25


def test_an_empty_campaign_has_zero_counts_and_undefined_rates():
    metrics = campaign_metrics(campaign())
    assert all(value == 0 for value in metrics["counts"].values())
    assert all(value is None for value in metrics["rates"].values())
    assert metrics["series"] == [] and metrics["by_action"] == []


@pytest.fixture
def mixed():
    goal = campaign()
    email = action(Channel.EMAIL, campaign_obj=goal)
    push = action(Channel.PUSH, campaign_obj=goal)
    people = [person() for _ in range(4)]
    emails = messages_create(action=email, people=people, now=at(0), backdate=True)
    pushes = messages_create(action=push, people=people[:2], now=at(0), backdate=True)
    for m in emails + pushes:
        apply(event(m, "attempted", 1, source="pipeline"), event(m, "sent", 1, source="pipeline"))
    apply(
        event(emails[0], "delivered", 2),
        event(emails[1], "delivered", 2),
        event(emails[0], "clicked", 30, link_id=email.links.first().id),
        event(emails[0], "clicked", 31, link_id=email.links.first().id),
        event(emails[2], "bounced", 3, bounce_type="hard"),
        event(pushes[0], "opened", 40),
    )
    return goal, email, push


def test_campaign_rates_use_delivered_where_reported_and_sent_elsewhere(mixed):
    goal, email, push = mixed
    metrics = campaign_metrics(goal)
    counts, rates = metrics["counts"], metrics["rates"]
    assert counts["sent"] == 6
    assert counts["delivered"] == 2
    assert counts["opened"] == 2  # the clicked email (implied) and the push open
    assert counts["clicked"] == 1
    assert counts["bounced"] == counts["hard_bounced"] == 1 and counts["soft_bounced"] == 0
    # denominator: 2 delivered emails + 2 sent pushes
    assert rates["open"] == 2 / 4
    assert rates["click"] == 1 / 4
    assert rates["click_to_open"] == 1 / 2
    # Push reports neither delivery nor bounces: only the 4 emails count.
    assert rates["delivery"] == 2 / 4
    assert rates["bounce"] == 1 / 4
    assert metrics["totals"]["clicks"] == 2 and metrics["totals"]["opens"] == 2


def test_a_channel_breakdown_shows_null_for_what_it_does_not_track(mixed):
    goal, email, push = mixed
    by_channel = campaign_metrics(goal)["by_channel"]
    assert by_channel["push"]["counts"]["delivered"] is None
    assert by_channel["push"]["counts"]["bounced"] is None
    assert by_channel["push"]["counts"]["suppressed"] is None
    assert by_channel["push"]["counts"]["opened"] == 1
    assert by_channel["push"]["rates"]["open"] == 1 / 2
    assert by_channel["push"]["rates"]["delivery"] is None
    assert by_channel["email"]["counts"]["delivered"] == 2


def test_links_count_total_and_unique_clicks(mixed):
    goal, email, _ = mixed
    email_links = set(email.links.values_list("id", flat=True))
    first, second = [row for row in campaign_metrics(goal)["links"] if row["link"] in email_links]
    assert first == {
        "link": email.links.first().id,
        "url": "https://example.com/a",
        "clicks": 2,
        "unique_clicks": 1,
    }
    assert second["clicks"] == 0


def test_status_buckets_add_up_to_the_number_of_messages(mixed):
    goal, _, _ = mixed
    metrics = campaign_metrics(goal)
    assert sum(metrics["status_buckets"].values()) == metrics["messages"] == 6
    assert set(metrics["status_buckets"]) == set(Status.values)


def test_series_by_send_date_and_by_event_date(mixed):
    goal, _, _ = mixed
    by_send = campaign_metrics(goal, basis="send")["series"]
    by_event = campaign_metrics(goal, basis="event")["series"]
    assert [row["bucket"] for row in by_send] == [at(0).isoformat()]
    assert by_send[0]["sent"] == 6 and by_send[0]["clicked"] == 1
    assert sum(row["clicked"] for row in by_event) == 1
    assert sum(row["opened"] for row in by_event) == sum(row["opened"] for row in by_send) == 2


def test_a_campaign_shows_null_for_what_none_of_its_channels_tracks():
    goal = campaign()
    slack = action(Channel.SLACK, campaign_obj=goal)
    [msg] = messages_create(action=slack, people=[person()], now=at(0), backdate=True)
    apply(event(msg, "attempted", 1, source="pipeline"), event(msg, "sent", 1, source="pipeline"))
    metrics = campaign_metrics(goal)
    assert metrics["counts"]["sent"] == 1
    assert metrics["counts"]["delivered"] is None
    assert metrics["rates"]["delivery"] is None
    assert metrics["counts"]["clicked"] == 0
    assert metrics["rates"]["click"] == 0.0  # clicked / sent (Slack reports no delivery)
