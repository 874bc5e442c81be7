"""The content snapshot: personalisation, tracked links, the open pixel, and
the signed tokens the tracking endpoints read."""

import pytest

from campaigns.services import action_create
from campaigns.vocabulary import Channel
from messaging.sending import messages_create
from messaging.sending.rendering import message_tracking
from messaging.tracking import tokens as tracking_tokens
from tests import factories

pytestmark = pytest.mark.django_db


def render_one(channel=Channel.EMAIL, person=None, **fields):
    defaults = {"name": "step", "subject": "Hi {{ first_name|there }}", "body": "x"}
    action = action_create(campaign=factories.campaign(), channel=channel, **{**defaults, **fields})
    [message] = messages_create(action=action, people=[person or factories.person()])
    return action, message


def test_the_persons_attributes_fill_subject_and_body_with_fallbacks():
    ann = factories.person(attributes={"first_name": "Ann", "city": "Lyon"})
    _, message = render_one(
        Channel.SMS, ann, body="{{ first_name }} in {{city}}, plan {{ plan|free }}{{ missing }}."
    )
    assert message.subject == "Hi Ann"
    assert message.body == "Ann in Lyon, plan free."
    _, other = render_one(Channel.SMS, factories.person(), body="Hello {{ first_name|friend }}")
    assert other.subject == "Hi there"
    assert other.body == "Hello friend"


def test_attribute_values_are_escaped_in_html_bodies():
    person = factories.person(attributes={"first_name": "<b>Bo</b>"})
    _, message = render_one(Channel.EMAIL, person, body="<p>Hi {{ first_name }}</p>")
    assert "&lt;b&gt;Bo&lt;/b&gt;" in message.body


def test_tracked_links_in_html_point_to_signed_click_urls_and_an_open_pixel_is_added():
    body = (
        '<html><body><a href="https://example.com/a?x=1&amp;y=2">A</a> '
        '<a href="https://example.com/b">B</a> <a href="https://example.com/a?x=1&amp;y=2">'
        "again</a></body></html>"
    )
    action, message = render_one(body=body)
    links = list(action.links.order_by("position"))
    assert [link.url for link in links] == [
        "https://example.com/a?x=1&y=2",
        "https://example.com/b",
    ]
    assert "https://example.com/" not in message.body
    assert message.body.count(tracking_tokens.click_url(message.pk, links[0].id)) == 2
    assert tracking_tokens.open_pixel_url(message.pk) in message.body
    assert message.body.index("<img") < message.body.index("</body>")
    tracking = message_tracking(message)
    assert tracking["open_pixel"] == tracking_tokens.open_pixel_url(message.pk)
    assert [row["link"] for row in tracking["links"]] == [link.id for link in links]


def test_a_plain_text_sms_gets_tracked_links_and_no_pixel():
    action, message = render_one(Channel.SMS, body="Offer: https://example.com/o today")
    [link] = action.links.all()
    assert message.body == f"Offer: {tracking_tokens.click_url(message.pk, link.id)} today"
    assert message_tracking(message)["open_pixel"] is None


def test_a_plain_text_email_that_tracks_opens_goes_out_as_html_with_the_pixel():
    action, message = render_one(body="Hi {{ first_name|you }} & co\nsee https://example.com/o")
    [link] = action.links.all()
    assert message.body.startswith("<html><body>")
    assert "Hi you &amp; co<br>" in message.body
    assert f'<a href="{tracking_tokens.click_url(message.pk, link.id)}">' in message.body
    assert message_tracking(message)["open_pixel"] is not None


def test_nothing_is_tracked_when_the_action_says_so():
    _, message = render_one(
        body="<p><a href='https://example.com/x'>x</a></p>", track_links=False, track_opens=False
    )
    assert message.body == "<p><a href='https://example.com/x'>x</a></p>"
    # One-click unsubscribe is not tracking: every email carries it.
    assert message_tracking(message) == {
        "open_pixel": None,
        "links": [],
        "unsubscribe_url": tracking_tokens.unsubscribe_url(message.id),
    }


def test_tokens_name_the_message_and_link_and_refuse_tampering():
    token = tracking_tokens.make_token(message_id=12, link_id=34)
    assert tracking_tokens.read_token(token) == tracking_tokens.TrackingToken(12, 34)
    assert tracking_tokens.read_token(tracking_tokens.make_token(message_id=12)).link_id is None
    forged = token.replace("12-34", "13-34", 1)
    with pytest.raises(tracking_tokens.InvalidToken):
        tracking_tokens.read_token(forged)
    with pytest.raises(tracking_tokens.InvalidToken):
        tracking_tokens.read_token("garbage")
