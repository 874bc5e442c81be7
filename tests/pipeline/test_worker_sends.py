"""Integration: a real Celery worker process on Redis and PostgreSQL sends a
campaign through the capture provider; a worker killed mid-batch loses and
duplicates nothing."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns.vocabulary import EventType, Status
from messaging import sending
from messaging.audience.suppression import person_unsubscribe, suppression_add
from messaging.models import CapturedMessage, Message, MessageEvent
from tests import factories
from tests.ingest.helpers import assert_no_drift
from tests.pipeline.helpers import use_backend
from tests.pipeline.workers import WorkerProcess, broker_for_workers, wait_until, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(settings):
    use_backend(settings, "capture")
    yield from broker_for_workers(settings)


@pytest.fixture
def workers():
    started = []

    def start(broker, **env):
        worker = WorkerProcess(worker_env(broker, **env))
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def unsettled(action) -> int:
    return Message.objects.filter(
        action=action, status__in=[Status.QUEUED, Status.ATTEMPTED]
    ).count()


def test_a_worker_sends_a_campaign_and_each_message_reaches_its_status_exactly_once(
    broker, workers
):
    action = factories.action()
    people = [factories.person() for _ in range(270)]
    suppressed = [factories.person() for _ in range(10)]
    for person in suppressed:
        suppression_add(address=person.email)
    unsubscribed = [factories.person() for _ in range(10)]
    for person in unsubscribed:
        person_unsubscribe(person=person)
    addressless = [factories.person(email="") for _ in range(10)]
    workers(broker)

    messages = sending.action_send(
        action=action, people=people + suppressed + unsubscribed + addressless
    )
    assert len(messages) == 300
    wait_until(lambda: unsettled(action) == 0, timeout=60, message="messages still in flight")

    expected = {}
    for group, status in (
        (people, Status.SENT),
        (suppressed, Status.SUPPRESSED),
        (unsubscribed, Status.UNDELIVERABLE),
        (addressless, Status.UNDELIVERABLE),
    ):
        expected.update(dict.fromkeys((p.pk for p in group), status))
    actual = dict(Message.objects.filter(action=action).values_list("person_id", "status"))
    assert actual == expected

    # Exactly once: one event of each pipeline step per message, one provider record.
    per_message = Counter(
        MessageEvent.objects.filter(message__action=action).values_list("message_id", "type")
    )
    for message in messages:
        outcome = EventType.SENT if expected[message.person_id] == Status.SENT else None
        assert per_message[(message.pk, EventType.QUEUED)] == 1
        if outcome:
            assert per_message[(message.pk, EventType.ATTEMPTED)] == 1
            assert per_message[(message.pk, EventType.SENT)] == 1
    captured = CapturedMessage.objects.all()
    assert captured.count() == 270
    assert set(captured.values_list("calls", flat=True)) == {1}
    sent_ids = set(
        Message.objects.filter(action=action, status=Status.SENT).values_list("id", flat=True)
    )
    assert set(captured.values_list("message_id", flat=True)) == sent_ids
    assert_no_drift()


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(broker, workers):
    action = factories.action()
    people = [factories.person() for _ in range(200)]
    # Slow provider answers (after it has recorded a batch), small chunks and
    # a short visibility timeout, so the kill lands between the provider's
    # acceptance and our record of it, and the killed tasks come back fast.
    crash_env = {
        "TIDINGS_SEND_CHUNK_SIZE": "20",
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    }
    first = workers(broker, TIDINGS_CAPTURE_LATENCY_MS="1500", **crash_env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.TIDINGS_SEND_CHUNK_SIZE", 20)
        messages = sending.action_send(action=action, people=people)

    def accepted_but_unrecorded():
        # Some chunks done, and one the provider accepted less than 0.8 s ago:
        # its answer is still 0.7 s away when the kill lands.
        if not Message.objects.filter(action=action, status=Status.SENT).exists():
            return False
        recent = timezone.now() - timedelta(seconds=0.8)
        return Message.objects.filter(
            action=action,
            status=Status.ATTEMPTED,
            id__in=CapturedMessage.objects.filter(accepted_at__gte=recent).values("message_id"),
        ).exists()

    wait_until(accepted_but_unrecorded, timeout=60, interval=0.02)
    first.kill()
    assert 0 < unsettled(action) < 200, "the kill must land mid-campaign"
    # Accepted by the provider, never recorded by us.
    interrupted = set(
        Message.objects.filter(
            action=action,
            status=Status.ATTEMPTED,
            id__in=CapturedMessage.objects.values("message_id"),
        ).values_list("id", flat=True)
    )
    assert interrupted

    time.sleep(3.5)  # the killed worker's tasks become visible again
    workers(broker, **crash_env)
    wait_until(lambda: unsettled(action) == 0, timeout=120, message="messages left in flight")

    assert set(Message.objects.filter(action=action).values_list("status", flat=True)) == {
        Status.SENT
    }
    captured = CapturedMessage.objects.filter(message_id__in=[m.pk for m in messages])
    assert captured.count() == 200
    assert captured.values("message_id").distinct().count() == 200
    # The provider was asked again for the messages the kill interrupted, with
    # the same key, and holds each of them once.
    asked_again = set(captured.filter(calls__gt=1).values_list("message_id", flat=True))
    assert interrupted <= asked_again
    sent_events = (
        MessageEvent.objects.filter(message__action=action, type=EventType.SENT)
        .values("message_id")
        .annotate(n=Count("id"))
    )
    assert {row["n"] for row in sent_events} == {1}
    assert len(sent_events) == 200
    for message in Message.objects.filter(action=action):
        record = captured.get(message_id=message.pk)
        assert message.provider_message_id == record.provider_message_id
    assert_no_drift()


def test_with_a_worker_the_simulated_provider_calls_back_later_through_the_parser(
    broker, workers, settings
):
    use_backend(settings, "simulated")
    action = factories.action(links=(), track_opens=False)
    people = [factories.person() for _ in range(30)]
    # A virtual hour per real millisecond: every callback is due within a second or two.
    workers(
        broker,
        TIDINGS_PROVIDERS="simulated",
        TIDINGS_SIMULATOR_SPEED="3600000",
        TIDINGS_SIMULATOR_RATES='{"email": {"transient_error": 0}}',
    )
    messages = sending.action_send(action=action, people=people)

    processed = MessageEvent.objects.filter(
        message__action=action, provider="sendgrid", type=EventType.ACCEPTED
    )
    wait_until(lambda: processed.count() == 30, timeout=60, message="no SendGrid callbacks")
    assert sorted(processed.values_list("message_id", flat=True)) == sorted(m.pk for m in messages)
    # Every simulated email ends with the provider's verdict (delivered,
    # bounced, dropped…) or what the recipient did next.
    still_sent = Message.objects.filter(action=action, status__in=[Status.QUEUED, Status.SENT])
    wait_until(lambda: not still_sent.exists(), timeout=60, message="callbacks missing")
    assert_no_drift()
