"""One-click unsubscribe (RFC 8058): the headers every email carries, and
the /u/<token> endpoints exactly as CONTRACT.md says."""

import pytest
from django.conf import settings
from django.test import Client

from campaigns.metrics import campaign_metrics
from campaigns.vocabulary import Channel
from messaging.models import CapturedMessage, MessageEvent, Person
from messaging.sending import messages_send
from messaging.sending.backends import SendRequest
from messaging.sending.rendering import email_headers
from messaging.sending.simulator import sendgrid_mail_send_payload
from messaging.tracking.tokens import make_token, make_unsubscribe_token, unsubscribe_url
from tests.factories import event, message, person
from tests.ingest.helpers import apply, assert_no_drift, reload

pytestmark = pytest.mark.django_db

ONE_CLICK = "List-Unsubscribe=One-Click"


@pytest.fixture(autouse=True)
def _capture(settings):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )


def sent_email(**person_fields):
    msg = message(Channel.EMAIL, person_obj=person(**person_fields))
    apply(event(msg, "sent", 1), event(msg, "delivered", 2))
    return reload(msg)


def gmail_post(token: str):
    """Exactly what a mailbox provider posts: form-encoded body, no cookies,
    no CSRF token, no login."""
    return Client(enforce_csrf_checks=True).post(
        f"/u/{token}",
        data=ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": "Mozilla/5.0 (compatible; Google-Unsubscribe)"},
    )


def test_a_one_click_post_unsubscribes_and_records_the_messages_unsubscribed_event():
    msg = sent_email()
    response = gmail_post(make_unsubscribe_token(msg.id))
    assert response.status_code == 200
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is not None
    [unsubscribed] = MessageEvent.objects.filter(message=msg, type="unsubscribed")
    assert unsubscribed.source == "recipient"
    msg = reload(msg)
    assert msg.status == "unsubscribed" and msg.unsubscribed_at is not None
    assert campaign_metrics(msg.campaign)["counts"]["unsubscribed"] == 1
    assert_no_drift()


def test_a_repeat_unsubscribes_nothing_twice():
    msg = sent_email()
    token = make_unsubscribe_token(msg.id)
    assert gmail_post(token).status_code == 200
    assert gmail_post(token).status_code == 200
    assert MessageEvent.objects.filter(message=msg, type="unsubscribed").count() == 1
    from messaging.audience.audit import AuditEntry

    assert AuditEntry.objects.filter(action="unsubscribed").count() == 1
    assert campaign_metrics(msg.campaign)["counts"]["unsubscribed"] == 1


@pytest.mark.parametrize("method", ["get", "head"])
def test_a_get_never_unsubscribes(client, method):
    msg = sent_email(email="ann@example.com")
    response = getattr(client, method)(f"/u/{make_unsubscribe_token(msg.id)}")
    assert response.status_code == 200
    if method == "get":
        assert b"ann@example.com" in response.content
        assert b'name="List-Unsubscribe" value="One-Click"' in response.content
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is None
    assert not MessageEvent.objects.filter(message=msg, type="unsubscribed").exists()


def test_the_pages_form_unsubscribes_and_confirms():
    msg = sent_email(email="ann@example.com")
    response = Client(enforce_csrf_checks=True).post(
        f"/u/{make_unsubscribe_token(msg.id)}", {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is not None


@pytest.mark.parametrize(
    "token",
    [
        "nope",
        "1.abcdef",
        lambda m: make_unsubscribe_token(m.id)[:-2] + "xx",
        lambda m: make_unsubscribe_token(m.id + 1000),  # signed, but no such message
        lambda m: make_token(message_id=m.id),  # an open-pixel token is not an unsubscribe one
    ],
)
def test_a_tampered_or_unknown_token_is_404_and_records_nothing(token):
    msg = sent_email()
    value = token(msg) if callable(token) else token
    assert gmail_post(value).status_code == 404
    assert Client().get(f"/u/{value}").status_code == 404
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is None
    assert not MessageEvent.objects.filter(type="unsubscribed").exists()


def test_a_post_without_the_one_click_body_changes_nothing():
    msg = sent_email()
    response = Client().post(f"/u/{make_unsubscribe_token(msg.id)}", {"other": "x"})
    assert response.status_code == 400
    assert Person.objects.get(pk=msg.person_id).unsubscribed_at is None


def test_every_email_is_sent_with_the_list_unsubscribe_headers(django_capture_on_commit_callbacks):
    msg = message(Channel.EMAIL)
    messages_send(message_ids=[msg.id])
    captured = CapturedMessage.objects.get(message_id=msg.id)
    url = f"{settings.TIDINGS_PUBLIC_URL}/u/{make_unsubscribe_token(msg.id)}"
    assert captured.headers == {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    sms = message(Channel.SMS)
    messages_send(message_ids=[sms.id])
    assert CapturedMessage.objects.get(message_id=sms.id).headers == {}


def test_the_message_api_shows_the_headers_and_the_unsubscribe_url(admin_client):
    msg = sent_email()
    body = admin_client.get(f"/api/v1/messages/{msg.id}/").json()
    assert body["headers"] == email_headers(msg.id)
    assert body["tracking"]["unsubscribe_url"] == unsubscribe_url(msg.id)
    assert body["headers"]["List-Unsubscribe"] == f"<{unsubscribe_url(msg.id)}>"
    sms = message(Channel.SMS)
    sms_body = admin_client.get(f"/api/v1/messages/{sms.id}/").json()
    assert sms_body["headers"] == {} and sms_body["tracking"]["unsubscribe_url"] is None


def test_the_simulated_sendgrid_call_carries_the_headers_and_our_ids():
    request = SendRequest(
        message_id=7,
        channel=Channel.EMAIL,
        address="ann@example.com",
        subject="Hi",
        body="<p>Hi</p>",
        idempotency_key="tidings-7-0",
        attempt=0,
        tries=0,
        headers=email_headers(7),
    )
    payload = sendgrid_mail_send_payload(request)
    assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert payload["headers"]["List-Unsubscribe"] == f"<{unsubscribe_url(7)}>"
    [personalization] = payload["personalizations"]
    assert personalization["to"] == [{"email": "ann@example.com"}]
    assert personalization["custom_args"] == {"tidings_message_id": "7", "tidings_attempt": "0"}


def test_the_token_is_bound_to_its_message():
    first, second = sent_email(), sent_email()
    assert make_unsubscribe_token(first.id) != make_unsubscribe_token(second.id)
    gmail_post(make_unsubscribe_token(first.id))
    assert Person.objects.get(pk=second.person_id).unsubscribed_at is None
    assert MessageEvent.objects.filter(type="unsubscribed").get().message_id == first.id
