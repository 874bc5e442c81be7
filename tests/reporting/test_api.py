"""The reporting webhooks' API (CONTRACT.md "Reporting webhooks (data out)"):
create (secret shown once), read, change, delete, the delivery attempts
newest first, redeliver; bad input is a 400 that stores nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from messaging.reporting.models import (
    NotificationStatus,
    ReportingDelivery,
    ReportingNotification,
    ReportingWebhook,
)
from tests.reporting.helpers import deliver_all, sent_message
from tests.reporting.receiver import Answer

pytestmark = pytest.mark.django_db
URL = "/api/v1/reporting-webhooks/"


@pytest.fixture
def api(db):
    user = get_user_model().objects.create_user("hooks", password="x-pw-12345", is_superuser=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_creating_a_webhook_answers_201_with_its_secret_shown_only_then(api):
    response = api.post(URL, {"url": "https://hooks.example.com/t", "events": ["delivered"]})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    Webhook(body["secret"])  # a secret the Standard Webhooks library accepts
    assert body["occurrence"] == "first"
    assert body["include_content"] is False and body["enabled"] is True
    assert body["events"] == ["delivered"]

    listed = api.get(URL).json()["results"]
    assert [hook["id"] for hook in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"{URL}{body['id']}/").json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "https://h.example.com/", "events": ["delivered", "posted"]}, "events"),
        ({"url": "https://h.example.com/", "events": []}, "events"),
        ({"url": "https://h.example.com/", "events": "delivered"}, "events"),
        ({"url": "https://h.example.com/", "events": ["sent"], "occurrence": "last"}, "occurrence"),
        ({"url": "ftp://h.example.com/", "events": ["sent"]}, "url"),
        ({"url": "not a url", "events": ["sent"]}, "url"),
        ({"events": ["sent"]}, "url"),
        ({"url": "https://h.example.com/", "events": ["sent"], "secret": "whsec_x"}, "secret"),
        ({"url": "https://h.example.com/", "events": ["sent"], "colour": 1}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, payload, field):
    response = api.post(URL, payload)
    assert response.status_code == 400
    assert field in response.json()
    assert not ReportingWebhook.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost/hook",
    ],
)
def test_a_private_or_metadata_url_is_refused_when_saved(api, settings, url):
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    response = api.post(URL, {"url": url, "events": ["sent"]})
    assert response.status_code == 400
    assert "refused" in response.json()["url"][0]
    assert not ReportingWebhook.objects.exists()


def test_a_patch_to_a_private_url_is_refused_and_changes_nothing(api, settings):
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    hook = api.post(URL, {"url": "https://h.example.com/", "events": ["sent"]}).json()
    response = api.patch(f"{URL}{hook['id']}/", {"url": "http://192.168.1.1/"})
    assert response.status_code == 400
    assert ReportingWebhook.objects.get().url == "https://h.example.com/"


def test_patch_changes_only_the_fields_given_and_reenabling_clears_the_failure_note(api):
    hook = api.post(URL, {"url": "https://h.example.com/", "events": ["sent"]}).json()
    ReportingWebhook.objects.filter(pk=hook["id"]).update(
        enabled=False, disabled_note="Disabled automatically …"
    )
    response = api.patch(
        f"{URL}{hook['id']}/", {"events": ["opened", "clicked"], "occurrence": "every"}
    )
    assert response.status_code == 200
    assert response.json()["events"] == ["opened", "clicked"]
    assert response.json()["enabled"] is False
    response = api.patch(f"{URL}{hook['id']}/", {"enabled": True})
    assert response.json()["enabled"] is True and response.json()["disabled_note"] == ""


def test_delete_removes_the_webhook_and_unknown_ids_are_404(api):
    hook = api.post(URL, {"url": "https://h.example.com/", "events": ["sent"]}).json()
    assert api.delete(f"{URL}{hook['id']}/").status_code == 204
    assert api.get(f"{URL}{hook['id']}/").status_code == 404
    assert api.get(f"{URL}{hook['id']}/deliveries/").status_code == 404


def test_deliveries_list_the_attempts_newest_first_and_redeliver_sends_again(api, receiver):
    hook = api.post(URL, {"url": receiver.url, "events": ["sent"]}).json()
    answers = iter([500, 204, 204])
    receiver.answer = lambda request: Answer(next(answers))
    message = sent_message()
    deliver_all()

    rows = api.get(f"{URL}{hook['id']}/deliveries/").json()["results"]
    assert [row["attempt"] for row in rows] == [2, 1]
    newest, oldest = rows
    assert set(newest) == {
        "id",
        "webhook_id",
        "event",
        "message",
        "attempt",
        "status_code",
        "error",
        "at",
        "next_retry_at",
    }
    assert newest["webhook_id"] == receiver.all()[0].headers["webhook-id"]
    assert newest["event"] == "message.sent" and newest["message"] == message.id
    assert (oldest["status_code"], newest["status_code"]) == (500, 204)
    assert oldest["error"].startswith("HTTP 500") and oldest["next_retry_at"] is not None
    assert newest["error"] == "" and newest["next_retry_at"] is None

    response = api.post(f"{URL}{hook['id']}/deliveries/{oldest['id']}/redeliver/", {})
    assert response.status_code == 202
    assert response.json() == {"webhook_id": newest["webhook_id"], "status": "pending"}
    deliver_all()
    requests = receiver.all()
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert ReportingNotification.objects.get().status == NotificationStatus.DELIVERED
    assert ReportingDelivery.objects.count() == 3


def test_redelivering_another_webhooks_attempt_is_404(api, receiver):
    first = api.post(URL, {"url": receiver.url, "events": ["sent"]}).json()
    second = api.post(URL, {"url": receiver.url + "2", "events": ["sent"]}).json()
    sent_message()
    deliver_all()
    delivery = ReportingDelivery.objects.filter(webhook_id=first["id"]).get()
    response = api.post(f"{URL}{second['id']}/deliveries/{delivery.id}/redeliver/", {})
    assert response.status_code == 404
