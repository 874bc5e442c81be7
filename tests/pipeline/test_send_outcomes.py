"""The send step in process (tasks run eagerly): pre-send outcomes, drafts,
retries and discards, with the capture backend."""

import pytest
from django.utils import timezone

from campaigns.vocabulary import Channel, Status
from messaging import sending
from messaging.audience.suppression import person_delete, person_unsubscribe, suppression_add
from messaging.models import CapturedMessage, Message, MessageEvent
from messaging.sending import pipeline, recovery
from messaging.sending.backends import SendRequest
from tests import factories
from tests.ingest.helpers import assert_no_drift, metrics
from tests.pipeline.helpers import event_types, reload, use_backend

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _capture(settings):
    use_backend(settings, "capture")


def send(action, people, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        messages = sending.action_send(action=action, people=people)
    return [reload(message) for message in messages]


def test_a_queued_message_is_attempted_then_sent_with_the_providers_id(
    django_capture_on_commit_callbacks,
):
    [message] = send(factories.action(), [factories.person()], django_capture_on_commit_callbacks)
    assert message.status == Status.SENT
    assert event_types(message) == ["queued", "attempted", "sent"]
    captured = CapturedMessage.objects.get()
    assert message.provider == "capture"
    assert message.provider_message_id == captured.provider_message_id
    assert captured.idempotency_key == f"tidings-{message.pk}-0"
    assert captured.message_id == message.pk
    assert_no_drift()


def test_a_suppressed_address_gets_suppressed_and_never_reaches_the_provider(
    django_capture_on_commit_callbacks,
):
    person = factories.person(email="Blocked@Example.com")
    suppression_add(address="blocked@example.com")
    [message] = send(factories.action(), [person], django_capture_on_commit_callbacks)
    assert message.status == Status.SUPPRESSED
    assert message.failure_reason == sending.REASON_SUPPRESSED
    assert not CapturedMessage.objects.exists()
    assert_no_drift()


def test_suppression_applies_to_email_only(django_capture_on_commit_callbacks):
    person = factories.person(email="blocked@example.com")
    suppression_add(address="blocked@example.com")
    [message] = send(factories.action(Channel.SMS), [person], django_capture_on_commit_callbacks)
    assert message.status == Status.SENT


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (person_unsubscribe, sending.REASON_UNSUBSCRIBED),
        (person_delete, sending.REASON_DELETED),
    ],
)
def test_an_unsubscribed_or_deleted_person_is_undeliverable_with_the_reason(
    change, reason, django_capture_on_commit_callbacks
):
    person = factories.person()
    change(person=person)
    [message] = send(factories.action(), [person], django_capture_on_commit_callbacks)
    assert message.status == Status.UNDELIVERABLE
    assert message.failure_reason == reason
    assert not CapturedMessage.objects.exists()


@pytest.mark.parametrize(
    ("channel", "missing", "reason"),
    [
        (Channel.EMAIL, {"email": ""}, "no email address"),
        (Channel.SMS, {"phone": ""}, "no phone number"),
        (Channel.PUSH, {"push_token": ""}, "no push token"),
        (Channel.AIRSHIP, {"push_token": ""}, "no push token"),
    ],
)
def test_a_person_without_an_address_for_the_channel_is_undeliverable(
    channel, missing, reason, django_capture_on_commit_callbacks
):
    person = factories.person(**missing)
    [message] = send(factories.action(channel), [person], django_capture_on_commit_callbacks)
    assert message.status == Status.UNDELIVERABLE
    assert message.failure_reason == reason
    assert not CapturedMessage.objects.exists()


def test_slack_and_webhook_messages_go_to_the_actions_target(django_capture_on_commit_callbacks):
    person = factories.person(email="", phone="", push_token="")
    for channel, target in ((Channel.SLACK, "#launch"), (Channel.WEBHOOK, "https://h.example/x")):
        action = factories.action(channel, target=target)
        [message] = send(action, [person], django_capture_on_commit_callbacks)
        assert message.status == Status.SENT
        assert message.address == target
    missing = factories.action(Channel.SLACK, target="")
    [message] = send(missing, [person], django_capture_on_commit_callbacks)
    assert (message.status, message.failure_reason) == (Status.UNDELIVERABLE, "no Slack channel")


