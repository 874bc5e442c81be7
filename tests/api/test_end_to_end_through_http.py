"""The whole journey through HTTP alone: the API, the SendGrid webhook and the
API again. Only the keys are made here (SendGrid signs with its private key;
we are given the public one)."""

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rest_framework.test import APIClient

from messaging.webhooks.providers import sendgrid
from tests.api.helpers import create_action, create_campaign, create_people, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def sendgrid_key(settings) -> str:
    private = ec.generate_private_key(ec.SECP256R1())
    public_der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings.SENDGRID_WEBHOOK_VERIFICATION_KEY = [base64.b64encode(public_der).decode()]
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def post_sendgrid(events: list[dict], key: str) -> int:
    body = json.dumps(events).encode()
    headers = sendgrid.sign(body=body, secret=key)
    response = APIClient().generic(
        "POST",
        "/webhooks/sendgrid/",
        body,
        content_type="application/json",
        headers=headers,
    )
    return response.status_code


def sendgrid_event(message: dict, event: str, at: int, n: int, **fields) -> dict:
    return {
        "email": f"{message['person']}@example.com",
        "timestamp": at,
        "event": event,
        "sg_event_id": f"e2e-{message['id']}-{n}",
        "sg_message_id": f"sg{message['id']}.filter0001.1.0",
        "tidings_message_id": str(message["id"]),
        **fields,
    }


def test_a_campaign_goes_from_send_to_conversion_and_metrics_over_http(
    api, sendgrid_key, django_capture_on_commit_callbacks
):
    create_people(api, "ann", "bob")
    campaign = create_campaign(api, conversion_event="purchase", conversion_window_hours=24)
    action = create_action(api, campaign["id"])
    spring, faq = action["links"]
    assert (spring["url"], faq["url"]) == ("https://example.com/spring", "https://example.com/faq")

    with django_capture_on_commit_callbacks(execute=True):
        ann, bob = send(api, action["id"], "ann", "bob")
    for message in (ann, bob):
        assert api.get(f"/api/v1/messages/{message['id']}/").json()["status"] == "sent"

    now = int(time.time())
    events = [
        sendgrid_event(ann, "delivered", now + 1, 1),
        sendgrid_event(bob, "delivered", now + 1, 2),
        sendgrid_event(ann, "open", now + 2, 3, sg_machine_open=False),
        sendgrid_event(ann, "click", now + 3, 4, url=spring["url"]),
    ]
    assert post_sendgrid(events, sendgrid_key) == 200
    assert api.get(f"/api/v1/messages/{ann['id']}/").json()["status"] == "clicked"

    # SendGrid's clock is whole seconds ahead of ours here; the purchase
    # comes after the click (the API takes up to 5 minutes of skew).
    purchase_at = datetime.fromtimestamp(now + 10, UTC).isoformat()
    goal = api.post(
        "/api/v1/events/",
        {"person": "ann", "name": "purchase", "id": "order-77", "timestamp": purchase_at},
    )
    assert goal.status_code == 202
    assert goal.json()["converted_messages"] == [ann["id"]]

    message = api.get(f"/api/v1/messages/{ann['id']}/").json()
    assert message["status"] == "converted"
    for milestone in ("queued", "attempted", "sent", "delivered", "opened", "clicked", "converted"):
        assert message[f"{milestone}_at"] is not None, milestone
    assert message["bounced_at"] is None and message["failed_at"] is None
    assert (message["open_count"], message["click_count"]) == (1, 1)
    assert [(e["type"], e["source"]) for e in message["events"]] == [
        ("queued", "pipeline"),
        ("attempted", "pipeline"),
        ("sent", "pipeline"),
        ("delivered", "provider"),
        ("opened", "provider"),
        ("clicked", "provider"),
        ("converted", "api"),
    ]
    occurred = [e["occurred_at"] for e in message["events"]]
    assert occurred == sorted(occurred)
    assert message["events"][5]["link"] == spring["id"]

    metrics = api.get(f"/api/v1/campaigns/{campaign['id']}/metrics/").json()
    counts = metrics["counts"]
    assert (counts["sent"], counts["delivered"], counts["opened"]) == (2, 2, 1)
    assert (counts["clicked"], counts["converted"], counts["bounced"]) == (1, 1, 0)
    assert metrics["totals"] == {"opens": 1, "clicks": 1, "machine_opens": 0, "machine_clicks": 0}
    assert metrics["rates"]["delivery"] == 1.0
    assert metrics["rates"]["open"] == 0.5
    assert metrics["rates"]["click"] == 0.5
    assert metrics["rates"]["click_to_open"] == 1.0
    assert metrics["rates"]["conversion"] == 0.5
    assert metrics["rates"]["bounce"] == 0.0
    assert metrics["links"] == [
        {"link": spring["id"], "url": spring["url"], "clicks": 1, "unique_clicks": 1},
        {"link": faq["id"], "url": faq["url"], "clicks": 0, "unique_clicks": 0},
    ]
    [email] = metrics["by_action"]
    assert email["counts"]["converted"] == 1
    assert sum(row["sent"] for row in metrics["series"]) == 2
