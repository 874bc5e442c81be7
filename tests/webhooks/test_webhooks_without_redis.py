"""Webhook ingestion never depends on Redis: with the broker unreachable a
provider's batch is still stored, applied and answered 200."""

import pytest

from config.celery import app
from messaging.models import WebhookRequest

from .kits import PROVIDER_IDS, sent_message


@pytest.mark.django_db
def test_a_webhook_is_stored_and_applied_while_redis_is_down(client, kits, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens: refused
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert app.conf.broker_url == "redis://127.0.0.1:1/0"
    message = sent_message(101, provider_message_id=PROVIDER_IDS["sendgrid"])

    response = kits["sendgrid"].request("delivered").post(client)

    assert response.status_code == 200
    assert WebhookRequest.objects.get().status == "applied"
    message.refresh_from_db()
    assert message.status == "delivered"
