"""POST /webhooks/twilio/ with the stored status callbacks, signed over the
public URL (TIDINGS_PUBLIC_URL + path + query, our id in the query) with a
generated auth token."""

import pytest

from campaigns.vocabulary import Channel
from messaging.models import Suppression, WebhookRequest
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_bytes
from .kits import PROVIDER_IDS, assert_milestones, history, sent_message

pytestmark = pytest.mark.django_db

# fixture → (status, stored history type, bounce type, reason)
EXPECTED = {
    "queued": ("sent", "accepted", None, ""),
    "sending": ("sent", "accepted", None, ""),
    "sent": ("sent", "accepted", None, ""),
    "delivered": ("delivered", "delivered", None, ""),
    "partially_delivered": ("delivered", "delivered", None, "partially delivered"),
    "undelivered_30005": ("bounced", "bounced", "hard", "30005 unknown destination handset"),
    "undelivered_30006": ("bounced", "bounced", "hard", "30006 landline or unreachable carrier"),
    "undelivered_30003": ("bounced", "bounced", "soft", "30003 unreachable destination handset"),
    "undelivered_30007": ("bounced", "bounced", "soft", "30007 message filtered by carrier"),
    "failed_30034": ("failed", "failed", None, "30034 message from an unregistered 10DLC number"),
    "failed_21610": ("failed", "failed", None, "recipient opted out"),
    "canceled": ("failed", "failed", None, "canceled"),
    # SMS tracks no opens: a WhatsApp read receipt is kept as refused history.
    "read_whatsapp": ("sent", "refused", None, ""),
    "unknown_status": ("sent", "unknown", None, "Twilio status 'receiving'"),
}


@pytest.fixture
def message(kits):
    return sent_message(101, channel=Channel.SMS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_applies_each_status_callback(client, kits, message, name):
    status, stored_type, bounce_type, reason = EXPECTED[name]

    response = kits["twilio"].request(name).post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == status
    assert message.bounce_type == bounce_type
    [event] = history(message)
    assert (event.type, event.reason) == (stored_type, reason)
    assert event.idempotency_key.startswith(f"twilio:{PROVIDER_IDS['twilio']}:")
    assert_milestones(message, event)
    if status == "failed":
        assert message.failure_reason == reason
    # SMS has no suppression list, not even for a hard bounce.
    assert Suppression.objects.count() == 0
    [row] = WebhookRequest.objects.all()
    assert row.status == "applied"
    assert row.url.endswith("/webhooks/twilio/?tidings_message_id=101")
    assert_no_drift(message.campaign_id)


def test_a_callback_without_our_id_in_the_url_is_matched_by_the_message_sid(client, kits):
    message = sent_message(channel=Channel.SMS, provider_message_id=PROVIDER_IDS["twilio"])
    response = kits["twilio"].request("delivered", message_id=None).post(client)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_callbacks_out_of_order_give_the_same_status(client, kits, message):
    kit = kits["twilio"]
    for name in ("delivered", "sent", "queued", "sending"):
        assert kit.request(name).post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert [e.type for e in history(message)].count("accepted") == 3


def test_a_repeated_callback_is_stored_once(client, kits, message):
    request = kits["twilio"].request("delivered")
    assert request.post(client).status_code == 200
    assert request.post(client).status_code == 200
    assert len(history(message)) == 1
    assert WebhookRequest.objects.count() == 1


def test_a_callback_signed_for_another_url_is_refused(client, kits, message):
    # Moving the signed form to another message's URL breaks the signature.
    request = kits["twilio"].request("delivered")
    response = request.post(client, path="/webhooks/twilio/?tidings_message_id=102")
    assert response.status_code == 403
    assert WebhookRequest.objects.count() == 0


def test_an_opt_out_reported_as_undelivered_is_a_failure_with_that_reason(client, kits, message):
    # PROVIDERS.md: a Twilio opt-out (21610) is failed, whatever the status says.
    body = fixture_bytes("twilio", "undelivered_30003").replace(b"=30003", b"=21610")

    response = kits["twilio"].request(body=body).post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert (message.status, message.bounce_type) == ("failed", None)
    assert message.failure_reason == "recipient opted out"
    [event] = history(message)
    assert (event.type, event.reason) == ("failed", "recipient opted out")
    assert_no_drift(message.campaign_id)


def test_a_body_that_is_not_utf8_is_a_400_and_stores_nothing(client, kits, message):
    kit = kits["twilio"]
    form = fixture_bytes("twilio", "delivered") + "&ErrorMessage=café".encode()
    # Signed as Twilio signs the form, but sent in Latin-1: not UTF-8.
    signed = kit.request(body=form)
    response = signed.post(client, body=form.decode().encode("latin-1"))

    assert response.status_code == 400, response.content
    assert WebhookRequest.objects.count() == 0
    assert history(message) == []
