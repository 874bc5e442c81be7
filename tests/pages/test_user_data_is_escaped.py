"""User data containing markup renders as text on every page."""

import pytest

from campaigns.models import Link
from campaigns.vocabulary import Channel
from messaging.models import Suppression
from tests import factories
from tests.pages.helpers import journey

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


@pytest.fixture
def hostile():
    campaign = factories.campaign(name=f"Sale {SCRIPT}")
    action = factories.action(
        Channel.EMAIL,
        campaign_obj=campaign,
        name=f"Step {SCRIPT}",
        subject=f"Hi {SCRIPT}",
        body=f"Body {SCRIPT}",
        links=(),
    )
    Link.objects.create(action=action, url=f"https://example.com/?q={SCRIPT}", position=0)
    Link.objects.create(action=action, url="javascript:alert(1)", position=1)
    person = factories.person(
        external_id=f"ext-{SCRIPT}",
        attributes={"name": f"Eve {SCRIPT}", "note": SCRIPT},
    )
    message = factories.message(action_obj=action, person_obj=person)
    journey(
        message,
        ("failed", {"reason": f"provider said {SCRIPT}", "detail": {"response": SCRIPT}}),
    )
    Suppression.objects.create(address="eve@example.com", note=f"note {SCRIPT}")
    return message


def pages(message) -> list[str]:
    return [
        "/",
        f"/campaigns/{message.campaign_id}/",
        "/deliveries/",
        f"/deliveries/?campaign={message.campaign_id}&q={message.person.external_id}",
        f"/messages/{message.id}/",
        "/admin/messaging/message/",
        f"/admin/messaging/message/{message.id}/change/",
        "/admin/messaging/person/",
        f"/admin/messaging/person/{message.person_id}/change/",
        "/admin/messaging/suppression/",
        "/admin/campaigns/campaign/",
        f"/admin/campaigns/campaign/{message.campaign_id}/change/",
    ]


def test_no_page_lets_user_data_run_a_script(logged_in, hostile):
    for url in pages(hostile):
        response = logged_in.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<script>alert" not in html, url
        assert "alert('x')</script>" not in html, url


def test_the_hostile_text_is_shown_as_text(logged_in, hostile):
    message_page = logged_in.get(f"/messages/{hostile.id}/").content.decode()
    for shown in ("Hi ", "Body ", "Eve ", "provider said ", "ext-"):
        assert shown + ESCAPED in message_page, shown
    assert "&quot;response&quot;: &quot;" in message_page
    campaign_page = logged_in.get(f"/campaigns/{hostile.campaign_id}/").content.decode()
    assert "https://example.com/?q=" + ESCAPED in campaign_page
    assert "Step " + ESCAPED in campaign_page
    log = logged_in.get("/deliveries/").content.decode()
    assert "Eve " + ESCAPED in log and "Sale " + ESCAPED in log


def test_a_non_web_link_is_never_made_clickable(logged_in, hostile):
    html = logged_in.get(f"/campaigns/{hostile.campaign_id}/").content.decode()
    assert 'href="javascript:' not in html
    assert "javascript:alert(1)" in html
