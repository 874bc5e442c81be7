"""An action's channel and open tracking switch are what its messages'
counters were counted under: the admin refuses to change them once the
action has messages (campaigns.models.Action.clean), and allows it before."""

import pytest

from campaigns.vocabulary import Channel, Source
from tests.factories import action, event, message
from tests.ingest.helpers import apply, assert_no_drift

pytestmark = pytest.mark.django_db


def post_action(admin_client, step, **changes):
    fields = {
        "name": step.name,
        "channel": step.channel,
        "subject": step.subject,
        "body": step.body,
        "target": step.target,
        "track_opens": step.track_opens,
        "track_links": step.track_links,
        **changes,
    }
    data = {
        "name": step.campaign.name,
        "conversion_event": step.campaign.conversion_event,
        "attribution_rule": step.campaign.attribution_rule,
        "conversion_window_hours": step.campaign.conversion_window_hours,
        "actions-TOTAL_FORMS": 1,
        "actions-INITIAL_FORMS": 1,
        "actions-MIN_NUM_FORMS": 0,
        "actions-MAX_NUM_FORMS": 1000,
        "actions-0-id": step.id,
        "actions-0-campaign": step.campaign_id,
    }
    for name, value in fields.items():
        if isinstance(value, bool):
            if value:
                data[f"actions-0-{name}"] = "on"
        else:
            data[f"actions-0-{name}"] = value
    return admin_client.post(f"/admin/campaigns/campaign/{step.campaign_id}/change/", data)


def test_the_switch_cannot_change_once_the_action_has_messages(admin_client):
    step = action(Channel.EMAIL)
    msg = message(action_obj=step)
    apply(
        event(msg, "attempted", 1, source=Source.PIPELINE),
        event(msg, "sent", 2, source=Source.PIPELINE),
        event(msg, "opened", 5),
    )
    response = post_action(admin_client, step, track_opens=False)
    assert response.status_code == 200  # the form again, with the error
    assert "Cannot change once the action has messages" in response.content.decode()
    step.refresh_from_db()
    assert step.track_opens is True
    response = post_action(admin_client, step, channel=Channel.SMS)
    assert "Cannot change once the action has messages" in response.content.decode()
    assert_no_drift()


def test_other_fields_and_an_unused_action_can_change(admin_client):
    step = action(Channel.EMAIL)
    response = post_action(admin_client, step, track_opens=False)
    assert response.status_code == 302, response.content.decode()[:3000]
    step.refresh_from_db()
    assert step.track_opens is False
    message(action_obj=step)
    response = post_action(admin_client, step, subject="New subject")
    assert response.status_code == 302
    step.refresh_from_db()
    assert step.subject == "New subject"
