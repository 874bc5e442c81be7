"""GET /healthz and the deploy check tell whether recovery runs: the
database, the broker and when each sweeper last finished."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from config.celery import app
from messaging.health import SWEEP_MESSAGES, SWEEP_WEBHOOKS, check_sweepers, sweep_finished
from tests.pipeline.workers import redis_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_workers(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = redis_url()
    app.amqp._producer_pool = None
    yield settings
    app.amqp._producer_pool = None


def test_without_a_broker_healthz_answers_ok_and_says_nothing_schedules_the_sweepers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert "not scheduled" in body["sweepers"]["detail"]
    assert [w.id for w in check_sweepers()] == ["messaging.W010"]


def test_with_workers_healthz_is_503_until_both_sweepers_have_run(client, with_workers):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["ok"] is True
    assert body["sweepers"]["ok"] is False
    assert body["sweepers"][SWEEP_MESSAGES]["last_finished_at"] is None
    assert [w.id for w in check_sweepers()] == ["messaging.W012"]

    sweep_finished(SWEEP_MESSAGES, {"requeued": 0})
    sweep_finished(SWEEP_WEBHOOKS, {"applied": 0})
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["sweepers"][SWEEP_WEBHOOKS]["age_seconds"] < 60
    assert check_sweepers() == []


def test_a_sweeper_that_stopped_running_turns_healthz_503_and_the_deploy_check_warns(
    client, with_workers
):
    long_ago = timezone.now() - timedelta(hours=1)
    sweep_finished(SWEEP_MESSAGES, {}, now=long_ago)
    sweep_finished(SWEEP_WEBHOOKS, {})
    body = client.get("/healthz").json()
    assert body["status"] == "failing"
    assert body["sweepers"][SWEEP_MESSAGES]["ok"] is False
    assert body["sweepers"][SWEEP_WEBHOOKS]["ok"] is True
    (warning,) = check_sweepers()
    assert SWEEP_MESSAGES in warning.msg and SWEEP_WEBHOOKS not in warning.msg


def test_an_unreachable_broker_turns_healthz_503_naming_the_broker(client, with_workers):
    with_workers.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    app.amqp._producer_pool = None
    sweep_finished(SWEEP_MESSAGES, {})
    sweep_finished(SWEEP_WEBHOOKS, {})
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert response.json()["database"]["ok"] is True


def test_manage_py_check_deploy_reports_the_sweeper_warning(with_workers, capsys):
    call_command("check", "--deploy", "--fail-level", "CRITICAL")
    assert "messaging.W012" in capsys.readouterr().err
