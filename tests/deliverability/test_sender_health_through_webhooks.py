"""Gmail's and Yahoo's spam-complaint rates against the bulk-sender
thresholds (0.1 % warning, 0.3 % danger), moved by signed SendGrid spam
reports, in the metrics API and on the campaigns list."""

import pytest
from rest_framework.test import APIClient

from campaigns.deliverability import campaigns_sender_health
from tests.ingest.helpers import assert_no_drift

from .helpers import bulk_sent, email_action, sendgrid_event, sendgrid_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def health(api, campaign_id):
    return api.get(f"/api/v1/campaigns/{campaign_id}/metrics/").json()["sender_health"]


def deliver(client, kits, messages):
    for start in range(0, len(messages), 500):
        sendgrid_post(
            client, kits, [sendgrid_event(m, "delivered", 2) for m in messages[start : start + 500]]
        )


def test_spam_complaints_crossing_one_and_three_per_thousand_turn_warning_then_danger(
    client, kits, api
):
    action = email_action()
    gmail = bulk_sent(action, "gmail", 1000)
    yahoo = bulk_sent(action, "yahoo", 1000)
    microsoft = bulk_sent(action, "microsoft", 20)
    deliver(client, kits, gmail + yahoo + microsoft)
    campaign = action.campaign_id
    assert health(api, campaign) == {
        "gmail_spam_rate": 0.0,
        "yahoo_spam_rate": 0.0,
        "status": "ok",
    }

    # Complaints at Microsoft are not under the bulk-sender rule measured here.
    sendgrid_post(client, kits, [sendgrid_event(m, "spamreport", 30) for m in microsoft[:5]])
    assert health(api, campaign)["status"] == "ok"

    # 1 in 1,000 at Gmail: 0.1 %, the warning threshold.
    sendgrid_post(client, kits, [sendgrid_event(gmail[0], "spamreport", 30)])
    assert health(api, campaign) == {
        "gmail_spam_rate": 0.001,
        "yahoo_spam_rate": 0.0,
        "status": "warning",
    }
    assert campaigns_sender_health([campaign])[campaign]["status"] == "warning"

    # 2 in 1,000 at Yahoo: still a warning.
    sendgrid_post(client, kits, [sendgrid_event(m, "spamreport", 31) for m in yahoo[:2]])
    assert health(api, campaign)["status"] == "warning"

    # 3 in 1,000 at Yahoo: 0.3 %, danger.
    sendgrid_post(client, kits, [sendgrid_event(yahoo[2], "spamreport", 32)])
    assert health(api, campaign) == {
        "gmail_spam_rate": 0.001,
        "yahoo_spam_rate": 0.003,
        "status": "danger",
    }
    # A complaint repeated by the provider counts once.
    sendgrid_post(client, kits, [sendgrid_event(yahoo[2], "spamreport", 33)])
    assert health(api, campaign)["yahoo_spam_rate"] == 0.003
    assert campaigns_sender_health([campaign])[campaign]["status"] == "danger"
    assert_no_drift()


def test_without_deliveries_the_spam_rates_are_undefined_and_the_status_ok(client, kits, api):
    action = email_action()
    bulk_sent(action, "gmail", 3)
    assert health(api, action.campaign_id) == {
        "gmail_spam_rate": None,
        "yahoo_spam_rate": None,
        "status": "ok",
    }


def test_just_under_the_warning_threshold_is_ok(client, kits, api):
    action = email_action()
    gmail = bulk_sent(action, "gmail", 1001)
    deliver(client, kits, gmail)
    sendgrid_post(client, kits, [sendgrid_event(gmail[0], "spamreport", 30)])
    rate = health(api, action.campaign_id)["gmail_spam_rate"]
    assert rate == pytest.approx(1 / 1001) and rate < 0.001
    assert health(api, action.campaign_id)["status"] == "ok"
