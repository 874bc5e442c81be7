"""A provider callback that names a provider id we have not stored yet waits
in the inbox, and is applied by the send that stores that id — not minutes
later by the sweeper."""

import json

import pytest
from django.utils import timezone

from campaigns.vocabulary import Channel
from messaging.models import CapturedMessage, Message, WebhookRequest
from messaging.sending import idempotency_key, messages_send
from tests import factories

from .helpers import fixture_json


@pytest.mark.django_db
def test_a_callback_that_beat_the_send_is_applied_when_the_send_records_its_provider_id(
    client, kits, settings
):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = {
        **settings.TIDINGS_PROVIDER_BY_CHANNEL,
        "email": "capture",
    }
    message = factories.message(Channel.EMAIL)
    # The provider accepted this message before a crash (same idempotency
    # key), so it will answer the resend with the id it gave then.
    CapturedMessage.objects.create(
        idempotency_key=idempotency_key(message),
        message_id=message.id,
        channel=message.channel,
        address=message.address,
        provider_message_id="cap_early",
        accepted_at=timezone.now(),
    )
    event = {**fixture_json("sendgrid", "delivered")[0], "sg_message_id": "cap_early.filter-1"}
    event.pop("tidings_message_id", None)
    response = kits["sendgrid"].events([event]).post(client)
    assert response.status_code == 200
    assert WebhookRequest.objects.get().status == "waiting"

    messages_send(message_ids=[message.id], enqueue_retries=False)

    message = Message.objects.get(pk=message.pk)
    assert message.provider_message_id == "cap_early"
    assert message.status == "delivered"
    assert WebhookRequest.objects.get().status == "applied"
    assert json.loads(bytes(WebhookRequest.objects.get().body))[0]["sg_message_id"].startswith(
        "cap_early"
    )
