"""manage.py reattribute_conversions, reconcile_metrics' conversion check,
and the admin's edit of a campaign's goal."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns.vocabulary import Channel
from messaging.conversions import person_event_record
from messaging.models import Message, MessageEvent
from tests.factories import action, at, campaign, event, message, person
from tests.ingest.helpers import apply, assert_no_drift, metrics

pytestmark = pytest.mark.django_db


def delivered(action_obj, recipient, minutes):
    msg = message(action_obj=action_obj, person_obj=recipient)
    apply(event(msg, "sent", minutes, source="pipeline"), event(msg, "delivered", minutes + 1))
    return msg


@pytest.fixture
def converted():
    goal = campaign(conversion_event="purchase", conversion_window_hours=24)
    email = action(Channel.EMAIL, campaign_obj=goal)
    people = [person() for _ in range(3)]
    messages = [delivered(email, who, 0) for who in people]
    for n, who in enumerate(people):
        person_event_record(person=who, name="purchase", occurred_at=at(120), event_id=f"o{n}")
    assert metrics(goal)["counts"]["converted"] == 3
    return goal, messages


def test_the_command_attributes_again_with_a_progress_bar(converted):
    goal, messages = converted
    goal.conversion_window_hours = 1  # edited behind attribution's back
    goal.save()
    out = StringIO()
    call_command("reattribute_conversions", "--campaign", str(goal.id), "--batch", "2", stdout=out)
    text = out.getvalue()
    assert "last message that reached the person, within 1 hour" in text
    assert "[####################..........]  67% 2/3 people" in text
    assert "100% 3/3 people" in text
    assert "3 goal events, 0 conversions added, 3 taken back" in text
    assert metrics(goal)["counts"]["converted"] == 0
    assert not Message.objects.filter(converted_at__isnull=False).exists()
    assert_no_drift()


def test_the_command_refuses_an_unknown_campaign():
    with pytest.raises(CommandError, match="No campaign with id 999999"):
        call_command("reattribute_conversions", "--campaign", "999999", stdout=StringIO())


def test_reconcile_reports_a_conversion_the_rule_does_not_make_and_repairs_it(converted):
    goal, messages = converted
    # A conversion lost behind attribution's back, and the counters with it.
    MessageEvent.objects.filter(message=messages[0], type="converted").delete()
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_metrics", stdout=out)
    text = out.getvalue()
    assert f"drift conversion goal:{messages[0].person_id}:o0 of message {messages[0].id}" in text
    assert "made by the credit rule, but not stored" in text
    assert "1 conversions drift" in text

    call_command("reconcile_metrics", "--fix", stdout=StringIO())
    assert MessageEvent.objects.filter(message=messages[0], type="converted").count() == 1
    assert metrics(goal)["counts"]["converted"] == 3
    assert_no_drift()
    call_command("reconcile_metrics", stdout=StringIO())  # no drift: no error


def test_editing_the_goal_in_the_admin_attributes_again(
    converted, admin_client, django_capture_on_commit_callbacks
):
    goal, _ = converted
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/campaigns/campaign/{goal.id}/change/",
            {
                "name": goal.name,
                "conversion_event": "purchase",
                "attribution_rule": "last_clicked",
                "conversion_window_hours": 24,
                "actions-TOTAL_FORMS": 0,
                "actions-INITIAL_FORMS": 0,
                "actions-MIN_NUM_FORMS": 0,
                "actions-MAX_NUM_FORMS": 1000,
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    goal.refresh_from_db()
    assert (goal.attribution_rule, goal.attribution_state) == ("last_clicked", "current")
    assert metrics(goal)["counts"]["converted"] == 0  # nothing was clicked
    assert_no_drift()