@pytest.mark.django_db(transaction=True)
def test_action_send_answers_with_the_status_at_the_time_of_the_answer():
    # No transaction around the call (as in a request): the eager task runs at
    # commit, before the answer is read back.
    person = factories.person()
    action = factories.action()
    [message] = sending.action_send(action=action, people=[person])
    assert message.status == Status.SENT


def test_each_call_creates_new_messages_even_for_the_same_person(
    django_capture_on_commit_callbacks,
):
    person = factories.person()
    action = factories.action()
    first = send(action, [person], django_capture_on_commit_callbacks)
    second = send(action, [person], django_capture_on_commit_callbacks)
    assert first[0].pk != second[0].pk
    assert CapturedMessage.objects.count() == 2


def test_a_draft_waits_until_it_is_sent_then_takes_the_normal_path(
    django_capture_on_commit_callbacks,
):
    action = factories.action(send_as_draft=True)
    [draft] = send(action, [factories.person()], django_capture_on_commit_callbacks)
    assert draft.status == Status.DRAFTED
    assert not CapturedMessage.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        sending.message_send_draft(message=draft)
    sent = reload(draft)
    assert sent.status == Status.SENT
    assert event_types(sent) == ["drafted", "queued", "attempted", "sent"]
    assert CapturedMessage.objects.get().idempotency_key == f"tidings-{draft.pk}-1"
    assert metrics(action.campaign)["counts"]["drafted"] == 0
    assert metrics(action.campaign)["counts"]["sent"] == 1
    assert_no_drift()


def test_only_a_draft_can_be_sent_as_a_draft_or_discarded(django_capture_on_commit_callbacks):
    [message] = send(factories.action(), [factories.person()], django_capture_on_commit_callbacks)
    with pytest.raises(sending.NotAllowed):
        sending.message_send_draft(message=message)
    with pytest.raises(sending.NotAllowed):
        sending.message_discard(message=message)
    with pytest.raises(sending.NotAllowed):
        sending.message_retry(message=message)


def test_a_discarded_draft_leaves_the_metrics_and_cannot_be_sent(
    django_capture_on_commit_callbacks,
):
    action = factories.action(send_as_draft=True)
    people = [factories.person(), factories.person()]
    drafts = send(action, people, django_capture_on_commit_callbacks)
    assert metrics(action.campaign)["counts"]["drafted"] == 2

    sending.message_discard(message=drafts[0])
    assert reload(drafts[0]).discarded_at is not None
    assert metrics(action.campaign)["counts"]["drafted"] == 1
    assert metrics(action.campaign)["messages"] == 1
    assert MessageEvent.objects.filter(message_id=drafts[0].pk).exists()  # history stays
    assert_no_drift()
    with pytest.raises(sending.NotAllowed):
        sending.message_send_draft(message=drafts[0])
    with pytest.raises(sending.NotAllowed):
        sending.message_discard(message=drafts[0])


def test_a_transient_error_is_retried_then_failed_with_the_reason_then_retried_successfully(
    settings, django_capture_on_commit_callbacks
):
    use_backend(settings, "simulated")
    settings.TIDINGS_SEND_MAX_TRIES = 3
    settings.TIDINGS_SIMULATOR_RATES = {"webhook": {"transient_error": 1.0, "click": 0}}
    action = factories.action(Channel.WEBHOOK, links=())
    [message] = send(action, [factories.person()], django_capture_on_commit_callbacks)
    assert message.status == Status.FAILED
    assert message.failure_reason == "HTTP 503 from the endpoint (gave up after 3 tries)"
    assert event_types(message) == ["queued", "attempted", "deferred", "deferred", "failed"]

    settings.TIDINGS_SIMULATOR_RATES = {"webhook": {"transient_error": 0.0, "click": 0}}
    with django_capture_on_commit_callbacks(execute=True):
        retried = sending.message_retry(message=message)
    assert retried.send_attempts == 1
    message = reload(message)
    assert message.status == Status.SENT
    assert message.failure_reason == ""
    assert message.failed_at is None  # the new attempt's milestones only
    assert message.provider_message_id.startswith("msg_")
    counts = metrics(action.campaign)["counts"]
    assert (counts["failed"], counts["sent"]) == (0, 1)
    assert_no_drift()


