"""A SendGrid batch of 1,000 events for 280 messages, delivered three times,
each time shuffled, gives exactly the state that one in-order delivery gives:
statuses, milestones, counts, counters, suppressions, and a clean recount."""

import random
from datetime import timedelta

import pytest

from campaigns.metrics import campaign_metrics
from campaigns.models import Campaign
from campaigns.vocabulary import Source
from messaging.events import Event
from messaging.ingest import apply_events
from messaging.message_states import STATE_FIELDS
from messaging.models import Message, MessageEvent, Suppression, WebhookRequest
from messaging.sending import messages_create
from tests import factories
from tests.ingest.helpers import assert_no_drift

from .kits import CLICK_URL, SEND_AT

pytestmark = pytest.mark.django_db

N_MESSAGES = 280
N_EVENTS = 1000
OTHER_URL = "https://example.com/other"


def journey(rnd: random.Random, n: int) -> list[dict]:
    """One message's SendGrid events (without ids), in no particular order."""
    t = int(SEND_AT.timestamp())
    events = [{"event": "processed", "timestamp": t + 1}]

    def add(name, after, **fields):
        events.append({"event": name, "timestamp": t + after, **fields})

    roll = rnd.random()
    if roll < 0.1:
        add("bounce", 60, type="bounce", status="5.1.1", reason="550 5.1.1 no such user")
        return events
    if roll < 0.15:
        add("dropped", 5, reason="Bounced Address")
        return events
    if roll < 0.2:
        add("deferred", 30, response="421 try later", attempt="1")
        add("bounce", 3600, type="blocked", status="4.7.0", reason="421 blocked")
        return events
    if roll < 0.3:
        # A soft bounce, then delivered on a later try.
        add("bounce", 40, type="blocked", status="4.7.0", reason="421 blocked")
        add("delivered", 900, response="250 OK")
    else:
        if rnd.random() < 0.2:
            add("deferred", 20, response="421 try later", attempt="1")
        add("delivered", 60, response="250 OK")
    if rnd.random() < 0.15:
        add("open", 65, sg_machine_open=True)
    for k in range(rnd.choice([0, 0, 1, 1, 2, 3])):
        add("open", 600 + 400 * k + rnd.randrange(60), sg_machine_open=False)
    for k in range(rnd.choice([0, 0, 0, 1, 2])):
        url = rnd.choice([CLICK_URL, CLICK_URL, OTHER_URL, "https://unknown.example.com/"])
        add("click", 700 + 500 * k + rnd.randrange(60), url=url)
    tail = rnd.random()
    if tail < 0.05:
        add("spamreport", 5000)
    elif tail < 0.1:
        add("unsubscribe", 5200)
    elif tail < 0.12:
        add("bounce", 7000, type="bounce", status="5.1.1", reason="550 gone since")
    return events


def batch_for(messages: list[Message]) -> list[dict]:
    rnd = random.Random(2024)
    events = []
    for n, message in enumerate(messages):
        for k, event in enumerate(journey(rnd, n)):
            events.append(
                {
                    **event,
                    "email": message.address,
                    "sg_event_id": f"ev-{n}-{k}",
                    "sg_message_id": f"sgid{n}.filter0001.16648.0",
                    "tidings_message_id": str(message.pk),
                    "category": ["redelivery"],
                }
            )
    assert len(events) >= N_EVENTS
    return events[:N_EVENTS]


def campaign_with_sent_messages() -> tuple[Campaign, list[Message]]:
    action = factories.action(links=(CLICK_URL, OTHER_URL))
    people = [factories.person() for _ in range(N_MESSAGES)]
    created = messages_create(
        action=action, people=people, now=SEND_AT - timedelta(minutes=5), backdate=True
    )
    apply_events(
        [
            Event(
                type=type_,
                occurred_at=SEND_AT,
                idempotency_key=f"{type_}:0",
                source=Source.PIPELINE,
                message_id=message.pk,
            )
            for message in created
            for type_ in ("attempted", "sent")
        ]
    )
    return action.campaign, list(Message.objects.filter(campaign=action.campaign).order_by("id"))


def message_states(campaign) -> list[tuple]:
    return [
        tuple(row)
        for row in Message.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list(*STATE_FIELDS)
    ]


def without_ids(value):
    if isinstance(value, dict):
        return {
            k: without_ids(v) for k, v in value.items() if k not in ("campaign", "action", "link")
        }
    if isinstance(value, list):
        items = [without_ids(v) for v in value]
        return sorted(items, key=repr)
    return value


def test_three_shuffled_deliveries_equal_one_in_order_delivery(client, kits):
    kit = kits["sendgrid"]
    in_order_campaign, in_order_messages = campaign_with_sent_messages()
    shuffled_campaign, shuffled_messages = campaign_with_sent_messages()

    in_order = sorted(
        batch_for(in_order_messages), key=lambda e: (e["timestamp"], e["sg_event_id"])
    )
    assert kit.events(in_order).post(client).status_code == 200

    events = batch_for(shuffled_messages)
    for seed in (1, 2, 3):
        random.Random(seed).shuffle(events)
        assert kit.events(events).post(client).status_code == 200

    assert WebhookRequest.objects.filter(status="applied").count() == 4
    assert message_states(shuffled_campaign) == message_states(in_order_campaign)
    for basis in ("send", "event"):
        assert without_ids(campaign_metrics(shuffled_campaign, basis=basis)) == without_ids(
            campaign_metrics(in_order_campaign, basis=basis)
        )
    events_of = MessageEvent.objects.filter(source="provider")
    assert events_of.filter(message__campaign=shuffled_campaign).count() == N_EVENTS
    assert events_of.filter(message__campaign=in_order_campaign).count() == N_EVENTS
    assert Suppression.objects.filter(message__campaign=shuffled_campaign).count() == (
        Suppression.objects.filter(message__campaign=in_order_campaign).count()
    )
    # The batch exercises every outcome it should.
    statuses = {state[0] for state in message_states(shuffled_campaign)}
    assert {"bounced", "suppressed", "delivered", "opened", "clicked"} <= statuses
    assert_no_drift(in_order_campaign.id)
    assert_no_drift(shuffled_campaign.id)
