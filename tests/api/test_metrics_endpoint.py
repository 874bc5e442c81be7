import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.vocabulary import Channel, EventType
from tests import factories
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db

COUNTS = {
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "hard_bounced",
    "soft_bounced",
    "spammed",
    "unsubscribed",
    "queued",
    "drafted",
    "attempted",
    "failed",
    "undeliverable",
    "suppressed",
}
TOTALS = {"opens", "clicks", "machine_opens", "machine_clicks"}
RATES = {
    "delivery",
    "open",
    "click",
    "click_to_open",
    "conversion",
    "bounce",
    "spam",
    "unsubscribe",
}
SERIES = {"bucket", "sent", "delivered", "opened", "clicked", "converted", "bounced"}


@pytest.fixture
def campaign():
    campaign = factories.campaign()
    email = factories.action(Channel.EMAIL, campaign_obj=campaign)
    sms = factories.action(Channel.SMS, campaign_obj=campaign, links=())
    link = email.links.first()
    opened = factories.message(action_obj=email)
    clicked = factories.message(action_obj=email)
    text = factories.message(action_obj=sms)
    apply(
        factories.event(opened, EventType.SENT, 1),
        factories.event(opened, EventType.DELIVERED, 2),
        factories.event(opened, EventType.OPENED, 90),
        factories.event(clicked, EventType.SENT, 1),
        factories.event(clicked, EventType.CLICKED, 4, link_id=link.id),
        factories.event(clicked, EventType.CLICKED, 64, link_id=link.id),
        factories.event(text, EventType.SENT, 1),
    )
    return campaign


def test_metrics_have_exactly_the_contract_shape(api, campaign):
    response = api.get(f"/api/v1/campaigns/{campaign.id}/metrics/")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "campaign",
        "counts",
        "totals",
        "rates",
        "by_action",
        "by_channel",
        "links",
        "series",
        # CONTRACT.md "Deliverability" (issue 16).
        "by_mailbox_provider",
        "bounce_reasons",
        "sender_health",
        "stale",
    ]
    assert body["campaign"] == campaign.id
    assert set(body["counts"]) == COUNTS
    assert set(body["totals"]) == TOTALS
    assert set(body["rates"]) == RATES
    assert [set(row) for row in body["by_action"]] == [
        {"action", "name", "channel", "counts", "totals", "rates"}
    ] * 2
    assert set(body["by_channel"]) == {"email", "sms"}
    assert set(body["by_channel"]["email"]) == {"counts", "totals", "rates"}
    assert set(body["links"][0]) == {"link", "url", "clicks", "unique_clicks"}
    assert all(set(row) == SERIES for row in body["series"])
    # The pages' rate terms stay out of every block.
    assert [set(block) for block in body["by_mailbox_provider"].values()] == [
        {"counts", "totals", "rates"}
    ] * 5


def test_metrics_count_from_the_counters(api, campaign):
    body = api.get(f"/api/v1/campaigns/{campaign.id}/metrics/").json()
    counts, rates = body["counts"], body["rates"]
    assert (counts["sent"], counts["delivered"], counts["opened"], counts["clicked"]) == (
        3,
        2,
        2,
        1,
    )
    assert body["totals"]["clicks"] == 2 and body["totals"]["opens"] == 2
    assert rates["delivery"] == pytest.approx(2 / 3)
    assert rates["open"] == 1.0
    assert rates["click_to_open"] == pytest.approx(1 / 2)
    assert rates["conversion"] == 0
    assert body["links"][0]["clicks"] == 2 and body["links"][0]["unique_clicks"] == 1
    assert body["by_channel"]["sms"]["counts"]["opened"] is None
    assert body["by_channel"]["sms"]["rates"]["open"] is None
    assert sum(row["sent"] for row in body["series"]) == 3


def test_rates_are_null_when_undefined(api):
    campaign = factories.campaign()
    factories.message(action_obj=factories.action(campaign_obj=campaign))
    rates = api.get(f"/api/v1/campaigns/{campaign.id}/metrics/").json()["rates"]
    assert set(rates.values()) == {None}


def test_the_series_basis_is_send_or_event(api, campaign):
    by_send = api.get(f"/api/v1/campaigns/{campaign.id}/metrics/?basis=send").json()["series"]
    by_event = api.get(f"/api/v1/campaigns/{campaign.id}/metrics/?basis=event").json()["series"]
    # The open 90 minutes after sending lands in the send hour or in its own.
    assert len(by_send) == 1 and by_send[0]["opened"] == 2
    assert len(by_event) == 2
    assert by_event[0]["opened"] == 1 and by_event[1]["opened"] == 1
    assert by_event[1]["bucket"] > by_event[0]["bucket"]


def test_an_unknown_basis_is_a_400(api, campaign):
    response = api.get(f"/api/v1/campaigns/{campaign.id}/metrics/?basis=month")
    assert response.status_code == 400
    assert list(response.json()) == ["basis"]


def test_metrics_of_an_unknown_campaign_are_a_404(api):
    assert api.get("/api/v1/campaigns/999999/metrics/").status_code == 404


def test_metrics_never_read_messages_or_events(api, campaign):
    with CaptureQueriesContext(connection) as queries:
        api.get(f"/api/v1/campaigns/{campaign.id}/metrics/")
    # Issue 16: the only exception is the "stale" counts (time-dependent):
    # the current-status counters minus the messages recent enough not to be
    # stale, one statement; it never reads the stale messages themselves.
    message_queries = [q["sql"] for q in queries if '"messaging_message"' in q["sql"]]
    assert len(message_queries) == 1
    assert "sent_at >= " in message_queries[0]
    # Stuck in the pipeline is timed by the status's milestone, never by
    # updated_at (campaigns.deliverability.pipeline_since); only the recent
    # ones (>= the cut) are read.
    assert "updated_at" not in message_queries[0]
    assert '"queued_at"' in message_queries[0] and "END >= " in message_queries[0]
    assert "sent_at < " not in message_queries[0]
    tables = " ".join(q["sql"] for q in queries)
    assert "messaging_messageevent" not in tables
