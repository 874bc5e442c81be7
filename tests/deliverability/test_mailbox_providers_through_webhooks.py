"""Counters by mailbox provider, moved by real signed SendGrid callbacks
about recipients at gmail.com, outlook.com, yahoo.com, icloud.com and
elsewhere, and read back through the metrics API."""

import pytest
from rest_framework.test import APIClient

from campaigns.deliverability import mailbox_metric
from campaigns.models import ActionCounter, SeriesCounter
from messaging.models import Message
from tests.ingest.helpers import assert_no_drift

from .helpers import email_action, recipients, sendgrid_event, sendgrid_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def metrics(api, campaign_id):
    response = api.get(f"/api/v1/campaigns/{campaign_id}/metrics/")
    assert response.status_code == 200
    return response.json()


def test_each_mailbox_provider_has_its_own_counts_and_rates(client, kits, api):
    action = email_action()
    sent = {
        provider: recipients(action, provider, n)
        for provider, n in (
            ("gmail", 4),
            ("microsoft", 3),
            ("yahoo", 2),
            ("apple", 2),
            ("other", 1),
        )
    }
    events = []
    # Gmail: all delivered, two opened, one clicked. Microsoft: two delivered,
    # one bounced. Yahoo: one delivered. Apple: both delivered and opened.
    for message in sent["gmail"]:
        events.append(sendgrid_event(message, "delivered", 2))
    events.append(sendgrid_event(sent["gmail"][0], "open", 10))
    events.append(sendgrid_event(sent["gmail"][1], "open", 11))
    events.append(sendgrid_event(sent["gmail"][1], "click", 12, url="https://example.com/a"))
    for message in sent["microsoft"][:2]:
        events.append(sendgrid_event(message, "delivered", 2))
    events.append(
        sendgrid_event(
            sent["microsoft"][2],
            "bounce",
            3,
            reason="550 5.5.0 Requested action not taken: mailbox unavailable",
            status="5.5.0",
            type="bounce",
        )
    )
    events.append(sendgrid_event(sent["yahoo"][0], "delivered", 2))
    for message in sent["apple"]:
        events.append(sendgrid_event(message, "delivered", 2))
        events.append(sendgrid_event(message, "open", 20))
    sendgrid_post(client, kits, events)

    body = metrics(api, action.campaign_id)
    by = body["by_mailbox_provider"]
    assert list(by) == ["gmail", "microsoft", "yahoo", "apple", "other"]
    counts = {provider: block["counts"] for provider, block in by.items()}
    assert [counts[p]["sent"] for p in by] == [4, 3, 2, 2, 1]
    assert [counts[p]["delivered"] for p in by] == [4, 2, 1, 2, 0]
    assert [counts[p]["opened"] for p in by] == [2, 0, 0, 2, 0]
    assert [counts[p]["clicked"] for p in by] == [1, 0, 0, 0, 0]
    assert [counts[p]["bounced"] for p in by] == [0, 1, 0, 0, 0]
    assert by["gmail"]["rates"]["open"] == 0.5
    assert by["microsoft"]["rates"]["delivery"] == pytest.approx(2 / 3)
    assert by["microsoft"]["rates"]["bounce"] == pytest.approx(1 / 3)
    assert by["apple"]["rates"]["open"] == 1.0
    assert by["other"]["rates"]["open"] is None  # nothing delivered yet
    assert by["apple"]["totals"]["opens"] == 2
    # The providers add up to the campaign's own counts.
    for name in ("sent", "delivered", "opened", "clicked", "bounced"):
        assert sum(counts[p][name] for p in by) == body["counts"][name]
    assert_no_drift()


def test_the_same_counters_exist_per_action_and_per_hour(client, kits):
    campaign_action = email_action()
    second = email_action(campaign_action.campaign)
    [first_gmail] = recipients(campaign_action, "gmail", 1)
    [second_gmail] = recipients(second, "gmail", 1)
    sendgrid_post(
        client,
        kits,
        [
            sendgrid_event(first_gmail, "delivered", 2),
            sendgrid_event(second_gmail, "delivered", 90),
        ],
    )
    metric = mailbox_metric("gmail", "delivered")
    per_action = dict(ActionCounter.objects.filter(metric=metric).values_list("action_id", "value"))
    assert per_action == {campaign_action.id: 1, second.id: 1}
    by_event_hour = sorted(
        SeriesCounter.objects.filter(metric=metric, basis="event").values_list("bucket", "value")
    )
    assert [value for _, value in by_event_hour] == [1, 1]
    assert by_event_hour[0][0] != by_event_hour[1][0]  # 2 and 90 minutes after sending


def test_other_channels_and_look_alike_domains_are_not_counted_as_a_mailbox_provider(
    client, kits, api
):
    from campaigns.vocabulary import Channel
    from tests import factories
    from tests.webhooks.kits import sent_message

    action = email_action()
    look_alike = sent_message(
        action_obj=action, person_obj=factories.person(email="ann@gmail.com.example.net")
    )
    upper = sent_message(action_obj=action, person_obj=factories.person(email="Bob@GMAIL.COM"))
    sms = factories.action(Channel.SMS, campaign_obj=action.campaign, links=())
    sent_message(channel=Channel.SMS, action_obj=sms)
    sendgrid_post(
        client, kits, [sendgrid_event(look_alike, "delivered"), sendgrid_event(upper, "delivered")]
    )
    by = metrics(api, action.campaign_id)["by_mailbox_provider"]
    assert by["gmail"]["counts"]["delivered"] == 1
    assert by["other"]["counts"]["delivered"] == 1
    # The SMS message is in the campaign's counts, in no mailbox provider's.
    assert sum(block["counts"]["sent"] for block in by.values()) == 2
    assert Message.objects.filter(campaign_id=action.campaign_id).count() == 3
