import pytest

from campaigns.metrics import campaign_metrics
from campaigns.vocabulary import Channel, EventType
from messaging.models import Message
from tests import factories
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft():
    return factories.message(action_obj=factories.action(send_as_draft=True))


@pytest.fixture
def failed():
    message = factories.message(Channel.SMS)
    apply(factories.event(message, EventType.FAILED, 1, reason="provider down"))
    return message


def test_sending_a_draft_queues_it(api, draft):
    response = api.post(f"/api/v1/messages/{draft.id}/send/")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert response.json()["id"] == draft.id


def test_a_sent_draft_goes_out(api, draft, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/messages/{draft.id}/send/", {})
    assert Message.objects.get(pk=draft.id).status == "sent"


def test_only_a_draft_can_be_sent(api, failed):
    response = api.post(f"/api/v1/messages/{failed.id}/send/")
    assert response.status_code == 409
    assert "not drafted" in response.json()["detail"]


def test_retrying_a_failed_message_queues_it_again(api, failed):
    response = api.post(f"/api/v1/messages/{failed.id}/retry/")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


def test_only_a_failed_message_can_be_retried(api, draft):
    response = api.post(f"/api/v1/messages/{draft.id}/retry/")
    assert response.status_code == 409
    assert Message.objects.get(pk=draft.id).status == "drafted"


def test_discarding_a_draft_removes_it_from_the_log_and_the_metrics(api, draft):
    assert campaign_metrics(draft.campaign)["counts"]["drafted"] == 1
    response = api.post(f"/api/v1/messages/{draft.id}/discard/")
    assert response.status_code == 204
    assert api.get("/api/v1/messages/").json()["results"] == []
    metrics = api.get(f"/api/v1/campaigns/{draft.campaign_id}/metrics/").json()
    assert metrics["counts"]["drafted"] == 0


def test_only_a_draft_can_be_discarded(api, failed):
    response = api.post(f"/api/v1/messages/{failed.id}/discard/")
    assert response.status_code == 409
    assert api.get(f"/api/v1/messages/{failed.id}/").status_code == 200


def test_a_discarded_draft_can_no_longer_be_sent(api, draft):
    api.post(f"/api/v1/messages/{draft.id}/discard/")
    assert api.post(f"/api/v1/messages/{draft.id}/send/").status_code == 404


@pytest.mark.parametrize("command", ["send", "retry", "discard"])
def test_commands_take_no_fields(api, draft, command):
    response = api.post(f"/api/v1/messages/{draft.id}/{command}/", {"force": True})
    assert response.status_code == 400
    assert response.json() == {"force": ["Unknown field."]}
    assert Message.objects.get(pk=draft.id).status == "drafted"


@pytest.mark.parametrize("command", ["send", "retry", "discard", "opened"])
def test_commands_on_an_unknown_message_are_a_404(api, command):
    assert api.post(f"/api/v1/messages/999999/{command}/").status_code == 404