def test_retry_waits_with_exponential_backoff(settings):
    settings.TIDINGS_SEND_RETRY_BASE_SECONDS = 30
    assert [pipeline.retry_countdown(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


def test_a_message_already_claimed_is_not_sent_twice(django_capture_on_commit_callbacks):
    action = factories.action()
    messages = sending.messages_create(action=action, people=[factories.person()])
    ids = [m.pk for m in messages]
    first = sending.messages_send(message_ids=ids)
    second = sending.messages_send(message_ids=ids)  # a duplicated task
    assert (first.claimed, second.claimed) == (1, 0)
    assert CapturedMessage.objects.get().calls == 1


def test_a_redelivered_task_resends_its_attempted_messages_with_the_same_key():
    action = factories.action()
    [message] = sending.messages_create(action=action, people=[factories.person()])
    # The worker died after the provider accepted, before the answer was stored.
    pipeline._claim([message.pk], [Status.QUEUED], 0, timezone.now(), pipeline.SendReport())
    request = SendRequest(
        message_id=message.pk,
        channel="email",
        address="a@b.c",
        subject="",
        body="",
        idempotency_key=f"tidings-{message.pk}-0",
        attempt=1,
        tries=0,
    )
    from messaging.sending.backends.capture import CaptureBackend

    [accepted] = CaptureBackend("email").send([request], now=timezone.now())
    assert reload(message).status == Status.ATTEMPTED

    report = sending.messages_send(message_ids=[message.pk], redelivered=True)
    assert report.claimed == 1
    message = reload(message)
    assert message.status == Status.SENT
    assert message.provider_message_id == accepted.provider_message_id
    captured = CapturedMessage.objects.get()
    assert captured.calls == 2  # the provider saw the key twice and accepted it once


def test_the_sweeper_resends_stuck_attempts_and_requeues_lost_tasks(
    django_capture_on_commit_callbacks,
):
    action = factories.action()
    stuck, lost = sending.messages_create(
        action=action, people=[factories.person(), factories.person()]
    )
    pipeline._claim([stuck.pk], [Status.QUEUED], 0, timezone.now(), pipeline.SendReport())
    assert recovery.messages_sweep().requeued == []  # nothing is stale yet

    later = timezone.now() + timezone.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        report = recovery.messages_sweep(now=later)
    assert (report.resent, report.requeued, report.unknown) == ([stuck.pk], [lost.pk], [])
    assert {reload(stuck).status, reload(lost).status} == {Status.SENT}
    assert CapturedMessage.objects.count() == 2
    assert_no_drift()


def test_the_sweeper_fails_stuck_attempts_when_the_backend_does_not_honour_keys(monkeypatch):
    action = factories.action()
    [stuck] = sending.messages_create(action=action, people=[factories.person()])
    pipeline._claim([stuck.pk], [Status.QUEUED], 0, timezone.now(), pipeline.SendReport())
    monkeypatch.setattr(recovery, "_honours_keys", lambda name: False)
    report = recovery.messages_sweep(now=timezone.now() + timezone.timedelta(hours=1))
    assert report.unknown == [stuck.pk]
    stuck = reload(stuck)
    assert stuck.status == Status.FAILED
    assert stuck.failure_reason.startswith("outcome unknown")
    assert_no_drift()


def test_a_chunk_is_sent_in_a_bounded_number_of_queries(django_assert_max_num_queries):
    action = factories.action()
    people = [factories.person() for _ in range(100)]
    ids = [m.pk for m in sending.messages_create(action=action, people=people)]
    with django_assert_max_num_queries(40):
        report = sending.messages_send(message_ids=ids)
    assert report.outcomes["sent"] == 100
    assert Message.objects.filter(status=Status.SENT).count() == 100
