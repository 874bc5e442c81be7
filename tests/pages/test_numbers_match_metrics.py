"""The pages show campaign_metrics' numbers, nothing counted on the side."""

import re

import pytest

from campaigns.metrics import campaign_metrics, campaigns_overview
from campaigns.templatetags.tidings import count, pct
from tests import factories

pytestmark = pytest.mark.django_db


def scope(html: str, attribute: str, value) -> str:
    """The inner HTML of the table row carrying attribute="value"."""
    match = re.search(rf'<tr[^>]*{attribute}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row with {attribute}={value}"
    return match.group(1)


def cell(html: str, attribute: str, name: str) -> str:
    match = re.search(rf'{attribute}="{name}"[^>]*>([^<]*)<', html)
    assert match, f"no cell {attribute}={name}"
    return match.group(1).strip()


def test_the_campaigns_list_shows_the_metrics_of_each_campaign(logged_in, busy_campaign):
    other = factories.campaign(name="Empty one")
    html = logged_in.get("/").content.decode()
    for campaign in (busy_campaign, other):
        m = campaign_metrics(campaign)
        row = scope(html, "data-campaign", campaign.id)
        assert cell(row, "data-metric", "messages") == count(m["messages"])
        for name in ("sent", "delivered", "opened", "clicked", "converted"):
            assert cell(row, "data-metric", name) == count(m["counts"][name])
        for column, rate in (
            ("delivery_rate", "delivery"),
            ("open_rate", "open"),
            ("click_rate", "click"),
            ("conversion_rate", "conversion"),
        ):
            assert cell(row, "data-metric", column) == pct(m["rates"][rate])
    assert cell(scope(html, "data-campaign", other.id), "data-metric", "open_rate") == "—"


def test_the_overview_equals_campaign_metrics_for_every_campaign(busy_campaign):
    m = campaign_metrics(busy_campaign)
    overview = campaigns_overview([busy_campaign.id])[busy_campaign.id]
    assert overview["counts"] == m["counts"]
    assert overview["rates"] == m["rates"]
    assert overview["totals"] == m["totals"]
    assert overview["messages"] == m["messages"]


def test_the_campaign_page_shows_the_funnel_buckets_rates_and_breakdowns(logged_in, busy_campaign):
    m = campaign_metrics(busy_campaign)
    html = logged_in.get(f"/campaigns/{busy_campaign.id}/").content.decode()

    for stage in ("sent", "delivered", "opened", "clicked", "converted"):
        funnel = html[html.index('id="funnel"') : html.index('id="status-buckets"')]
        assert cell(funnel, "data-metric", stage) == count(m["counts"][stage])
    for status, value in m["status_buckets"].items():
        assert cell(html, "data-bucket", status) == count(value)
    assert cell(html, "data-bucket", "total") == count(m["messages"])
    assert sum(m["status_buckets"].values()) == m["messages"] == 11
    for name, value in m["rates"].items():
        rates = html[html.index('id="rates"') : html.index('id="over-time"')]
        assert cell(rates, "data-rate", name) == pct(value)
    assert cell(html, "data-total", "opens") == count(m["totals"]["opens"])
    assert cell(html, "data-total", "clicks") == count(m["totals"]["clicks"])

    for block in m["by_action"]:
        row = scope(html, "data-action", block["action"])
        for name in ("sent", "delivered", "opened", "clicked", "converted", "bounced", "failed"):
            assert cell(row, "data-metric", name) == count(block["counts"][name])
        for name in ("delivery", "open", "click", "click_to_open", "conversion"):
            assert cell(row, "data-rate", name) == pct(block["rates"][name])
    for channel, block in m["by_channel"].items():
        row = scope(html, "data-channel", channel)
        for name in ("sent", "delivered", "opened", "clicked", "unsubscribed"):
            assert cell(row, "data-metric", name) == count(block["counts"][name])
        for name in ("delivery", "open", "click", "conversion"):
            assert cell(row, "data-rate", name) == pct(block["rates"][name])
    for link in m["links"]:
        row = scope(html, "data-link", link["link"])
        assert cell(row, "data-metric", "clicks") == count(link["clicks"])
        assert cell(row, "data-metric", "unique_clicks") == count(link["unique_clicks"])


def test_a_channel_shows_a_dash_for_what_it_does_not_track(logged_in, busy_campaign):
    html = logged_in.get(f"/campaigns/{busy_campaign.id}/").content.decode()
    sms = scope(html, "data-channel", "sms")
    assert cell(sms, "data-metric", "opened") == "—"
    assert cell(sms, "data-metric", "unsubscribed") == "—"
    assert cell(sms, "data-rate", "open") == "—"
    assert cell(sms, "data-metric", "clicked") == "1"
    funnel = {
        step["stage"]: step
        for step in logged_in.get(f"/campaigns/{busy_campaign.id}/").context["funnel"]
    }
    assert funnel["opened"]["untracked"] == ["sms"]
    assert funnel["delivered"]["untracked"] == []
    assert "not tracked on sms" in html


def test_the_rate_terms_shown_beside_each_rate_give_campaign_metrics_rates(
    logged_in, busy_campaign
):
    m = campaign_metrics(busy_campaign)
    terms = logged_in.get(f"/campaigns/{busy_campaign.id}/").context["rates"]
    for row in terms:
        assert row["value"] == m["rates"][row["name"]]
        if row["value"] is not None:
            assert row["numerator"] / row["denominator"] == row["value"]
    open_rate = next(row for row in terms if row["name"] == "open")
    # Only email tracks opens: opened emails (3, a click implying its open)
    # over delivered emails (5, engagement implying delivery included); the
    # SMS deliveries stay out of the denominator.
    assert open_rate["formula"] == "opened / delivered"
    assert (open_rate["numerator"], open_rate["denominator"]) == (3, 5)
    assert open_rate["denominator"] == m["by_channel"]["email"]["counts"]["delivered"]


def test_the_chart_follows_the_chosen_basis(logged_in, busy_campaign):
    by_send = logged_in.get(f"/campaigns/{busy_campaign.id}/?basis=send").context
    by_event = logged_in.get(f"/campaigns/{busy_campaign.id}/?basis=event").context
    for context, basis in ((by_send, "send"), (by_event, "event")):
        series = campaign_metrics(busy_campaign, basis=basis)["series"]
        chart = context["chart"]
        for metric in ("sent", "delivered", "opened", "clicked", "converted"):
            assert sum(b[metric] for b in chart.buckets) == sum(row[metric] for row in series)
    assert by_send["basis"] == "send" and by_event["basis"] == "event"
