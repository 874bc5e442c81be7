"""Erase ("delete and suppress"): no personal value of the person survives
anywhere in the database, the campaign metrics do not move, reconcile stays
clean, and the address stays suppressed as its digest."""

import time

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from campaigns.metrics import campaign_metrics
from campaigns.models import Action, Campaign
from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditEntry
from messaging.audience.suppression import address_digest, suppressed_addresses
from messaging.models import CapturedMessage, Message, Person, Suppression
from messaging.sending import messages_presend_check
from messaging.tracking.tokens import make_unsubscribe_token
from tests.factories import message, person
from tests.ingest.helpers import assert_no_drift, reload
from tests.webhooks.kits import configure

pytestmark = pytest.mark.django_db

EMAIL = "Erin.Personal@Example.org"
PHONE = "+15559876543"
TOKEN = "tok-erin-7f3a9c2d"
CITY = "Alfama-Lisbon-77"


@pytest.fixture
def kits(settings, monkeypatch):
    return configure(settings, monkeypatch)


def personal_values_found(values) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text, JSON or bytea column of every
    table that holds one of the values (case-insensitively for text)."""
    found = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')"
        )
        columns = cursor.fetchall()
        assert len(columns) > 50  # every table, not a chosen few
        for table, column, data_type in columns:
            for value in values:
                if data_type == "bytea":
                    sql = (
                        f'SELECT count(*) FROM "{table}" '
                        f'WHERE position(%s::bytea in "{column}") > 0 '
                        f'OR position(%s::bytea in "{column}") > 0'
                    )
                    params = [value.encode(), value.lower().encode()]
                else:
                    sql = (
                        f'SELECT count(*) FROM "{table}" '
                        f'WHERE position(lower(%s) in lower("{column}"::text)) > 0'
                    )
                    params = [value]
                cursor.execute(sql, params)
                if cursor.fetchone()[0]:
                    found.append((table, column, value))
    return found


def sendgrid_events(kits, client, msg, *names):
    now = int(time.time())
    events = [
        {
            "email": EMAIL.lower(),
            "timestamp": now,
            "event": name,
            "sg_event_id": f"erase-{msg.id}-{name}",
            "sg_message_id": f"{msg.provider_message_id}.filter0001",
            "tidings_message_id": str(msg.id),
            "ip": "198.51.100.23",
            "useragent": "Mozilla/5.0 (Erin's phone)",
            "url": "https://example.com/a",
            "reason": f"450 mailbox of {EMAIL} temporarily full" if name == "deferred" else "",
        }
        for name in names
    ]
    response = kits["sendgrid"].events(events).post(client)
    assert response.status_code == 200, response.content


@pytest.fixture
def world(kits, settings, admin_client, django_capture_on_commit_callbacks):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )
    api = admin_client
    api.post(
        "/api/v1/people/",
        {
            "external_id": "erin",
            "email": EMAIL,
            "phone": PHONE,
            "push_token": TOKEN,
            "attributes": {"first_name": "Erin", "city": CITY},
        },
        content_type="application/json",
    )
    api.post(
        "/api/v1/people/",
        {"external_id": "other", "email": "other@example.net", "phone": "+15550001111"},
        content_type="application/json",
    )
    campaign = Campaign.objects.create(name="Erase test", conversion_event="purchase")
    actions = [
        Action.objects.create(
            campaign=campaign,
            name=channel,
            channel=channel,
            subject="Hi {{ first_name }}",
            body="Hello {{ first_name }} from {{ city }} ({{ email }}, {{ phone }}) "
            "https://example.com/a",
        )
        for channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH)
    ]
    for action in actions:
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v1/send/",
                {"action": action.id, "people": ["erin", "other"]},
                content_type="application/json",
            )
        assert response.status_code == 202, response.content
    email = Message.objects.get(person__external_id="erin", channel=Channel.EMAIL)
    assert email.status == "sent" and CITY in email.body
    sendgrid_events(kits, Client(), email, "deferred", "delivered", "open", "click")
    # The recipient's one-click unsubscribe, an admin's suppression (the
    # admin log names it), and an API resubscribe.
    Client().post(f"/u/{make_unsubscribe_token(email.id)}", {"List-Unsubscribe": "One-Click"})
    api.post(
        reverse("admin:messaging_suppression_add"),
        {"address": EMAIL, "reason": "manual", "note": f"asked by {EMAIL}"},
    )
    assert erase_like(api, "resubscribe").status_code == 200
    return campaign


def erase_like(client, command: str, external_id: str = "erin"):
    return client.post(f"/api/v1/people/{external_id}/{command}/", content_type="application/json")


def erase(client, external_id: str = "erin"):
    response = erase_like(client, "erase", external_id)
    assert response.status_code in (202, 404), response.content
    return response


def test_no_personal_value_survives_anywhere_and_the_metrics_do_not_move(world, admin_client):
    values = [EMAIL, PHONE, TOKEN, CITY]
    assert {value for _, _, value in personal_values_found(values)} == set(values)
    before = campaign_metrics(world)

    response = admin_client.post("/api/v1/people/erin/erase/", content_type="application/json")
    assert response.status_code == 202
    body = response.json()
    assert body["erased"] is True
    assert (body["email"], body["phone"], body["push_token"], body["attributes"]) == (
        "",
        "",
        "",
        {},
    )

    assert personal_values_found(values) == []
    assert campaign_metrics(world) == before
    assert_no_drift()
    # The other person is untouched.
    other = Person.objects.get(external_id="other")
    assert other.email == "other@example.net"
    assert Message.objects.filter(person=other, address="other@example.net").exists()
    assert CapturedMessage.objects.filter(address="other@example.net").exists()


def test_the_address_stays_suppressed_as_its_digest(world, admin_client):
    erase(admin_client)
    digest = address_digest(EMAIL)
    entry = Suppression.objects.get(address=digest)
    assert entry.reason == "erased" and digest.startswith("sha256:")
    assert suppressed_addresses({EMAIL.upper()}) == {EMAIL.lower()}
    # Someone new with the same address is still not emailed.
    newcomer = person(email=EMAIL)
    msg = message(Channel.EMAIL, person_obj=newcomer)
    assert messages_presend_check([msg]) == {msg.id}
    assert reload(msg).status == "suppressed"
    # The trail keeps what happened, under the digest; asking by the
    # address still finds it.
    rows = admin_client.get(f"/api/v1/audit/?address={EMAIL}").json()["results"]
    assert rows and all(row["address"] == digest for row in rows)
    assert rows[0]["action"] == "erased" and rows[0]["person"] == "erin"
    assert {row["action"] for row in rows} >= {"added", "erased"}


def test_an_erased_persons_later_messages_are_undeliverable(world, admin_client):
    erase(admin_client)
    erin = Person.objects.get(external_id="erin")
    msg = message(Channel.SMS, person_obj=erin)
    messages_presend_check([msg])
    assert reload(msg).status == "undeliverable"


def test_erase_is_one_transaction_and_a_repeat_changes_nothing(world, admin_client):
    erase(admin_client)
    count = AuditEntry.objects.count()
    assert erase(admin_client).status_code == 202
    assert AuditEntry.objects.count() == count


def test_erase_answers_404_for_an_unknown_person(admin_client):
    assert erase(admin_client, "nobody").status_code == 404
