"""One security test case run against all five provider webhooks (the
anymail way): whatever is wrong with a request's authentication, the answer
is what CONTRACT.md says and nothing at all is stored."""

import pytest
from django.test import Client

from campaigns.vocabulary import Channel
from messaging.models import MessageEvent, WebhookRequest

from .kits import KITS, PROVIDER_IDS, sent_message

pytestmark = pytest.mark.django_db

PROVIDERS = sorted(KITS)
DEFAULT_FIXTURE = {
    "sendgrid": "delivered",
    "twilio": "delivered",
    "mailgun": "delivered",
    "postmark": "delivery",
    "ses": "delivery",
}


@pytest.fixture(params=PROVIDERS)
def case(request, kits):
    name = request.param
    channel = Channel.SMS if name == "twilio" else Channel.EMAIL
    message = sent_message(101, channel=channel, provider_message_id=PROVIDER_IDS[name])
    kit = kits[name]
    return kit, kit.request(DEFAULT_FIXTURE[name]), message


def assert_nothing_stored(message):
    assert WebhookRequest.objects.count() == 0
    assert not MessageEvent.objects.filter(message_id=message.pk, source="provider").exists()
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_correctly_signed_request_is_stored_and_applied(client, case):
    kit, request, message = case
    assert request.post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert WebhookRequest.objects.get().status == "applied"


def test_a_missing_signature_is_a_401_and_stores_nothing(client, case):
    kit, request, message = case
    response = kit.strip(request).post(client)
    assert response.status_code == 401, response.content
    assert_nothing_stored(message)


def test_a_wrong_signature_is_a_403_and_stores_nothing(client, case):
    kit, request, message = case
    response = kit.wrong_signature(request).post(client)
    assert response.status_code == 403, response.content
    assert_nothing_stored(message)


def test_one_flipped_byte_of_what_is_signed_is_a_403_and_stores_nothing(client, case):
    kit, request, message = case
    response = kit.tamper(request).post(client)
    assert response.status_code == 403, response.content
    assert_nothing_stored(message)


def test_a_request_signed_for_another_secret_is_a_403_and_stores_nothing(client, settings, case):
    kit, request, message = case
    setattr(settings, kit.setting, kit.other_secrets())
    response = request.post(client)
    assert response.status_code == 403, response.content
    assert_nothing_stored(message)


def test_a_rotated_secret_list_accepts_the_old_and_the_new(client, settings, case):
    kit, request, message = case
    setattr(settings, kit.setting, kit.other_secrets() + kit.secrets())
    assert request.post(client).status_code == 200


def test_a_replayed_request_is_stored_once(client, case):
    kit, request, message = case
    assert request.post(client).status_code == 200
    response = request.post(client)
    assert response.status_code == 200
    assert WebhookRequest.objects.count() == 1
    assert MessageEvent.objects.filter(message_id=message.pk, source="provider").count() == 1


def test_an_unset_secret_is_a_503_naming_the_variable(client, settings, case):
    kit, request, message = case
    setattr(settings, kit.setting, [])
    response = request.post(client)
    assert response.status_code == 503
    assert kit.setting in response.json()["detail"]
    assert_nothing_stored(message)


def test_a_body_over_the_limit_is_a_413_and_stores_nothing(client, settings, case):
    kit, request, message = case
    settings.TIDINGS_WEBHOOK_MAX_BYTES = len(request.body) - 1
    response = request.post(client)
    assert response.status_code == 413
    assert_nothing_stored(message)


def test_head_answers_200(client, case):
    kit, request, message = case
    assert client.head(request.path).status_code == 200
    assert WebhookRequest.objects.count() == 0


def test_get_is_not_allowed(client, case):
    kit, request, message = case
    response = client.get(request.path)
    assert response.status_code == 405
    assert "POST" in response["Allow"]


def test_it_needs_no_csrf_token_and_no_session(case):
    kit, request, message = case
    client = Client(enforce_csrf_checks=True)
    assert request.post(client).status_code == 200


def test_a_signing_certificate_on_a_foreign_host_is_a_403_and_is_never_fetched(client, kits):
    message = sent_message(101)
    kit = kits["ses"]
    request = kit.request("delivery", cert_url="https://attacker.example.com/cert.pem")
    response = request.post(client)
    assert response.status_code == 403
    assert_nothing_stored(message)


def test_a_signing_certificate_over_plain_http_is_a_403(client, kits):
    message = sent_message(101)
    url = "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem"
    response = kits["ses"].request("delivery", cert_url=url).post(client)
    assert response.status_code == 403
    assert_nothing_stored(message)


def test_an_unknown_provider_is_a_404(client, kits):
    assert (
        client.post("/webhooks/sparkpost/", data=b"[]", content_type="application/json").status_code
        == 404
    )


def test_every_provider_without_a_secret_is_warned_about_at_start_up(settings):
    from messaging.webhooks.views import check_webhook_secrets

    for kit in KITS.values():
        setattr(settings, kit.setting, [])
    warnings = check_webhook_secrets()
    assert [w.id for w in warnings] == [f"messaging.W00{i}" for i in range(1, 6)]
    assert all(kit.setting in " ".join(w.msg for w in warnings) for kit in KITS.values())
    settings.SENDGRID_WEBHOOK_VERIFICATION_KEY = ["key"]
    assert "messaging.W001" not in [w.id for w in check_webhook_secrets()]


def test_the_start_up_check_is_registered():
    from django.core import checks

    from messaging.webhooks.views import check_webhook_secrets

    assert check_webhook_secrets in checks.registry.registry.get_checks()
