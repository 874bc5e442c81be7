"""The message page shows the message as its recipient sees it."""

import html
import json
import re

import pytest

from campaigns.vocabulary import Channel
from messaging.models import MessageEvent
from messaging.preview import email_srcdoc, sms_length
from messaging.tracking.tokens import click_url, open_pixel_url
from tests import factories

pytestmark = pytest.mark.django_db

HTML_BODY = (
    "<html><body><p>Hi {{ first_name|there }}, "
    '<a href="https://example.com/a">see the offer</a> or '
    "<a href='https://example.com/b'>the plans</a>.</p></body></html>"
)


def srcdoc_of(page: str) -> str:
    match = re.search(r'<iframe[^>]*\bsrcdoc="([^"]*)"', page)
    assert match, "no srcdoc iframe on the page"
    return html.unescape(match.group(1))


def test_an_html_email_is_previewed_in_a_sandboxed_frame_without_pixel_or_tracked_links(
    logged_in,
):
    action = factories.action(Channel.EMAIL, body=HTML_BODY, subject="Offer for {{ first_name }}")
    message = factories.message(
        action_obj=action, person_obj=factories.person(attributes={"first_name": "Uma"})
    )
    # What was sent carries the pixel and the tracked URLs.
    assert open_pixel_url(message.id) in message.body
    links = {link.url: link.id for link in action.links.all()}
    assert click_url(message.id, links["https://example.com/a"]) in message.body

    page = logged_in.get(f"/messages/{message.id}/").content.decode()
    iframe = re.search(r"<iframe[^>]*>", page).group(0)
    sandbox = re.search(r'sandbox="([^"]*)"', iframe).group(1).split()
    assert not {"allow-scripts", "allow-same-origin", "allow-top-navigation"} & set(sandbox)
    srcdoc = srcdoc_of(page)
    assert "Hi Uma" in srcdoc
    assert "/t/o/" not in srcdoc and "/t/c/" not in srcdoc
    assert 'href="https://example.com/a"' in srcdoc and 'href="https://example.com/b"' in srcdoc
    # The source view still shows exactly what was sent.
    assert html.escape(open_pixel_url(message.id)) in page
    assert "Offer for Uma" in page


def test_a_plain_text_email_with_open_tracking_is_previewed_as_html_without_its_pixel(logged_in):
    action = factories.action(Channel.EMAIL, body="Hello\nsee https://example.com/a today")
    message = factories.message(action_obj=action)
    srcdoc = srcdoc_of(logged_in.get(f"/messages/{message.id}/").content.decode())
    assert "/t/o/" not in srcdoc and "<br>" in srcdoc
    assert 'href="https://example.com/a"' in srcdoc


def test_a_text_email_without_tracking_is_shown_as_text_not_links(logged_in):
    action = factories.action(
        Channel.EMAIL, body="Plain <3 text https://example.com/a", track_opens=False
    )
    message = factories.message(action_obj=action)
    response = logged_in.get(f"/messages/{message.id}/")
    assert response.context["preview"]["kind"] == "email_text"
    page = response.content.decode()
    assert "<iframe" not in page and "Plain &lt;3 text" in page


def test_a_tracked_url_of_another_message_or_a_forged_one_leads_nowhere_in_the_preview():
    body = (
        f'<a href="{click_url(99, 7)}">other</a> <a href="http://x/t/c/1-7.forged">forged</a>'
        f'<img src="http://elsewhere/t/o/abc.gif" width="1">'
    )
    srcdoc = email_srcdoc(body, message_id=1, links={7: "https://example.com/seven"})
    assert srcdoc.count('href="#"') == 2 and "/t/" not in srcdoc
    mine = email_srcdoc(
        f"<a href='{click_url(1, 7)}'>x</a>", message_id=1, links={7: "https://e/7"}
    )
    assert 'href="https://e/7"' in mine


def test_viewing_a_message_page_records_no_open_or_click(logged_in):
    message = factories.message(action_obj=factories.action(Channel.EMAIL, body=HTML_BODY))
    before = MessageEvent.objects.filter(message=message).count()
    logged_in.get(f"/messages/{message.id}/")
    assert MessageEvent.objects.filter(message=message).count() == before
    message.refresh_from_db()
    assert (message.open_count, message.click_count, message.opened_at) == (0, 0, None)


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # an extension character counts two
        ("{" * 81, "GSM-7", 162, 2),
        ("é" * 160, "GSM-7", 160, 1),  # é is in the basic set
        ("ç" * 70, "UCS-2", 70, 1),  # ç is not (only Ç is)
        ("ç" * 71, "UCS-2", 71, 2),
        ("Hi 👋" + "a" * 64, "UCS-2", 69, 1),  # an emoji is two UTF-16 units
        ("a" * 134 + "😀", "UCS-2", 136, 3),
    ],
)
def test_an_sms_counts_its_characters_and_segments_as_carriers_do(
    text, encoding, characters, segments
):
    length = sms_length(text)
    assert (length.encoding, length.characters, length.segments) == (
        encoding,
        characters,
        segments,
    )


def test_an_sms_is_shown_as_a_bubble_with_its_length(logged_in):
    action = factories.action(Channel.SMS, body="Tidings 2 is live! 20% off", links=())
    message = factories.message(action_obj=action)
    page = logged_in.get(f"/messages/{message.id}/").content.decode()
    assert '<div class="sms-bubble">Tidings 2 is live! 20% off</div>' in page
    assert "26 characters (GSM-7) · 1 segment<" in page


def test_push_slack_and_webhook_bodies_are_shown_as_their_channel_presents_them(logged_in):
    push = factories.message(
        action_obj=factories.action(Channel.PUSH, subject="Big news", body="Open <me>", links=())
    )
    page = logged_in.get(f"/messages/{push.id}/").content.decode()
    assert '<div class="push-title">Big news</div>' in page
    assert '<div class="push-body">Open &lt;me&gt;</div>' in page

    slack = factories.message(Channel.SLACK)
    page = logged_in.get(f"/messages/{slack.id}/").content.decode()
    assert '<div class="slack-channel">#general</div>' in page

    body = '{"event":"launch","n":[1,2]}'
    hook = factories.message(
        action_obj=factories.action(Channel.WEBHOOK, body=body, links=()),
    )
    response = logged_in.get(f"/messages/{hook.id}/")
    pretty = response.context["preview"]["json"]
    assert json.loads(pretty) == json.loads(body) and '\n  "event": "launch"' in pretty
    assert html.escape(pretty) in response.content.decode()

    broken = factories.message(
        action_obj=factories.action(Channel.WEBHOOK, body="not json {", links=())
    )
    response = logged_in.get(f"/messages/{broken.id}/")
    assert response.context["preview"]["json"] is None
    assert "not json {" in response.content.decode()
