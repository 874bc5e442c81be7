"""An unknown outcome is never called a failure (DESIGN.md "The send
pipeline" 6): a provider call that times out, or that the task's soft time
limit interrupts, leaves the message attempted and is settled with the same
key; after the last try it reads failed "outcome unknown", and a person's
retry of it reuses the key, so the provider never holds two messages. The
sweeper's re-sends of an unanswered attempt are bounded."""

import signal
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from campaigns.vocabulary import EventType, Status
from messaging import sending
from messaging.models import CapturedMessage, MessageEvent
from messaging.sending import pipeline, recovery
from tests import factories
from tests.ingest.helpers import assert_no_drift
from tests.pipeline.helpers import reload, use_backend

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_provider(settings):
    """The capture provider accepts at once, then answers after 1.5 s; every
    provider call gives up after 1 s."""
    use_backend(settings, "capture")
    settings.TIDINGS_CAPTURE_LATENCY_MS = 1500
    settings.TIDINGS_PROVIDER_TIMEOUT_SECONDS = 1
    settings.TIDINGS_SEND_MAX_TRIES = 2
    return settings


def one_message():
    [message] = sending.messages_create(action=factories.action(), people=[factories.person()])
    return message


def test_a_provider_call_that_times_out_leaves_the_message_attempted_for_the_same_key(
    slow_provider,
):
    message = one_message()
    report = sending.messages_send(message_ids=[message.pk], enqueue_retries=False)
    assert report.retry_ids == [message.pk]  # called again later, not failed
    message = reload(message)
    assert message.status == Status.ATTEMPTED
    deferred = MessageEvent.objects.get(message_id=message.pk, type=EventType.DEFERRED)
    assert deferred.reason.startswith("outcome unknown")
    [held] = CapturedMessage.objects.all()  # the provider did accept it
    assert held.idempotency_key == f"tidings-{message.pk}-0"
    assert_no_drift()


def test_after_the_last_try_it_reads_failed_outcome_unknown_and_a_retry_reuses_the_key(
    slow_provider, django_capture_on_commit_callbacks
):
    message = one_message()
    sending.messages_send(message_ids=[message.pk], enqueue_retries=False)
    sending.messages_send(message_ids=[message.pk], tries=1, enqueue_retries=False)
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.failure_reason.startswith("outcome unknown")
    [held] = CapturedMessage.objects.all()
    assert held.calls == 2  # the same key both times: one message at the provider

    slow_provider.TIDINGS_CAPTURE_LATENCY_MS = 0  # the provider answers again
    with django_capture_on_commit_callbacks(execute=True):
        retried = sending.message_retry(message=message)
    assert (retried.send_attempts, retried.key_attempt) == (1, 0)
    message = reload(message)
    assert message.status == Status.SENT
    [held] = CapturedMessage.objects.all()  # still one message at the provider
    assert held.calls == 3
    assert message.provider_message_id == held.provider_message_id
    assert_no_drift()


def test_a_retry_of_a_known_failure_gets_a_new_key(settings, django_capture_on_commit_callbacks):
    use_backend(settings, "capture")
    message = one_message()
    sending.messages_send(message_ids=[message.pk])
    # A known failure, as a provider's refusal is recorded.
    sending.messages_send(message_ids=[message.pk])
    from messaging.events import Event
    from messaging.ingest import apply_events

    apply_events(
        [
            Event(
                type=EventType.FAILED,
                occurred_at=timezone.now() + timedelta(seconds=1),
                idempotency_key="failed:provider",
                source="provider",
                message_id=message.pk,
                reason="invalid recipient",
            )
        ]
    )
    assert reload(message).status == Status.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        retried = sending.message_retry(message=message)
    assert retried.key_attempt is None
    assert sorted(CapturedMessage.objects.values_list("idempotency_key", flat=True)) == [
        f"tidings-{message.pk}-0",
        f"tidings-{message.pk}-1",
    ]


def test_the_soft_time_limit_during_a_provider_call_is_an_unknown_outcome(slow_provider):
    message = one_message()

    def soft_limit(signum, frame):
        # What Celery's pool does to a task at its soft time limit.
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # strikes while the provider is answering
    try:
        report = sending.messages_send(message_ids=[message.pk], enqueue_retries=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert report.retry_ids == [message.pk]
    assert reload(message).status == Status.ATTEMPTED
    deferred = MessageEvent.objects.get(message_id=message.pk, type=EventType.DEFERRED)
    assert "soft time limit" in deferred.reason
    assert CapturedMessage.objects.count() == 1


def test_the_sweeper_sends_an_unanswered_attempt_again_a_bounded_number_of_times_then_settles(
    settings, django_capture_on_commit_callbacks
):
    use_backend(settings, "capture")
    settings.TIDINGS_SWEEP_MAX_RESENDS = 2
    message = one_message()
    # Claimed, then the task was killed (its hard time limit) before any answer.
    pipeline._claim([message.pk], [Status.QUEUED], 0, timezone.now(), pipeline.SendReport())
    now = timezone.now()
    for sweep in (1, 2):
        now += timedelta(hours=1)
        # The re-send task is killed again each time: nothing runs it.
        with django_capture_on_commit_callbacks(execute=False):
            report = recovery.messages_sweep(now=now)
        assert report.resent == [message.pk], sweep
        assert reload(message).status == Status.ATTEMPTED
    now += timedelta(hours=1)
    report = recovery.messages_sweep(now=now)
    assert (report.resent, report.unknown) == ([], [message.pk])
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.failure_reason.startswith("outcome unknown")
    swept = MessageEvent.objects.filter(message_id=message.pk, type=EventType.DEFERRED)
    assert sorted(swept.values_list("idempotency_key", flat=True)) == ["swept:0:1", "swept:0:2"]
    assert recovery.messages_sweep(now=now + timedelta(hours=1)).unknown == []  # settled

    with django_capture_on_commit_callbacks(execute=False):
        sending.message_retry(message=message)
    # The worker runs the retry (on this test's clock, hours ahead).
    later = now + timedelta(hours=2)
    sending.messages_send(message_ids=[message.pk], clock=lambda: later)
    assert reload(message).status == Status.SENT
    assert list(CapturedMessage.objects.values_list("idempotency_key", flat=True)) == [
        f"tidings-{message.pk}-0"
    ]
    assert_no_drift()


def test_where_the_backend_cannot_honour_keys_a_timeout_reads_failed_outcome_unknown_at_once(
    slow_provider, monkeypatch
):
    from messaging.sending.backends.capture import CaptureBackend

    # Calling again could make a second message: no retry, a settled unknown.
    monkeypatch.setattr(CaptureBackend, "honours_idempotency_keys", False)
    message = one_message()
    report = sending.messages_send(message_ids=[message.pk], enqueue_retries=False)
    assert report.retry_ids == []
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.failure_reason.startswith("outcome unknown")
    assert CapturedMessage.objects.get().calls == 1
    assert_no_drift()
