import pytest

from messaging.models import Message
from messaging.sending import REASON_DELETED, REASON_UNSUBSCRIBED
from tests.api.helpers import create_action, create_campaign, create_people, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def action(api):
    campaign = create_campaign(api)
    return create_action(api, campaign["id"])


def test_sending_answers_202_with_one_message_per_person(api, action):
    create_people(api, "ann", "bob")
    response = api.post("/api/v1/send/", {"action": action["id"], "people": ["ann", "bob"]})
    assert response.status_code == 202
    messages = response.json()["messages"]
    assert [set(m) for m in messages] == [{"id", "person", "status"}] * 2
    assert [(m["person"], m["status"]) for m in messages] == [("ann", "queued"), ("bob", "queued")]
    stored = Message.objects.get(pk=messages[0]["id"])
    assert (stored.action_id, stored.person.external_id) == (action["id"], "ann")


def test_the_answer_shows_the_status_at_the_time_of_the_answer(
    api, action, django_capture_on_commit_callbacks
):
    create_people(api, "ann")
    # The pipeline runs after commit; in the test transaction that is when
    # the capture block ends, so the answer still says queued...
    with django_capture_on_commit_callbacks(execute=True):
        [message] = send(api, action["id"], "ann")
    assert message["status"] == "queued"
    # ...and the message reads sent once it has run.
    assert api.get(f"/api/v1/messages/{message['id']}/").json()["status"] == "sent"


def test_each_call_creates_new_messages_even_for_the_same_people(api, action):
    create_people(api, "ann")
    first = send(api, action["id"], "ann")
    second = send(api, action["id"], "ann", "ann")
    assert len(second) == 1
    assert first[0]["id"] != second[0]["id"]
    assert Message.objects.count() == 2


def test_a_draft_action_creates_drafted_messages(api):
    campaign = create_campaign(api)
    action = create_action(api, campaign["id"], send_as_draft=True)
    create_people(api, "ann")
    assert send(api, action["id"], "ann")[0]["status"] == "drafted"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda api: api.delete("/api/v1/people/ann/"), REASON_DELETED),
        (lambda api: api.post("/api/v1/people/ann/unsubscribe/"), REASON_UNSUBSCRIBED),
        (lambda api: api.patch("/api/v1/people/ann/", {"email": ""}), "no email address"),
    ],
)
def test_a_person_who_cannot_be_reached_still_gets_an_undeliverable_message(
    api, action, django_capture_on_commit_callbacks, setup, reason
):
    create_people(api, "ann")
    setup(api)
    with django_capture_on_commit_callbacks(execute=True):
        [message] = send(api, action["id"], "ann")
    detail = api.get(f"/api/v1/messages/{message['id']}/").json()
    assert detail["status"] == "undeliverable"
    assert detail["failure_reason"] == reason


def test_an_unknown_action_is_a_400_and_creates_nothing(api):
    create_people(api, "ann")
    response = api.post("/api/v1/send/", {"action": 999999, "people": ["ann"]})
    assert response.status_code == 400
    assert list(response.json()) == ["action"]
    assert Message.objects.count() == 0


def test_an_unknown_person_is_a_400_and_creates_nothing(api, action):
    create_people(api, "ann")
    response = api.post("/api/v1/send/", {"action": action["id"], "people": ["ann", "ghost"]})
    assert response.status_code == 400
    assert "ghost" in response.json()["people"][0]
    assert Message.objects.count() == 0


def test_at_most_1000_people_per_call(api, action):
    response = api.post(
        "/api/v1/send/", {"action": action["id"], "people": [f"p{n}" for n in range(1001)]}
    )
    assert response.status_code == 400
    assert "1000" in response.json()["people"][0]
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"people": ["ann"]}, "action"),
        ({"action": "first", "people": ["ann"]}, "action"),
        ({"action": 0, "people": ["ann"]}, "action"),
        ({"action": 2**70, "people": ["ann"]}, "action"),
        ({"action": 1}, "people"),
        ({"action": 1, "people": []}, "people"),
        ({"action": 1, "people": "ann"}, "people"),
        ({"action": 1, "people": [""]}, "people"),
        ({"action": 1, "people": ["ann"], "at": "now"}, "at"),
    ],
)
def test_invalid_sends_are_refused_naming_the_field(api, body, field):
    response = api.post("/api/v1/send/", body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Message.objects.count() == 0
