"""Redis down: sending loses nothing and sends nothing twice, and webhook
ingestion does not depend on it (DESIGN.md)."""

import time

import pytest
from django.utils import timezone

from campaigns.vocabulary import Status
from config.celery import app
from messaging import sending
from messaging.models import CapturedMessage
from messaging.sending import recovery
from tests import factories
from tests.pipeline.helpers import reload, use_backend

pytestmark = pytest.mark.django_db

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def _reset_connections():
    # Celery caches its producer pool for the broker it first published to;
    # dropping the cache (not closing shared pools, which other tests reuse)
    # makes the next publish connect to the broker configured now.
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down(settings):
    # Celery reads its settings from Django's (as the worker tests do).
    use_backend(settings, "capture")
    settings.CELERY_BROKER_URL = DEAD_BROKER
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _reset_connections()
    yield settings
    _reset_connections()


def test_a_send_while_redis_is_down_answers_keeps_the_messages_queued_and_the_sweeper_sends_them(
    broker_down, django_capture_on_commit_callbacks, caplog
):
    assert app.conf.broker_url == DEAD_BROKER
    people = [factories.person() for _ in range(3)]
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        messages = sending.action_send(action=factories.action(), people=people)
    assert time.monotonic() - started < 30  # the enqueue gave up; the caller got its answer
    assert "Could not enqueue 3 messages" in caplog.text  # the publish really failed
    assert [reload(m).status for m in messages] == [Status.QUEUED] * 3
    assert not CapturedMessage.objects.exists()

    # Redis is back: the sweeper finds the queued messages and sends them once.
    broker_down.CELERY_TASK_ALWAYS_EAGER = True
    with django_capture_on_commit_callbacks(execute=True):
        report = recovery.messages_sweep(now=timezone.now() + timezone.timedelta(hours=2))
    assert sorted(report.requeued) == sorted(m.id for m in messages)
    assert [reload(m).status for m in messages] == [Status.SENT] * 3
    assert CapturedMessage.objects.count() == 3
