"""A draft's tracking URLs are visible (a preview, a forwarded proof): hitting
them serves the pixel and redirects, but records history only, and the
draft can still be sent or discarded."""

import pytest
from django.utils import timezone

from campaigns.metrics import campaign_metrics
from campaigns.vocabulary import Channel, EventType
from messaging.models import Message, MessageEvent
from messaging.sending import message_discard, message_send_draft
from tests import factories
from tests.ingest.helpers import assert_no_drift

from .helpers import BROWSER, URL_A, URL_B, click_path, pixel_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft():
    action = factories.action(Channel.EMAIL, links=(URL_A, URL_B), send_as_draft=True)
    message = factories.message(Channel.EMAIL, action_obj=action, now=timezone.now())
    assert message.status == "drafted"
    return message


def hit_both(client, message):
    pixel = client.get(pixel_path(message), headers={"user-agent": BROWSER})
    click = client.get(click_path(message), headers={"user-agent": BROWSER})
    return pixel, click


def test_a_drafts_pixel_and_link_still_answer_but_record_history_only(client, draft):
    pixel, click = hit_both(client, draft)
    assert pixel.status_code == 200 and pixel["Content-Type"] == "image/gif"
    assert click.status_code == 302 and click["Location"] == URL_A
    message = Message.objects.get(pk=draft.pk)
    assert message.status == "drafted"
    assert message.opened_at is None and message.clicked_at is None
    assert message.open_count == message.click_count == 0
    refused = MessageEvent.objects.filter(message=message, type=EventType.REFUSED)
    assert sorted(e.detail["refused_type"] for e in refused) == ["clicked", "opened"]
    assert {e.detail["refused_reason"] for e in refused} == {"not sent"}
    metrics = campaign_metrics(message.campaign)
    assert metrics["counts"]["opened"] == metrics["counts"]["clicked"] == 0
    assert metrics["counts"]["drafted"] == 1
    assert all(rate is None for rate in metrics["rates"].values())
    assert_no_drift(message.campaign_id)


def test_a_draft_hit_before_sending_can_still_be_discarded(client, draft):
    hit_both(client, draft)
    message_discard(message=Message.objects.get(pk=draft.pk))
    assert Message.objects.get(pk=draft.pk).discarded_at is not None
    assert_no_drift(draft.campaign_id)


def test_a_draft_hit_before_sending_can_still_be_sent_and_then_counts_new_opens(
    client, draft, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = {"email": "capture"}
    hit_both(client, draft)
    with django_capture_on_commit_callbacks(execute=True):
        message_send_draft(message=Message.objects.get(pk=draft.pk))
    sent = Message.objects.get(pk=draft.pk)
    assert sent.status == "sent" and sent.attempt == 2
    client.get(pixel_path(sent), headers={"user-agent": BROWSER})
    message = Message.objects.get(pk=draft.pk)
    assert message.status == "opened" and message.open_count == 1
    assert_no_drift(message.campaign_id)
