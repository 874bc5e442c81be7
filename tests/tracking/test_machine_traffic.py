"""Machine traffic is exactly: HEAD, or a user agent on the maintained
crawler-user-agents list. Nothing else (an empty or unusual agent is human)."""

import pytest
from django.test import RequestFactory

from messaging.tracking.bots import is_bot_user_agent, is_machine_request

from .helpers import BROWSER, GOOGLEBOT


@pytest.mark.parametrize(
    "user_agent",
    [
        GOOGLEBOT,
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "python-requests/2.32.3",
        "curl/8.5.0",
    ],
)
def test_agents_on_the_crawler_list_are_machines(user_agent):
    assert is_bot_user_agent(user_agent)


@pytest.mark.parametrize(
    "user_agent",
    [
        BROWSER,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile",
        "",
        "Mozilla/5.0",
    ],
)
def test_browsers_and_empty_agents_are_human(user_agent):
    assert not is_bot_user_agent(user_agent)


def test_head_is_a_machine_whatever_the_agent():
    request = RequestFactory().head("/t/o/x.gif", headers={"User-Agent": BROWSER})
    assert is_machine_request(request)


def test_get_from_a_browser_is_human():
    request = RequestFactory().get("/t/o/x.gif", headers={"User-Agent": BROWSER})
    assert not is_machine_request(request)


def test_a_very_long_agent_is_matched_on_its_start_only():
    assert not is_bot_user_agent(BROWSER + " " * 10_000 + "Googlebot")
