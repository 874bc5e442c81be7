import pytest

from campaigns.vocabulary import Channel
from tests import factories
from tests.pages.helpers import journey


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "marketer", password="pw-marketer-1", is_staff=True, is_superuser=True
    )


@pytest.fixture
def logged_in(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def busy_campaign():
    """An email and an SMS step with messages at every stage."""
    campaign = factories.campaign(name="Winter sale")
    email = factories.action(Channel.EMAIL, campaign_obj=campaign, name="Email blast")
    sms = factories.action(Channel.SMS, campaign_obj=campaign, name="SMS nudge", links=())
    journeys = [
        (email, ()),
        (email, ("delivered",)),
        (email, ("delivered", "opened")),
        (email, ("delivered", "opened", "clicked")),
        (email, ("clicked",)),
        (email, (("bounced", {"bounce_type": "hard"}),)),
        (email, ("delivered", "converted")),
        (sms, ("delivered",)),
        (sms, ("delivered", "clicked")),
        (sms, (("failed", {"reason": "carrier refused"}),)),
    ]
    for action, steps in journeys:
        journey(factories.message(action_obj=action), *steps)
    factories.message(action_obj=email)  # still queued
    return campaign
