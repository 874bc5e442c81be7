"""GET /t/c/<token>: a 302 to the stored URL of that message's link, after
recording the click; never a redirect anywhere else."""

import pytest

from campaigns.metrics import campaign_metrics
from campaigns.models import Link
from campaigns.vocabulary import Channel
from messaging.ingest import messages_discard
from messaging.models import MessageEvent
from messaging.tracking.tokens import make_token
from tests.ingest.helpers import assert_no_drift

from .helpers import (
    BROWSER,
    GOOGLEBOT,
    URL_A,
    URL_B,
    click_path,
    link_of,
    pixel_path,
    recipient_events,
    sent,
)

pytestmark = pytest.mark.django_db


def click(client, path, **headers):
    return client.get(path, headers={"User-Agent": BROWSER, **headers})


def test_it_redirects_to_the_links_stored_url_and_records_the_click(client):
    message = sent()
    response = click(client, click_path(message, URL_A))
    assert response.status_code == 302
    assert response["Location"] == URL_A
    assert "no-store" in response["Cache-Control"]
    message.refresh_from_db()
    assert (message.status, message.click_count) == ("clicked", 1)
    [event] = recipient_events(message)
    assert (event.type, event.link_id, event.machine) == ("clicked", link_of(message).pk, False)
    assert_no_drift(message.campaign_id)


def test_each_link_redirects_to_its_own_url_and_counts_for_itself(client):
    message = sent()
    assert click(client, click_path(message, URL_B))["Location"] == URL_B
    assert click(client, click_path(message, URL_B))["Location"] == URL_B
    links = {row["url"]: row for row in campaign_metrics(message.campaign)["links"]}
    assert (links[URL_B]["clicks"], links[URL_B]["unique_clicks"]) == (2, 1)
    assert links[URL_A]["clicks"] == 0


def test_the_query_string_of_the_tracking_url_changes_nothing(client):
    message = sent()
    response = click(client, click_path(message) + "?next=https://evil.example.com/&url=x")
    assert response["Location"] == URL_A


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.PUSH])
def test_a_click_implies_an_open_on_channels_that_track_opens(client, channel):
    message = sent(channel)
    click(client, click_path(message))
    message.refresh_from_db()
    assert (message.status, message.open_count, message.click_count) == ("clicked", 1, 1)
    assert message.opened_at == message.clicked_at
    # Derived, not stored: the history holds the click only.
    assert [e.type for e in recipient_events(message)] == ["clicked"]
    assert_no_drift(message.campaign_id)


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.SLACK, Channel.WEBHOOK])
def test_a_click_implies_no_open_on_channels_without_opens(client, channel):
    message = sent(channel)
    click(client, click_path(message))
    message.refresh_from_db()
    assert (message.status, message.click_count) == ("clicked", 1)
    assert (message.open_count, message.opened_at) == (0, None)


def test_a_click_on_a_channel_that_tracks_no_clicks_still_redirects_and_is_kept_as_refused(
    client,
):
    message = sent(Channel.AIRSHIP)
    response = click(client, click_path(message))
    assert response.status_code == 302
    assert response["Location"] == URL_A
    message.refresh_from_db()
    assert (message.status, message.click_count) == ("sent", 0)
    assert [e.type for e in recipient_events(message)] == ["refused"]
    assert_no_drift(message.campaign_id)


def test_a_head_request_on_a_tracked_link_is_only_a_machine_click(client):
    message = sent()
    response = client.head(click_path(message), headers={"User-Agent": BROWSER})
    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.click_count, message.open_count) == ("sent", 0, 0)
    assert (message.clicked_at, message.opened_at) == (None, None)
    [event] = recipient_events(message)
    assert (event.type, event.machine) == ("clicked", True)
    totals = campaign_metrics(message.campaign)["totals"]
    assert (totals["clicks"], totals["machine_clicks"]) == (0, 1)
    assert_no_drift(message.campaign_id)


def test_a_known_bot_following_a_link_is_a_machine_click(client):
    message = sent()
    response = click(client, click_path(message), **{"User-Agent": GOOGLEBOT})
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.click_count == 0
    assert recipient_events(message)[0].machine


def foreign_tokens(message, other):
    link = link_of(message)
    good = make_token(message_id=message.pk, link_id=link.pk)
    value, signature = good.split(".", 1)
    return {
        "tampered link": f"{message.pk}-{link_of(message, URL_B).pk}.{signature}",
        "tampered message": f"{other.pk}-{link.pk}.{signature}",
        "truncated": good[:-4],
        "no signature": value,
        "an open token": pixel_path(message).rsplit("/", 1)[1].removesuffix(".gif"),
        # Genuinely signed, but the link belongs to another message's action.
        "another actions link": make_token(message_id=message.pk, link_id=link_of(other).pk),
        "a missing link": make_token(message_id=message.pk, link_id=link.pk + 10_000),
        "a missing message": make_token(message_id=message.pk + 10_000, link_id=link.pk),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "tampered link",
        "tampered message",
        "truncated",
        "no signature",
        "an open token",
        "another actions link",
        "a missing link",
        "a missing message",
    ],
)
def test_a_bad_or_foreign_token_is_a_404_and_records_nothing(client, kind):
    message = sent()
    other = sent()
    token = foreign_tokens(message, other)[kind]
    response = click(client, f"/t/c/{token}")
    assert response.status_code == 404
    assert "Location" not in response
    assert not MessageEvent.objects.filter(source="recipient").exists()


def test_a_token_signed_with_another_deployments_key_is_a_404(client, settings):
    message = sent()
    settings.SECRET_KEY = "another deployment's secret key, quite long enough"
    foreign = click_path(message)
    settings.SECRET_KEY = "tests-only-not-a-secret"
    assert click(client, foreign).status_code == 404
    assert recipient_events(message) == []


def test_a_stored_url_that_is_not_http_is_never_redirected_to(client):
    message = sent()
    Link.objects.filter(pk=link_of(message).pk).update(url="javascript:alert(1)")
    assert click(client, click_path(message, "javascript:alert(1)")).status_code == 404
    assert recipient_events(message) == []


def test_a_discarded_message_is_a_404(client):
    message = sent()
    path = click_path(message)
    messages_discard([message.pk], now=message.created_at, status="sent")
    assert click(client, path).status_code == 404
