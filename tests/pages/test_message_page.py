import pytest
from django.test import Client

from campaigns.vocabulary import Channel
from messaging.models import Message
from tests import factories
from tests.factories import event
from tests.pages.helpers import journey

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _capture_providers(settings):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )


def test_the_timeline_lists_every_event_in_time_order_with_implied_ones(logged_in):
    message = factories.message(Channel.EMAIL)
    journey(
        message,
        ("clicked", {"link_id": message.action.links.first().id, "detail": {"ua": "x"}}),
        ("opened", {"machine": True}),
    )
    response = logged_in.get(f"/messages/{message.id}/")
    timeline = response.context["timeline"]
    assert [(row["type"], row["source"]) for row in timeline] == [
        ("queued", "pipeline"),
        ("sent", "pipeline"),
        # The click implies a delivery and an open at its instant.
        ("delivered", "implied"),
        ("opened", "implied"),
        ("clicked", "provider"),
        ("opened", "provider"),
    ]
    assert timeline[-1]["machine"] is True
    assert timeline[4]["link"] == "https://example.com/a"
    html = response.content.decode()
    assert "<summary>Raw payload</summary>" in html and "&quot;ua&quot;: &quot;x&quot;" in html
    assert 'id="current-status">clicked<' in html


def test_the_page_shows_the_failure_reason_and_offers_a_retry(logged_in):
    message = factories.message(Channel.SMS)
    journey(message, ("failed", {"reason": "21610 recipient opted out"}))
    html = logged_in.get(f"/messages/{message.id}/").content.decode()
    assert "21610 recipient opted out" in html
    assert f'action="/messages/{message.id}/retry/"' in html
    assert f'action="/messages/{message.id}/send/"' not in html

    response = logged_in.post(f"/messages/{message.id}/retry/")
    assert response.status_code == 302 and response["Location"] == f"/messages/{message.id}/"
    assert Message.objects.get(pk=message.pk).status == "queued"


def test_a_draft_is_sent_from_its_page(logged_in):
    message = factories.message(action_obj=factories.action(Channel.EMAIL, send_as_draft=True))
    html = logged_in.get(f"/messages/{message.id}/").content.decode()
    assert f'action="/messages/{message.id}/send/"' in html
    assert f'action="/messages/{message.id}/retry/"' not in html
    response = logged_in.post(f"/messages/{message.id}/send/", follow=True)
    assert Message.objects.get(pk=message.pk).status == "queued"
    assert "queued for sending" in response.content.decode()


def test_a_draft_can_be_discarded_from_its_page(logged_in):
    message = factories.message(action_obj=factories.action(Channel.EMAIL, send_as_draft=True))
    logged_in.post(f"/messages/{message.id}/discard/")
    assert Message.objects.get(pk=message.pk).discarded_at is not None


def test_retrying_a_message_that_did_not_fail_changes_nothing_and_says_why(logged_in):
    message = factories.message(Channel.EMAIL)
    journey(message, "delivered")
    response = logged_in.post(f"/messages/{message.id}/retry/", follow=True)
    assert Message.objects.get(pk=message.pk).status == "delivered"
    assert "not failed" in response.content.decode()


def test_send_and_retry_answer_only_csrf_protected_posts(staff):
    message = factories.message(Channel.EMAIL)
    journey(message, ("failed", {"reason": "x"}))
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.get(f"/messages/{message.id}/retry/").status_code == 405
    assert client.post(f"/messages/{message.id}/retry/").status_code == 403
    assert Message.objects.get(pk=message.pk).status == "failed"


def test_an_unknown_message_is_a_404(logged_in):
    assert logged_in.get("/messages/999999/").status_code == 404
    assert logged_in.get("/campaigns/999999/").status_code == 404


def test_a_push_click_implies_an_open_but_no_delivery(logged_in):
    message = factories.message(Channel.PUSH)
    from messaging.ingest import apply_events

    apply_events([event(message, "sent", 1, source="pipeline"), event(message, "clicked", 5)])
    timeline = logged_in.get(f"/messages/{message.id}/").context["timeline"]
    implied = [row["type"] for row in timeline if row["source"] == "implied"]
    assert implied == ["opened"]


def test_a_retried_messages_timeline_names_each_events_attempt_and_refusals(
    logged_in, django_capture_on_commit_callbacks
):
    from messaging.ingest import apply_events
    from messaging.sending import message_retry

    message = factories.message(Channel.EMAIL)
    journey(message, ("failed", {"reason": "boom", "source": "pipeline"}))
    with django_capture_on_commit_callbacks(execute=True):
        message_retry(message=Message.objects.get(pk=message.pk))
    # An SMS provider cannot speak for an email: history only.
    apply_events([event(message, "delivered", 30, provider="twilio", key="tw")])
    html = logged_in.get(f"/messages/{message.id}/").content.decode()
    assert 'data-attempt="1"' in html and 'data-attempt="2"' in html
    assert "refused: twilio does not send email messages" in html
    message = Message.objects.get(pk=message.pk)
    assert message.attempt == 2 and message.status == "sent"
