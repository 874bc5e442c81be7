"""The campaign page states the credit rule and window in words, and shows a
progress bar while conversions are attributed again (real Chromium)."""

import pytest

from campaigns.models import AttributionState
from campaigns.vocabulary import Channel
from messaging.reattribution import reattribute_campaign
from tests import factories
from tests.browser.conftest import log_in, shot
from tests.pages.helpers import bulk_messages

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_campaign_page_reads_the_rule_and_window_and_shows_progress_while_recomputing(
    page, admin_user
):
    campaign = factories.campaign(name="Spring launch", conversion_window_hours=168)
    email = factories.action(Channel.EMAIL, campaign_obj=campaign)
    bulk_messages(email, 3, "delivered")

    log_in(page)
    page.goto(f"/campaigns/{campaign.id}/")
    rule = page.locator("#attribution-rule")
    assert rule.inner_text() == "last message that reached the person, within 7 days"
    assert page.locator("#attribution-progress").count() == 0

    # An edit was saved; its re-attribution has done 1 person of 3 so far.
    campaign.attribution_rule = "last_clicked"
    campaign.conversion_window_hours = 36
    campaign.attribution_state = AttributionState.RECOMPUTING
    campaign.attribution_version += 1
    campaign.attribution_done, campaign.attribution_total = 1, 3
    campaign.save()
    page.reload()
    assert rule.inner_text() == "last message the person clicked, within 36 hours"
    bar = page.locator("#attribution-progress progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("1", "3")
    assert "1 of 3 people" in page.locator("#attribution-progress").inner_text()
    shot(page, "campaign-recomputing")

    reattribute_campaign(campaign.id, version=campaign.attribution_version)
    page.reload()
    assert page.locator("#attribution-progress").count() == 0
