"""GET /t/o/<token>.gif: a 1x1 GIF that records an open, never cached."""

import pytest
from django.core import signing

from campaigns.vocabulary import Channel
from messaging.ingest import messages_discard
from messaging.models import MessageEvent
from messaging.tracking.tokens import make_token
from tests.ingest.helpers import assert_no_drift

from .helpers import BROWSER, GOOGLEBOT, click_path, pixel_path, recipient_events, sent

pytestmark = pytest.mark.django_db


def test_it_answers_a_one_pixel_gif_that_no_one_caches(client):
    message = sent()
    response = client.get(pixel_path(message), headers={"User-Agent": BROWSER})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    body = response.content
    assert body[:6] == b"GIF89a"
    assert (int.from_bytes(body[6:8], "little"), int.from_bytes(body[8:10], "little")) == (1, 1)
    assert "no-cache" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache"


def test_it_records_a_human_open_before_answering(client):
    message = sent()
    client.get(pixel_path(message), headers={"User-Agent": BROWSER})
    message.refresh_from_db()
    assert (message.status, message.open_count) == ("opened", 1)
    # Engagement implies delivery on email.
    assert message.delivered_at == message.opened_at
    [event] = recipient_events(message)
    assert (event.type, event.machine) == ("opened", False)
    assert event.detail["user_agent"] == BROWSER
    assert_no_drift(message.campaign_id)


def test_every_load_counts_as_another_open(client):
    message = sent()
    for _ in range(3):
        client.get(pixel_path(message), headers={"User-Agent": BROWSER})
    message.refresh_from_db()
    assert message.open_count == 3


def test_a_head_request_is_a_machine_open_that_counts_for_nothing(client):
    message = sent()
    response = client.head(pixel_path(message), headers={"User-Agent": BROWSER})
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.open_count, message.opened_at) == ("sent", 0, None)
    [event] = recipient_events(message)
    assert (event.type, event.machine) == ("opened", True)
    assert_no_drift(message.campaign_id)


def test_a_known_bot_is_a_machine_open(client):
    message = sent()
    client.get(pixel_path(message), headers={"User-Agent": GOOGLEBOT})
    message.refresh_from_db()
    assert message.open_count == 0
    [event] = recipient_events(message)
    assert event.machine
    assert event.detail["bot"] is True


def test_a_pixel_on_a_channel_without_opens_is_kept_as_refused(client):
    message = sent(Channel.SMS)
    response = client.get(pixel_path(message), headers={"User-Agent": BROWSER})
    assert response.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.open_count) == ("sent", 0)
    assert [e.type for e in recipient_events(message)] == ["refused"]


def bad_tokens(message):
    good = make_token(message_id=message.pk)
    value, signature = good.split(".", 1)
    return {
        "tampered id": f"{message.pk + 1}.{signature}",
        "tampered signature": f"{value}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "truncated": good[:-3],
        "unsigned": value,
        "another salt": signing.Signer(salt="another.purpose", sep=".").sign(value),
        "a click token": click_path(message).rsplit("/", 1)[1],
        "a missing message": make_token(message_id=message.pk + 10_000),
        "garbage": "....",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "tampered id",
        "tampered signature",
        "truncated",
        "unsigned",
        "another salt",
        "a click token",
        "a missing message",
        "garbage",
    ],
)
def test_a_bad_token_is_a_404_and_records_nothing(client, kind):
    message = sent()
    token = bad_tokens(message)[kind]
    response = client.get(f"/t/o/{token}.gif", headers={"User-Agent": BROWSER})
    assert response.status_code == 404
    assert not MessageEvent.objects.filter(message_id=message.pk, source="recipient").exists()


def test_a_token_signed_with_another_deployments_key_is_a_404(client, settings):
    message = sent()
    settings.SECRET_KEY = "another deployment's secret key, quite long enough"
    foreign = make_token(message_id=message.pk)
    settings.SECRET_KEY = "tests-only-not-a-secret"
    assert client.get(f"/t/o/{foreign}.gif").status_code == 404
    assert recipient_events(message) == []


def test_a_discarded_message_is_a_404(client):
    message = sent()
    messages_discard([message.pk], now=message.created_at, status="sent")
    assert client.get(pixel_path(message)).status_code == 404
    assert recipient_events(message) == []


def test_only_get_and_head_are_answered(client):
    message = sent()
    assert client.post(pixel_path(message)).status_code == 405
    assert recipient_events(message) == []
