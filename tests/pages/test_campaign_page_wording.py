import pytest

from campaigns.vocabulary import Channel
from tests import factories
from tests.pages.helpers import bulk_messages

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("granularity", "caption"), [("day", "Daily"), ("hour", "Hourly")])
def test_the_chart_caption_names_its_buckets_in_plain_english(logged_in, granularity, caption):
    campaign = factories.campaign()
    bulk_messages(factories.action(Channel.EMAIL, campaign_obj=campaign), 3, "delivered")
    page = logged_in.get(f"/campaigns/{campaign.id}/?granularity={granularity}").content.decode()
    assert f"{caption} buckets, each milestone counted in the {granularity}" in page
    assert "Dayly" not in page
