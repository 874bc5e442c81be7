"""The simulated provider honours a reused idempotency key as a real one does
(DESIGN.md "The send pipeline" 3, 6): a person's retry of a message whose
answer was lost calls it again under the old key and gets the answer that
key got, not a second message."""

import dataclasses

import pytest

from campaigns.vocabulary import Channel, Status
from messaging import sending
from messaging.sending.backends import Outcome, ProviderTimeout, SendRequest
from messaging.sending.backends.simulated import SimulatedBackend
from messaging.sending.simulator import Simulator
from tests import factories
from tests.ingest.helpers import assert_no_drift
from tests.pipeline.helpers import reload, use_simulated

pytestmark = pytest.mark.django_db


@pytest.fixture
def simulated(settings):
    use_simulated(settings)
    settings.TIDINGS_SIMULATOR_RATES = {"email": {"transient_error": 0.0}}
    # One try: a lost answer reads failed "outcome unknown" at once.
    settings.TIDINGS_SEND_MAX_TRIES = 1
    return settings


@pytest.fixture
def answers_lost(monkeypatch):
    """The provider answers every call, but the answer never reaches us (a
    timeout on the way back); what it answered is kept, by key."""
    answered = {}
    answer = SimulatedBackend.send

    def send(self, requests, *, now):
        for request, result in zip(requests, answer(self, requests, now=now), strict=True):
            answered[request.idempotency_key] = result
        raise ProviderTimeout("no answer within 1 s")

    monkeypatch.setattr(SimulatedBackend, "send", send)
    return answered


def failed_with_outcome_unknown(answers_lost):
    [message] = sending.messages_create(
        action=factories.action(Channel.EMAIL, links=()), people=[factories.person()]
    )
    sending.messages_send(message_ids=[message.pk], enqueue_retries=False)
    message = reload(message)
    assert message.status == Status.FAILED
    assert message.failure_reason.startswith("outcome unknown")
    first = answers_lost[f"tidings-{message.pk}-0"]
    assert first.outcome == Outcome.SENT
    return message, first


def test_a_retry_of_a_lost_answer_gets_the_provider_message_id_its_key_got(
    simulated, answers_lost, monkeypatch, django_capture_on_commit_callbacks
):
    message, first = failed_with_outcome_unknown(answers_lost)

    monkeypatch.undo()  # the answers come back
    with django_capture_on_commit_callbacks(execute=True):
        retried = sending.message_retry(message=message)
    assert (retried.send_attempts, retried.key_attempt) == (1, 0)  # the old key, reused
    message = reload(message)
    assert message.status != Status.FAILED  # sent (and its callbacks applied)
    assert message.provider_message_id == first.provider_message_id
    assert_no_drift()


def test_a_retry_of_a_known_failure_gets_a_new_key_and_a_new_provider_message_id(
    simulated, monkeypatch, django_capture_on_commit_callbacks
):
    requests = {}
    answer = SimulatedBackend.send

    def send(self, batch, *, now):
        requests.update((request.idempotency_key, request) for request in batch)
        return answer(self, batch, now=now)

    monkeypatch.setattr(SimulatedBackend, "send", send)
    simulated.TIDINGS_SIMULATOR_RATES = {"push": {"transient_error": 0.0, "rejected": 1.0}}
    [message] = sending.messages_create(
        action=factories.action(Channel.PUSH, links=()), people=[factories.person()]
    )
    sending.messages_send(message_ids=[message.pk], enqueue_retries=False)
    message = reload(message)
    assert message.failure_reason.startswith("FCM INVALID_ARGUMENT")  # refused: known

    simulated.TIDINGS_SIMULATOR_RATES = {"push": {"transient_error": 0.0, "rejected": 0.0}}
    with django_capture_on_commit_callbacks(execute=True):
        retried = sending.message_retry(message=message)
    assert retried.key_attempt is None
    message = reload(message)
    assert message.status != Status.FAILED
    assert sorted(requests) == [f"tidings-{message.pk}-0", f"tidings-{message.pk}-1"]
    # What the provider would give the old key now is another message.
    old_key = Simulator.from_settings().answer(requests[f"tidings-{message.pk}-0"])
    assert message.provider_message_id not in ("", old_key.provider_message_id)


@pytest.mark.parametrize("channel", [Channel.PUSH, Channel.SLACK, Channel.WEBHOOK, Channel.AIRSHIP])
def test_a_key_called_again_gets_the_answer_it_got_the_first_time(channel, settings):
    # Refusals are common here, so an answer drawn afresh per call would
    # differ for some of these keys.
    settings.TIDINGS_SIMULATOR_RATES = {
        channel: {"transient_error": 0.0, "gone": 0.3, "rejected": 0.3}
    }
    sim = Simulator(seed=7)
    for n in range(40):
        first = SendRequest(
            message_id=n,
            channel=channel,
            address=f"target-{n}",
            subject="",
            body="",
            idempotency_key=f"tidings-{n}-0",
            attempt=1,
            tries=0,
            stable_key=f"C|A|person-{n}|0",
        )
        again = dataclasses.replace(first, tries=1)  # the same key, a later call
        assert sim.answer(again) == sim.answer(first), n
