"""The simulated providers: synchronous answers per channel, callbacks in the
providers' real webhook formats that verify against the configured secrets
and go through the real parsers and ingestion, determinism per seed."""

from collections import Counter

import pytest

from campaigns.vocabulary import Channel, EventType, Source, Status
from messaging import sending
from messaging.models import Message, MessageEvent
from messaging.sending import simulated_callbacks, simulator
from messaging.sending.backends import Outcome, SendRequest
from messaging.webhooks.providers import base, sendgrid, twilio
from tests import factories
from tests.ingest.helpers import assert_no_drift
from tests.pipeline.helpers import reload, use_simulated

pytestmark = pytest.mark.django_db


@pytest.fixture
def secrets(settings):
    settings.TWILIO_AUTH_TOKEN = ["twilio-auth-token-for-tests"]
    return use_simulated(settings)


def send(action, people, capture):
    with capture(execute=True):
        messages = sending.action_send(action=action, people=people)
    return [reload(message) for message in messages]


def test_what_the_simulator_posts_verifies_against_the_configured_secrets(secrets):
    body, headers, url = simulated_callbacks.sendgrid_post(
        [{"event": "delivered", "email": "a@example.com", "timestamp": 1}],
        now=factories.T0,
    )
    sendgrid.verify(body=body, headers=headers, url=url, secrets=[secrets])
    with pytest.raises(base.SignatureError):
        sendgrid.verify(
            body=body.replace(b"a@", b"b@"), headers=headers, url=url, secrets=[secrets]
        )

    body, headers, url = simulated_callbacks.twilio_post(
        {"MessageSid": "SM1", "MessageStatus": "sent"}, 7
    )
    assert url.endswith("/webhooks/twilio/?tidings_message_id=7")
    twilio.verify(body=body, headers=headers, url=url, secrets=["twilio-auth-token-for-tests"])
    with pytest.raises(base.SignatureError):
        twilio.verify(body=body, headers=headers, url=url, secrets=["another-token"])


def test_email_callbacks_arrive_as_sendgrid_events_through_the_parser(
    secrets, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_SIMULATOR_RATES = {"email": {"open": 1.0, "machine_open": 0.0}}
    action = factories.action(Channel.EMAIL, links=(), track_opens=False)
    people = [factories.person() for _ in range(40)]
    messages = send(action, people, django_capture_on_commit_callbacks)
    assert all(m.provider == "simulated-sendgrid" for m in messages)
    provider_events = MessageEvent.objects.filter(source=Source.PROVIDER, provider="sendgrid")
    types = Counter(provider_events.values_list("type", flat=True))
    assert types[EventType.ACCEPTED] == 40  # "processed" for every message
    assert types[EventType.DELIVERED] >= 30
    # Open tracking is off on this action: nobody reports an open.
    assert types[EventType.OPENED] == 0
    event = provider_events.filter(type=EventType.DELIVERED).first()
    assert {
        "sg_event_id",
        "sg_message_id",
        "timestamp",
        "tidings_message_id",
        "tidings_attempt",
    } <= set(event.detail)
    assert event.detail["tidings_attempt"] == "1" and event.attempt == 1
    message = Message.objects.get(pk=event.message_id)
    assert event.detail["sg_message_id"].split(".")[0] == message.provider_message_id
    statuses = Counter(m.status for m in Message.objects.filter(action=action))
    assert statuses[Status.DELIVERED] >= 30
    assert not Message.objects.filter(action=action, opened_at__isnull=False).exists()
    assert_no_drift()


def test_sms_callbacks_arrive_as_signed_twilio_posts_through_the_parser(
    secrets, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_SIMULATOR_RATES = {
        "sms": {
            "hard_bounce": 0.0,
            "soft_bounce": 0.0,
            "failed_later": 0.0,
            "transient_error": 0,
            # No goal events either: a conversion would (rightly) read "converted".
            "convert": 0.0,
            "click": 0.0,
        }
    }
    action = factories.action(Channel.SMS, links=())
    messages = send(
        action, [factories.person() for _ in range(10)], django_capture_on_commit_callbacks
    )
    assert {m.status for m in messages} == {Status.DELIVERED}
    event = MessageEvent.objects.filter(provider="twilio", type=EventType.DELIVERED).first()
    assert event.detail["MessageStatus"] == "delivered"
    assert (
        event.detail["MessageSid"] == Message.objects.get(pk=event.message_id).provider_message_id
    )


def test_callbacks_signed_with_another_key_are_rejected_and_change_nothing(
    secrets, settings, django_capture_on_commit_callbacks
):
    _, other_public = base.generate_p256_keypair()
    settings.SENDGRID_WEBHOOK_VERIFICATION_KEY = [other_public]
    settings.TWILIO_AUTH_TOKEN = ["a-token-the-simulator-does-not-sign-with"]
    settings.TIDINGS_SIMULATOR_SENDGRID_KEY = base.generate_p256_keypair()[0]
    email = send(
        factories.action(Channel.EMAIL, links=(), track_opens=False),
        [factories.person()],
        django_capture_on_commit_callbacks,
    )[0]
    assert email.status == Status.SENT  # our own send, no provider callback accepted
    assert not MessageEvent.objects.filter(source=Source.PROVIDER).exists()


@pytest.mark.parametrize(
    ("channel", "rates", "outcome", "reason"),
    [
        (Channel.PUSH, {"gone": 1.0}, Status.UNDELIVERABLE, "FCM UNREGISTERED"),
        (Channel.PUSH, {"gone": 0.0, "rejected": 1.0}, Status.FAILED, "FCM INVALID_ARGUMENT"),
        (Channel.SLACK, {"gone": 1.0}, Status.UNDELIVERABLE, "Slack channel_not_found"),
        (Channel.WEBHOOK, {"rejected": 1.0}, Status.FAILED, "HTTP 410 Gone"),
        (Channel.AIRSHIP, {"rejected": 1.0}, Status.FAILED, "Airship SEND_REJECTED"),
    ],
)
def test_synchronous_provider_results_decide_the_outcome(
    channel, rates, outcome, reason, secrets, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_SIMULATOR_RATES = {channel: {"transient_error": 0.0, **rates}}
    [message] = send(
        factories.action(channel, links=()),
        [factories.person()],
        django_capture_on_commit_callbacks,
    )
    assert message.status == outcome
    assert message.failure_reason.startswith(reason)


def test_a_seed_gives_the_same_answers_and_callbacks():
    request = SendRequest(
        message_id=1,
        channel=Channel.EMAIL,
        address="a@example.com",
        subject="",
        body="",
        idempotency_key="tidings-1-0",
        attempt=1,
        tries=0,
        stable_key="C|A|person-1|0",
        person_id=1,
        action_id=1,
    )
    context = simulator.PlanContext(
        links={}, goals={1: "purchase"}, windows={1: 3600.0}, bodies={1: ""}
    )

    def run(seed):
        sim = simulator.Simulator(seed=seed)
        answer = sim.answer(request)
        return answer, sim.plan(request, answer, context)

    assert run(3) == run(3)
    answers = {run(seed)[0].provider_message_id for seed in range(5)}
    assert len(answers) == 5
    assert run(3)[0].outcome == Outcome.SENT
