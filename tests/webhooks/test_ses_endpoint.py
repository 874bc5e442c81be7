"""POST /webhooks/ses/ with the stored SES-through-SNS envelopes, signed in
the test with a generated RSA key whose certificate sits in the SNS
certificate cache (nothing is fetched). Subscription confirmations for our
topics are confirmed by GETting SubscribeURL, outside any transaction."""

import json

import pytest

from messaging.models import Person, Suppression, WebhookRequest
from messaging.webhooks import inbox
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_json
from .kits import CLICK_URL, PROVIDER_IDS, TOPIC, SesKit, assert_milestones, history, sent_message

# fixture → (status, stored history type, bounce type, suppression reason or None)
EXPECTED = {
    "send": ("sent", "accepted", None, None),
    "delivery": ("delivered", "delivered", None, None),
    "delivery_delay": ("sent", "deferred", None, None),
    "bounce_permanent_general": ("bounced", "bounced", "hard", "hard_bounce"),
    "bounce_permanent_on_account_suppression_list": (
        "suppressed",
        "suppressed",
        None,
        "hard_bounce",
    ),
    "bounce_transient_mailbox_full": ("bounced", "bounced", "soft", None),
    "bounce_undetermined": ("bounced", "bounced", "soft", None),
    "complaint": ("spammed", "spammed", None, "spam_complaint"),
    "complaint_not_spam": ("sent", "unknown", None, None),
    "complaint_on_account_suppression_list": (
        "suppressed",
        "suppressed",
        None,
        "spam_complaint",
    ),
    "open": ("opened", "opened", None, None),
    "click": ("clicked", "clicked", None, None),
    "reject": ("failed", "failed", None, None),
    "rendering_failure": ("failed", "failed", None, None),
    "subscription_unsubscribe_all": ("unsubscribed", "unsubscribed", None, None),
    "unknown_event_type": ("sent", "unknown", None, None),
}


@pytest.fixture
def message(kits):
    return sent_message(101, provider_message_id=PROVIDER_IDS["ses"])


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_applies_each_documented_event(client, kits, message, name):
    status, stored_type, bounce_type, suppression = EXPECTED[name]

    response = kits["ses"].request(name).post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == status
    assert message.bounce_type == bounce_type
    [event] = history(message)
    assert event.type == stored_type
    assert event.detail == json.loads(fixture_json("ses", name)["Message"])
    assert_milestones(message, event)
    entry = Suppression.objects.filter(address=message.address.lower()).first()
    assert (entry.reason if entry else None) == suppression
    [row] = WebhookRequest.objects.all()
    assert row.status == "applied"
    assert row.dedup_key == "sns:" + fixture_json("ses", name)["MessageId"]
    assert_no_drift(message.campaign_id)


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["1", "2"])
def test_both_sns_signature_versions_are_accepted(client, kits, message, version):
    kit = SesKit(version=version)
    assert kit.request("delivery").post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


@pytest.mark.django_db
def test_a_click_counts_for_the_actions_link(client, kits, message):
    kits["ses"].request("click").post(client)
    assert history(message)[0].link.url == CLICK_URL


@pytest.mark.django_db
def test_an_unsubscribe_marks_the_person(client, kits, message):
    kits["ses"].request("subscription_unsubscribe_all").post(client)
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is not None


@pytest.mark.django_db
def test_an_identity_notification_is_matched_by_the_ses_message_id(client, kits):
    message = sent_message(provider_message_id=PROVIDER_IDS["ses_identity"])
    assert kits["ses"].request("delivery_identity_notification").post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


@pytest.mark.django_db
def test_the_topic_validation_notice_is_accepted_and_applies_nothing(client, kits, message):
    assert kits["ses"].request("topic_validation").post(client).status_code == 200
    [row] = WebhookRequest.objects.all()
    assert (row.status, row.event_count) == ("applied", 0)
    assert history(message) == []


@pytest.mark.django_db(transaction=True)
def test_a_subscription_to_our_topic_is_confirmed_outside_any_transaction(
    client, kits, sns_confirmations
):
    envelope = fixture_json("ses", "subscription_confirmation")

    response = kits["ses"].request(envelope=envelope).post(client)

    assert response.status_code == 200
    assert sns_confirmations == [envelope["SubscribeURL"]]
    assert sns_confirmations.in_transaction == [False]
    [row] = WebhookRequest.objects.all()
    assert row.status == "applied"


@pytest.mark.django_db
def test_a_subscription_to_another_topic_is_refused_and_not_confirmed(
    client, kits, sns_confirmations
):
    envelope = {
        **fixture_json("ses", "subscription_confirmation"),
        "TopicArn": "arn:aws:sns:us-east-1:999999999999:not-ours",
    }
    response = kits["ses"].request(envelope=envelope).post(client)
    assert response.status_code == 403
    assert sns_confirmations == []
    assert WebhookRequest.objects.count() == 0


@pytest.mark.django_db
def test_a_subscribe_url_off_amazon_is_a_400_and_never_fetched(client, kits, sns_confirmations):
    envelope = {
        **fixture_json("ses", "subscription_confirmation"),
        "SubscribeURL": "https://attacker.example.com/?Action=ConfirmSubscription",
    }
    response = kits["ses"].request(envelope=envelope).post(client)
    assert response.status_code == 400
    assert sns_confirmations == []
    assert WebhookRequest.objects.count() == 0


@pytest.mark.django_db
def test_a_confirmation_that_cannot_reach_amazon_is_kept_and_retried_by_the_sweeper(
    client, kits, sns_confirmations
):
    sns_confirmations.fail = True
    response = kits["ses"].request("subscription_confirmation").post(client)
    assert response.status_code == 200
    [row] = WebhookRequest.objects.all()
    assert row.status == "failed"
    assert "unreachable" in row.error

    sns_confirmations.fail = False
    WebhookRequest.objects.update(retry_after=None)
    report = inbox.webhook_requests_sweep()

    assert report.applied == [row.pk]
    assert len(sns_confirmations) == 2


@pytest.mark.django_db
def test_a_replayed_confirmation_is_not_confirmed_again(client, kits, sns_confirmations):
    request = kits["ses"].request("subscription_confirmation")
    request.post(client)
    inbox.webhook_requests_replay()
    assert len(sns_confirmations) == 1


@pytest.mark.django_db
def test_an_envelope_whose_message_is_not_an_ses_event_is_a_400(client, kits):
    envelope = {**fixture_json("ses", "delivery"), "Message": "not json"}
    assert kits["ses"].request(envelope=envelope).post(client).status_code == 400
    assert WebhookRequest.objects.count() == 0


@pytest.mark.django_db
def test_the_sns_topic_header_must_agree_with_the_envelope(client, kits):
    request = kits["ses"].request("delivery")
    headers = {**request.headers, "x-amz-sns-topic-arn": TOPIC + "-other"}
    assert request.post(client, headers=headers).status_code == 403


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_a_400_and_stores_nothing(client, kits):
    response = kits["ses"].request("delivery").post(client, body=b"hello")
    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    assert WebhookRequest.objects.count() == 0
