"""Reporting webhooks in the admin: the deliverability role manages them
(the API's permission), the attempts are listed with their error and next
retry, a disabled endpoint shows why, and redeliver sends again."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from config.access import user_role_set
from messaging.reporting.models import (
    NotificationStatus,
    ReportingDelivery,
    ReportingNotification,
    ReportingWebhook,
)
from tests.reporting.helpers import deliver_all, sent_message, webhook
from tests.reporting.receiver import Answer

pytestmark = pytest.mark.django_db
HOOKS = "/admin/messaging/reportingwebhook/"
ATTEMPTS = "/admin/messaging/reportingdelivery/"


def _staff(role: str):
    user = get_user_model().objects.create_user(f"s-{role}", password="pw-x-12345", is_staff=True)
    user_role_set(user=user, role=role)
    return user


@pytest.mark.parametrize(
    ("role", "allowed"), [("viewer", False), ("marketer", False), ("deliverability", True)]
)
def test_only_deliverability_sees_reporting_webhooks_in_the_admin(client, role, allowed):
    client.force_login(_staff(role))
    for url in (HOOKS, f"{HOOKS}add/", ATTEMPTS):
        assert client.get(url).status_code == (200 if allowed else 403), url


def test_adding_a_webhook_in_the_admin_checks_the_url_and_makes_a_secret(client, settings):
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = False
    client.force_login(_staff("deliverability"))
    form = {"events": ["delivered", "clicked"], "occurrence": "first", "enabled": "on"}
    refused = client.post(f"{HOOKS}add/", {**form, "url": "http://169.254.169.254/x"})
    assert refused.status_code == 200 and "This URL is refused" in refused.content.decode()
    assert not ReportingWebhook.objects.exists()

    added = client.post(f"{HOOKS}add/", {**form, "url": "https://hooks.example.com/t"})
    assert added.status_code == 302
    hook = ReportingWebhook.objects.get()
    assert hook.secret.startswith("whsec_") and hook.events == ["delivered", "clicked"]


def test_attempts_show_their_error_and_a_disabled_endpoint_its_note(client, receiver):
    hook = webhook(receiver.url, events=["sent"])
    answers = iter([500, 204])
    receiver.answer = lambda request: Answer(next(answers))
    sent_message()
    deliver_all()
    ReportingWebhook.objects.filter(pk=hook.pk).update(
        enabled=False, disabled_note="Disabled automatically at …: no delivery succeeded"
    )
    client.force_login(_staff("deliverability"))
    attempts = client.get(ATTEMPTS).content.decode()
    assert "HTTP 500" in attempts and "message.sent" in attempts
    assert "Disabled automatically" in client.get(HOOKS).content.decode()


def test_the_redeliver_action_sends_the_notification_again(client, receiver):
    webhook(receiver.url, events=["sent"])
    sent_message()
    deliver_all()
    client.force_login(_staff("deliverability"))
    delivery = ReportingDelivery.objects.get()
    response = client.post(
        ATTEMPTS, {"action": "redeliver_selected", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
    assert ReportingNotification.objects.get().status == NotificationStatus.PENDING
    deliver_all()
    assert len(receiver.all()) == 2
