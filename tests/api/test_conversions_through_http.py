"""Issue 11's cases as a marketer meets them: through the API and real signed
SendGrid webhooks only (the key pair is made here; SendGrid signs with its
private key and we are given the public one)."""

import time
from datetime import UTC, datetime

import pytest

from messaging.models import MessageEvent
from tests.api.helpers import create_action, create_campaign, create_people, send
from tests.api.test_end_to_end_through_http import post_sendgrid, sendgrid_event, sendgrid_key
from tests.ingest.helpers import assert_no_drift

pytestmark = pytest.mark.django_db
__all__ = ["sendgrid_key"]  # the fixture, used by name


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def goal(api, who: str, at: int, event_id: str, name: str = "purchase") -> list[int]:
    response = api.post(
        "/api/v1/events/", {"person": who, "name": name, "id": event_id, "timestamp": iso(at)}
    )
    assert response.status_code == 202, response.json()
    return response.json()["converted_messages"]


def message(api, message_id: int) -> dict:
    return api.get(f"/api/v1/messages/{message_id}/").json()


def metrics(api, campaign_id: int) -> dict:
    return api.get(f"/api/v1/campaigns/{campaign_id}/metrics/").json()


@pytest.fixture
def campaign_sent(api, django_capture_on_commit_callbacks):
    """A purchase campaign (one email step) sent to ann, bob and cat."""

    def make(*people, **fields):
        create_people(api, *people)
        campaign = create_campaign(api, **fields)
        action = create_action(api, campaign["id"])
        with django_capture_on_commit_callbacks(execute=True):
            sent = send(api, action["id"], *people)
        return campaign, action, {m["person"]: m for m in sent}

    return make


def test_only_a_delivered_email_converts_so_the_conversion_rate_stays_at_most_one(
    api, sendgrid_key, campaign_sent
):
    campaign, _, sent = campaign_sent("ann", "bob", "cat")
    now = int(time.time())
    delivered = sendgrid_event(sent["ann"], "delivered", now + 1, 1)
    assert post_sendgrid([delivered], sendgrid_key) == 200
    assert goal(api, "ann", now + 5, "o-ann") == [sent["ann"]["id"]]
    # bob's and cat's emails were only sent: they never reached anyone.
    assert goal(api, "bob", now + 5, "o-bob") == []
    assert goal(api, "cat", now + 5, "o-cat") == []
    m = metrics(api, campaign["id"])
    assert (m["counts"]["sent"], m["counts"]["delivered"], m["counts"]["converted"]) == (3, 1, 1)
    assert m["rates"]["conversion"] == 1.0
    assert_no_drift()


def test_a_soft_bounce_followed_by_a_delivery_converts(api, sendgrid_key, campaign_sent):
    campaign, _, sent = campaign_sent("ann")
    ann = sent["ann"]
    now = int(time.time())
    events = [
        sendgrid_event(ann, "bounce", now + 1, 1, type="blocked", reason="try later"),
        sendgrid_event(ann, "delivered", now + 2, 2),
    ]
    assert post_sendgrid(events, sendgrid_key) == 200
    assert message(api, ann["id"])["status"] == "delivered"
    assert goal(api, "ann", now + 5, "o-1") == [ann["id"]]
    assert message(api, ann["id"])["status"] == "converted"
    assert metrics(api, campaign["id"])["counts"]["converted"] == 1


def test_a_delivery_report_that_arrives_after_the_goal_event_converts(
    api, sendgrid_key, campaign_sent
):
    campaign, _, sent = campaign_sent("ann")
    ann = sent["ann"]
    now = int(time.time())
    assert goal(api, "ann", now + 5, "o-1") == []  # only sent so far: not reached
    assert message(api, ann["id"])["converted_at"] is None

    # The provider batched the delivery report: it happened before the goal.
    assert post_sendgrid([sendgrid_event(ann, "delivered", now + 1, 1)], sendgrid_key) == 200

    shown = message(api, ann["id"])
    assert shown["status"] == "converted"
    assert shown["converted_at"] == iso(now + 5).replace("+00:00", "Z")
    [conversion] = shown["conversions"]
    assert (conversion["name"], conversion["event_id"]) == ("purchase", "o-1")
    assert isinstance(conversion["event"], int)
    assert metrics(api, campaign["id"])["counts"]["converted"] == 1
    assert_no_drift()


def test_an_asynchronous_bounce_takes_the_conversion_away(api, sendgrid_key, campaign_sent):
    campaign, _, sent = campaign_sent("ann")
    ann = sent["ann"]
    now = int(time.time())
    assert post_sendgrid([sendgrid_event(ann, "delivered", now + 1, 1)], sendgrid_key) == 200
    assert goal(api, "ann", now + 5, "o-1") == [ann["id"]]
    assert metrics(api, campaign["id"])["counts"]["converted"] == 1

    # The receiving server bounced it after accepting it.
    bounce = sendgrid_event(ann, "bounce", now + 3, 2, type="bounce", reason="550 no such user")
    assert post_sendgrid([bounce], sendgrid_key) == 200

    shown = message(api, ann["id"])
    assert shown["status"] == "bounced"
    assert shown["converted_at"] is None and shown["conversions"] == []
    assert "converted" not in [event["type"] for event in shown["events"]]
    m = metrics(api, campaign["id"])
    assert (m["counts"]["converted"], m["counts"]["bounced"]) == (0, 1)
    assert m["rates"]["conversion"] is None or m["rates"]["conversion"] == 0
    assert_no_drift()


