"""The smaller recovery gaps: an SNS certificate that cannot be fetched is a
503 (SNS retries 5xx, never 4xx); a provider's retry of a request stored but
never applied applies it; `replay_webhooks --failed` also takes rows a
crash left pending; a failed apply is retried within the next sweeps."""

from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from messaging.models import WebhookRequest
from messaging.webhooks import inbox
from messaging.webhooks.providers import ses

from .inbox_helpers import event_inserts_failing
from .kits import CERT_URL, history, sent_message

pytestmark = pytest.mark.django_db
OTHER_CERT_URL = CERT_URL.replace("tidings-test", "tidings-rotated")


class _Response:
    def __init__(self, status: int, content: bytes = b""):
        self.status_code = status
        self.content = content

    def raise_for_status(self):
        if self.status_code >= 400:
            raise requests.HTTPError(f"{self.status_code} from Amazon", response=self)


def test_an_sns_certificate_that_cannot_be_fetched_is_answered_503_and_nothing_is_stored(
    client, kits, monkeypatch
):
    sent_message(101)

    def unreachable(url, timeout=None):
        raise requests.ConnectionError("sns.us-east-1.amazonaws.com: Name or service not known")

    monkeypatch.setattr(ses.requests, "get", unreachable)
    request = kits["ses"].request("delivery", cert_url=OTHER_CERT_URL)
    response = request.post(client)
    assert response.status_code == 503
    assert response["Retry-After"]
    assert not WebhookRequest.objects.exists()

    # Amazon answers again: SNS's retry of the same notification goes in.
    monkeypatch.setattr(
        ses.requests, "get", lambda url, timeout=None: _Response(200, kits["ses"].cert.encode())
    )
    assert request.post(client).status_code == 200
    assert WebhookRequest.objects.get().status in ("applied", "waiting")


def test_a_certificate_amazon_does_not_have_is_still_a_403(client, kits, monkeypatch):
    monkeypatch.setattr(ses.requests, "get", lambda url, timeout=None: _Response(404))
    response = kits["ses"].request("delivery", cert_url=OTHER_CERT_URL).post(client)
    assert response.status_code == 403
    assert not WebhookRequest.objects.exists()


def test_a_provider_retry_of_a_stored_request_whose_apply_failed_applies_it(client, kits):
    message = sent_message(101)
    request = kits["sendgrid"].request("delivered")
    with event_inserts_failing():
        assert request.post(client).status_code == 200
    row = WebhookRequest.objects.get()
    assert row.status == "failed" and row.retry_after > timezone.now()  # backing off

    response = request.post(client)  # SendGrid's retry: the same bytes

    assert response.status_code == 200
    assert response.json()["inbox"] == "applied"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("applied", 2)
    message.refresh_from_db()
    assert message.status == "delivered"
    assert [e.type for e in history(message)] == ["delivered"]
    # A third delivery of it changes nothing.
    assert request.post(client).json()["detail"] == "Already received."
    assert len(history(message)) == 1


def store_pending(kits, *, age: timedelta) -> WebhookRequest:
    body = kits["sendgrid"].request("delivered").body
    row, created = inbox.webhook_request_store(
        provider="sendgrid",
        received_at=timezone.now() - age,
        url="",
        headers={},
        body=body,
        dedup_key=inbox.body_digest(body),
    )
    assert created and row.status == "pending"
    return row


def test_a_provider_retry_of_a_request_a_crash_left_pending_applies_it(client, kits):
    message = sent_message(101)
    row = store_pending(kits, age=inbox.STALE_PENDING + timedelta(seconds=5))
    response = kits["sendgrid"].request("delivered").post(client)
    assert response.status_code == 200
    row.refresh_from_db()
    assert row.status == "applied"
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_provider_retry_leaves_a_request_that_is_still_being_applied_alone(client, kits):
    sent_message(101)
    row = store_pending(kits, age=timedelta(seconds=1))
    response = kits["sendgrid"].request("delivered").post(client)
    assert response.json()["detail"] == "Already received."
    row.refresh_from_db()
    assert row.status == "pending"


def test_replay_failed_also_takes_requests_a_crash_left_pending(kits):
    message = sent_message(101)
    store_pending(kits, age=inbox.STALE_PENDING + timedelta(seconds=5))
    out = StringIO()
    call_command("replay_webhooks", "--failed", stdout=out)
    assert "Replayed 1 webhook requests: 1 applied" in out.getvalue()
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_failed_apply_is_retried_by_the_sweep_within_a_minute(client, kits):
    message = sent_message(101)
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
    soon = timezone.now() + timedelta(seconds=30)
    assert inbox.webhook_requests_sweep(now=soon).applied == [WebhookRequest.objects.get().pk]
    message.refresh_from_db()
    assert message.status == "delivered"


def test_an_amazon_server_error_on_the_certificate_is_a_503(client, kits, monkeypatch):
    monkeypatch.setattr(ses.requests, "get", lambda url, timeout=None: _Response(502))
    response = kits["ses"].request("delivery", cert_url=OTHER_CERT_URL).post(client)
    assert response.status_code == 503
    assert not WebhookRequest.objects.exists()
