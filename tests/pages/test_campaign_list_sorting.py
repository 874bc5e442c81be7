import pytest

from campaigns.vocabulary import Channel
from tests import factories
from tests.pages.helpers import bulk_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_campaigns():
    made = {}
    for name, opened in (("Bravo", 1), ("Alpha", 3), ("Charlie", 2)):
        campaign = factories.campaign(name=name)
        action = factories.action(Channel.EMAIL, campaign_obj=campaign)
        bulk_messages(action, opened, "delivered", "opened")
        bulk_messages(action, 4 - opened, "delivered")
        made[name] = campaign
    made["Empty"] = factories.campaign(name="Empty")
    return made


def names(response) -> list[str]:
    return [row["campaign"].name for row in response.context["rows"]]


def test_campaigns_sort_by_any_column_in_both_directions(logged_in, three_campaigns):
    assert names(logged_in.get("/?sort=name")) == ["Alpha", "Bravo", "Charlie", "Empty"]
    assert names(logged_in.get("/?sort=-name")) == ["Empty", "Charlie", "Bravo", "Alpha"]
    assert names(logged_in.get("/")) == ["Empty", "Charlie", "Alpha", "Bravo"]  # newest first
    # An undefined rate ("—") sorts below every number.
    assert names(logged_in.get("/?sort=-open_rate")) == ["Alpha", "Charlie", "Bravo", "Empty"]
    assert names(logged_in.get("/?sort=open_rate"))[:3] == ["Bravo", "Charlie", "Alpha"]


def test_the_active_column_header_flips_its_direction(logged_in, three_campaigns):
    columns = {c["key"]: c for c in logged_in.get("/?sort=-sent").context["columns"]}
    assert columns["sent"]["active"] and columns["sent"]["next"] == "sent"
    assert columns["name"]["next"] == "name" and columns["opened"]["next"] == "-opened"


def test_an_unknown_sort_falls_back_to_newest_first(logged_in, three_campaigns):
    assert logged_in.get("/?sort=drop_table").context["sort"] == "-created"
