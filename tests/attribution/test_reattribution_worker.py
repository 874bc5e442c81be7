"""Integration: a PATCH of a campaign's window is re-attributed by a real
Celery worker process on Redis and PostgreSQL; the campaign reads
"recomputing" until the worker is done, then "current" with the new
figures."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.vocabulary import Channel
from messaging.conversions import person_event_record
from tests.factories import action, at, campaign, event, message, person
from tests.ingest.helpers import apply, assert_no_drift, metrics
from tests.pipeline.workers import WorkerProcess, broker_for_workers, wait_until, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(settings):
    yield from broker_for_workers(settings)


def test_a_worker_attributes_a_campaign_again_after_its_window_is_edited(broker, django_user_model):
    goal = campaign(conversion_event="purchase", conversion_window_hours=24)
    email = action(Channel.EMAIL, campaign_obj=goal)
    for n in range(30):
        who = person()
        msg = message(action_obj=email, person_obj=who)
        apply(event(msg, "sent", 0, source="pipeline"), event(msg, "delivered", 1))
        # Half the people bought within the hour, half three hours later.
        minutes = 30 if n % 2 else 180
        person_event_record(person=who, name="purchase", occurred_at=at(minutes), event_id="o")
    assert metrics(goal)["counts"]["converted"] == 30

    user = django_user_model.objects.create_superuser("boss", password="x")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    url = f"/api/v1/campaigns/{goal.id}/"
    response = api.patch(url, {"attribution": {"window_hours": 1}}, format="json")
    assert response.status_code == 200
    assert response.json()["attribution_state"] == "recomputing"  # no worker yet

    worker = WorkerProcess(worker_env(broker))
    try:
        worker.wait_ready()
        wait_until(
            lambda: api.get(url).json()["attribution_state"] == "current",
            timeout=60,
            message="the worker did not finish re-attributing",
        )
    finally:
        worker.stop()
    assert api.get(url).json()["attribution_progress"] == {"done": 30, "total": 30}
    assert metrics(goal)["counts"]["converted"] == 15
    assert_no_drift()