def test_one_goal_event_converts_one_message_per_campaign_whose_goal_it_is(
    api, sendgrid_key, django_capture_on_commit_callbacks
):
    create_people(api, "ann")
    first = create_campaign(api, name="Spring")
    second = create_campaign(api, name="Loyalty")
    other = create_campaign(api, name="Newsletter", conversion_event="signup")
    messages = {}
    for name, campaign in (("spring", first), ("loyalty", second), ("news", other)):
        action = create_action(api, campaign["id"])
        with django_capture_on_commit_callbacks(execute=True):
            for n in (1, 2):
                [messages[f"{name}{n}"]] = send(api, action["id"], "ann")
    now = int(time.time())
    events = [
        sendgrid_event(messages[key], "delivered", now + minute, n)
        for n, (key, minute) in enumerate(
            [("spring1", 1), ("spring2", 2), ("loyalty1", 3), ("loyalty2", 1), ("news1", 1)]
        )
    ]
    assert post_sendgrid(events, sendgrid_key) == 200

    converted = goal(api, "ann", now + 10, "order-9")

    # The last message that reached ann, in each purchase campaign; none in
    # the signup campaign.
    assert sorted(converted) == sorted([messages["spring2"]["id"], messages["loyalty1"]["id"]])
    for campaign in (first, second):
        assert metrics(api, campaign["id"])["counts"]["converted"] == 1
    assert metrics(api, other["id"])["counts"]["converted"] == 0
    # Repeated: nothing converts twice.
    assert goal(api, "ann", now + 10, "order-9") == []
    assert MessageEvent.objects.filter(type="converted").count() == 2


def test_editing_the_rule_and_window_attributes_again_through_patch(
    api, sendgrid_key, campaign_sent, django_capture_on_commit_callbacks
):
    campaign, _, sent = campaign_sent("ann", "bob", conversion_window_hours=1)
    create_people(api, "ann")
    now = int(time.time())
    ann, bob = sent["ann"], sent["bob"]
    events = [
        sendgrid_event(ann, "delivered", now + 1, 1),
        sendgrid_event(bob, "delivered", now + 1, 2),
        sendgrid_event(bob, "open", now + 2, 3, sg_machine_open=False),
    ]
    assert post_sendgrid(events, sendgrid_key) == 200
    assert goal(api, "ann", now + 100, "o-ann") == [ann["id"]]
    assert goal(api, "bob", now + 100, "o-bob") == [bob["id"]]
    url = f"/api/v1/campaigns/{campaign['id']}/"

    # Credit only opened messages: ann's conversion goes, bob's stays.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.patch(url, {"attribution": {"rule": "last_opened"}}, format="json")
    assert response.status_code == 200, response.json()
    assert len(callbacks) == 1  # the re-attribution task, once the edit committed
    body = api.get(url).json()
    assert body["attribution"] == {"rule": "last_opened", "window_hours": 1}
    assert body["attribution_state"] == "current"
    assert body["attribution_progress"] == {"done": 2, "total": 2}
    assert message(api, ann["id"])["converted_at"] is None
    assert message(api, bob["id"])["status"] == "converted"
    assert metrics(api, campaign["id"])["counts"]["converted"] == 1

    # Another goal: both conversions go; back to purchase through the alias
    # of the window, both purchases count again under last_reached.
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch(url, {"conversion_event": "signup"}, format="json").status_code == 200
    assert metrics(api, campaign["id"])["counts"]["converted"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch(
            url,
            {
                "conversion_event": "purchase",
                "conversion_window_hours": 2,
                "attribution": {"rule": "last_reached"},
            },
            format="json",
        )
    assert response.json()["attribution"] == {"rule": "last_reached", "window_hours": 2}
    assert metrics(api, campaign["id"])["counts"]["converted"] == 2
    assert_no_drift()


def test_a_patch_that_changes_no_goal_rule_or_window_attributes_nothing_again(
    api, campaign_sent, django_capture_on_commit_callbacks
):
    campaign, _, _ = campaign_sent("ann")
    url = f"/api/v1/campaigns/{campaign['id']}/"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.patch(url, {"name": "Renamed", "attribution": {"window_hours": 168}})
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["attribution_state"] == "current"
    assert callbacks == []


def test_while_the_task_has_not_run_the_campaign_reads_recomputing(
    api, campaign_sent, django_capture_on_commit_callbacks
):
    campaign, _, _ = campaign_sent("ann")
    url = f"/api/v1/campaigns/{campaign['id']}/"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.patch(url, {"attribution": {"window_hours": 24}}, format="json")
        assert response.json()["attribution_state"] == "recomputing"
    assert len(callbacks) == 1
    callbacks[0]()
    assert api.get(url).json()["attribution_state"] == "current"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"attribution": {"rule": "most_recent"}}, "attribution"),
        ({"attribution": {"window_hours": 2161}}, "attribution"),
        ({"attribution": {"window_hours": 0}}, "attribution"),
        ({"attribution": {"windows": 3}}, "attribution"),
        (
            {"conversion_window_hours": 5, "attribution": {"window_hours": 6}},
            "conversion_window_hours",
        ),
        ({"attribution_state": "current"}, "attribution_state"),
    ],
)
def test_an_invalid_edit_is_refused_naming_the_field(api, campaign_sent, body, field):
    campaign, _, _ = campaign_sent("ann")
    response = api.patch(f"/api/v1/campaigns/{campaign['id']}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_a_campaign_is_created_with_a_credit_rule(api):
    created = create_campaign(api, attribution={"rule": "first_reached", "window_hours": 48})
    assert created["attribution"] == {"rule": "first_reached", "window_hours": 48}
    assert created["conversion_window_hours"] == 48
