"""No poison batch: what PostgreSQL cannot store (NUL, unpaired surrogates,
NaN in JSON) is cleaned from events before insert while the inbox keeps the
original bytes; an event the database still refuses is stored alone as
"refused" with the error, and the rest of its batch applies."""

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from campaigns.vocabulary import Channel, EventType, Source
from messaging.events import Event
from messaging.models import Message, MessageEvent, WebhookRequest
from messaging.quarantine import REPLACEMENT, apply_events_isolated, clean_event
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_bytes, fixture_json
from .kits import history, sent_message

pytestmark = pytest.mark.django_db
NUL = "\x00"


def only_row() -> WebhookRequest:
    [row] = WebhookRequest.objects.all()
    return row


def test_a_nul_in_a_sendgrid_bounce_reason_does_not_poison_the_batch(client, kits):
    bounced, delivered = sent_message(101), sent_message(102)
    bounce = {**fixture_json("sendgrid", "bounce_hard")[0], "reason": f"550 no{NUL}such user"}
    delivery = {**fixture_json("sendgrid", "delivered")[0], "tidings_message_id": "102"}
    request = kits["sendgrid"].events([bounce, delivery])

    response = request.post(client)

    assert response.status_code == 200
    row = only_row()
    assert row.status == "applied", row.error
    assert b"\\u0000" in bytes(row.body)  # the raw request keeps the original bytes
    bounced.refresh_from_db()
    delivered.refresh_from_db()
    assert (bounced.status, delivered.status) == ("bounced", "delivered")
    [event] = history(bounced)
    assert f"550 no{REPLACEMENT}such user" in event.reason
    assert event.detail["reason"] == f"550 no{REPLACEMENT}such user"
    assert_no_drift()


def test_a_nul_in_a_twilio_error_message_is_cleaned_and_applied(client, kits):
    message = sent_message(101, channel=Channel.SMS)
    body = (
        fixture_bytes("twilio", "undelivered_30003")
        + b"&ErrorMessage="
        + quote(f"carrier{NUL}said no").encode()
    )
    response = kits["twilio"].request(body=body, message_id=101).post(client)
    assert response.status_code == 200
    assert only_row().status == "applied", only_row().error
    [event] = history(message)
    assert event.detail["ErrorMessage"] == f"carrier{REPLACEMENT}said no"
    message.refresh_from_db()
    assert message.status == event.type  # the event moved the message
    assert_no_drift()


def test_a_nul_in_a_postmark_description_is_cleaned_and_applied(client, kits):
    message = sent_message(101)
    payload = {**fixture_json("postmark", "bounce_hard"), "Description": f"bad{NUL}box"}
    response = kits["postmark"].request(body=json.dumps(payload).encode()).post(client)
    assert response.status_code == 200
    assert only_row().status == "applied", only_row().error
    message.refresh_from_db()
    assert message.status == "bounced"
    assert history(message)[0].detail["Description"] == f"bad{REPLACEMENT}box"
    assert_no_drift()


def test_a_nul_in_a_mailgun_delivery_status_is_cleaned_and_applied(client, kits):
    message = sent_message(101)
    data = fixture_json("mailgun", "failed_permanent_bounce")["event-data"]
    data["delivery-status"] = {**data["delivery-status"], "message": f"5.1.1 gone{NUL}"}
    response = kits["mailgun"].request(event_data=data).post(client)
    assert response.status_code == 200
    assert only_row().status == "applied", only_row().error
    message.refresh_from_db()
    assert message.status == "bounced"
    assert REPLACEMENT in history(message)[0].detail["delivery-status"]["message"]
    assert_no_drift()


def provider_event(message: Message, key: str, type_: str = EventType.DELIVERED, **fields) -> Event:
    return Event(
        type=type_,
        occurred_at=datetime(2024, 6, 1, 10, 0, tzinfo=UTC),
        idempotency_key=key,
        source=Source.PROVIDER,
        message_id=message.pk,
        provider="sendgrid",
        **fields,
    )


def test_unpaired_surrogates_and_nan_in_json_are_cleaned_before_insert():
    message = sent_message(101)
    event = provider_event(
        message,
        "surrogate",
        reason="bad \ud800 half",
        detail={"text": "x\udfffy", "score": float("nan"), "list": [float("inf"), "a\x00"]},
    )
    cleaned = clean_event(event)
    assert cleaned.reason == f"bad {REPLACEMENT} half"
    assert cleaned.detail == {
        "text": f"x{REPLACEMENT}y",
        "score": "nan",
        "list": ["inf", "a\ufffd"],
    }
    result = apply_events_isolated([event])
    assert result.stored == 1
    stored = MessageEvent.objects.get(message_id=message.pk, idempotency_key="surrogate")
    assert stored.detail["score"] == "nan"
    assert_no_drift()


def test_an_event_the_database_refuses_even_alone_is_stored_as_refused_and_the_rest_apply():
    poisoned, fine = sent_message(101), sent_message(102)
    # A source outside the table's check constraint: PostgreSQL refuses the
    # row however clean its text is.
    bad = provider_event(poisoned, "refused-by-db", reason="x", detail={"why": "test"})
    bad = Event(**{**{f: getattr(bad, f) for f in bad.__slots__}, "source": "carrier-pigeon"})
    good = provider_event(fine, "fine-delivered")
    also_good = provider_event(poisoned, "poisoned-opened", type_=EventType.OPENED)

    result = apply_events_isolated([bad, good, also_good])

    assert result.stored == 3
    fine.refresh_from_db()
    poisoned.refresh_from_db()
    assert fine.status == "delivered"
    assert poisoned.status == "opened"  # its good event applied too
    refused = MessageEvent.objects.get(message_id=poisoned.pk, idempotency_key="refused-by-db")
    assert refused.type == EventType.REFUSED
    assert refused.detail["refused_type"] == EventType.DELIVERED
    assert "could not be stored" in refused.reason
    assert_no_drift()
    # Applying the same batch again is a no-op: nothing is stored twice.
    again = apply_events_isolated([bad, good, also_good])
    assert again.stored == 0
    assert MessageEvent.objects.filter(message_id__in=[poisoned.pk, fine.pk]).count() == 3 + 3 + 3


def test_a_lost_connection_is_not_blamed_on_an_event():
    """A connection-class error (here PostgreSQL's admin_shutdown, raised by a
    trigger so the connection survives to look) is the database's, not the
    batch's: it propagates — the inbox keeps the row for the sweeper — and no
    event is stored as refused."""
    from django.db import connection

    message = sent_message(101)
    if connection.vendor != "postgresql":
        pytest.skip("SQLSTATE classes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION tidings_test_shutdown() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'terminating connection (test)' USING ERRCODE = '57P01'; END "
            "$$ LANGUAGE plpgsql"
        )
        cursor.execute(
            # Not on a "refused" row: were the error blamed on the event, its
            # refusal would go in and show.
            "CREATE TRIGGER tidings_test_shutdown BEFORE INSERT ON messaging_messageevent "
            "FOR EACH ROW WHEN (NEW.type <> 'refused') EXECUTE FUNCTION tidings_test_shutdown()"
        )
    try:
        with pytest.raises(Exception) as raised:
            apply_events_isolated([provider_event(message, "lost-connection")])
        assert "terminating connection" in str(raised.value)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER tidings_test_shutdown ON messaging_messageevent")
            cursor.execute("DROP FUNCTION tidings_test_shutdown()")
    assert not MessageEvent.objects.filter(message_id=message.pk, type=EventType.REFUSED).exists()
