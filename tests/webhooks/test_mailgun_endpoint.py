"""POST /webhooks/mailgun/ with the stored Mailgun events, each signed in the
test with a generated signing key and a fresh token."""

import json

import pytest

from messaging.models import Person, Suppression, WebhookRequest
from messaging.webhooks.providers import mailgun
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_json
from .kits import CLICK_URL, PROVIDER_IDS, assert_milestones, history, sent_message

pytestmark = pytest.mark.django_db

# fixture → (status, stored history type, bounce type, suppression reason or None, machine)
EXPECTED = {
    "accepted": ("sent", "accepted", None, None, False),
    "rejected": ("failed", "failed", None, None, False),
    "delivered": ("delivered", "delivered", None, None, False),
    "failed_temporary": ("sent", "deferred", None, None, False),
    "failed_permanent_bounce": ("bounced", "bounced", "hard", "hard_bounce", False),
    "failed_permanent_old": ("bounced", "bounced", "soft", None, False),
    "failed_permanent_soft": ("bounced", "bounced", "soft", None, False),
    "failed_generic_5xx": ("bounced", "bounced", "hard", "hard_bounce", False),
    "failed_generic_no_smtp": ("failed", "failed", None, None, False),
    "failed_suppress_bounce": ("suppressed", "suppressed", None, "hard_bounce", False),
    "failed_suppress_complaint": ("suppressed", "suppressed", None, "spam_complaint", False),
    "failed_suppress_unsubscribe": ("suppressed", "suppressed", None, None, False),
    "opened": ("opened", "opened", None, None, False),
    "opened_by_bot": ("sent", "opened", None, None, True),
    "clicked": ("clicked", "clicked", None, None, False),
    "clicked_by_bot": ("sent", "clicked", None, None, True),
    "unsubscribed": ("unsubscribed", "unsubscribed", None, None, False),
    "complained": ("spammed", "spammed", None, "spam_complaint", False),
    "unknown_event": ("sent", "unknown", None, None, False),
}


@pytest.fixture
def message(kits):
    return sent_message(101)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_it_applies_each_documented_event(client, kits, message, name):
    status, stored_type, bounce_type, suppression, machine = EXPECTED[name]
    data = fixture_json("mailgun", name)["event-data"]

    response = kits["mailgun"].request(name).post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == status
    assert message.bounce_type == bounce_type
    [event] = history(message)
    assert (event.type, event.machine) == (stored_type, machine)
    natural = (data["id"], data["event"], int(data["timestamp"]))
    assert event.idempotency_key == "mailgun:" + ":".join(map(str, natural))
    assert event.detail == data
    assert_milestones(message, event)
    entry = Suppression.objects.filter(address=message.address.lower()).first()
    assert (entry.reason if entry else None) == suppression
    [row] = WebhookRequest.objects.all()
    assert row.status == "applied"
    assert row.dedup_key.startswith("signature:")
    assert_no_drift(message.campaign_id)


def test_a_click_counts_for_the_link_and_implies_the_open(client, kits, message):
    kits["mailgun"].request("clicked").post(client)
    message.refresh_from_db()
    assert history(message)[0].link.url == CLICK_URL
    assert (message.click_count, message.open_count) == (1, 1)


@pytest.mark.parametrize("name", ["unsubscribed", "failed_suppress_unsubscribe"])
def test_an_unsubscribe_marks_the_person(client, kits, message, name):
    kits["mailgun"].request(name).post(client)
    assert Person.objects.get(pk=message.person_id).unsubscribed_at is not None


def test_empty_user_variables_fall_back_to_the_message_id_header(client, kits):
    message = sent_message(provider_message_id=PROVIDER_IDS["mailgun"])
    response = kits["mailgun"].request("delivered_empty_variables").post(client)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_redelivery_with_the_same_token_and_event_answers_200_and_stores_nothing_new(
    client, kits, message
):
    request = kits["mailgun"].request("delivered")
    assert request.post(client).status_code == 200
    response = request.post(client)
    assert response.status_code == 200
    assert WebhookRequest.objects.count() == 1
    assert len(history(message)) == 1


def test_the_same_token_with_another_event_is_a_forgery_and_answers_403(client, kits, message):
    kit = kits["mailgun"]
    first = kit.request("delivered")
    assert first.post(client).status_code == 200
    # The captured signature block whole (token and timestamp): a request
    # signed a second later would carry another signature, not a forgery.
    block = json.loads(first.body)["signature"]
    forged = kit.request("complained", token=block["token"], timestamp=int(block["timestamp"]))

    response = forged.post(client)

    assert response.status_code == 403
    assert WebhookRequest.objects.count() == 1
    message.refresh_from_db()
    assert message.status == "delivered"
    assert not Suppression.objects.exists()


def test_another_token_with_the_same_event_is_a_new_request_and_a_duplicate_event(
    client, kits, message
):
    kit = kits["mailgun"]
    assert kit.request("opened").post(client).status_code == 200
    assert kit.request("opened").post(client).status_code == 200
    assert WebhookRequest.objects.count() == 2
    message.refresh_from_db()
    assert message.open_count == 1


def test_a_signed_body_without_event_data_is_a_400(client, kits):
    request = kits["mailgun"].request("delivered")
    payload = json.loads(request.body)
    del payload["event-data"]
    response = request.post(client, body=json.dumps(payload).encode())
    assert response.status_code == 400
    assert WebhookRequest.objects.count() == 0


def test_a_body_that_is_not_json_is_a_400_and_stores_nothing(client, kits):
    response = kits["mailgun"].request("delivered").post(client, body=b"{not json")
    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    assert WebhookRequest.objects.count() == 0


def test_a_token_in_upper_case_hexadecimal_is_accepted(client, kits, message):
    # CONTRACT.md: "its token 50 hexadecimal characters" (either case).
    import secrets

    request = kits["mailgun"].request("delivered", token=secrets.token_hex(25).upper())
    assert request.post(client).status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_delivery_and_an_open_sharing_mailguns_event_id_are_both_kept(client, kits, message):
    # PROVIDERS.md §4.2: event-data.id is unique only within a day; dedup is on
    # (id, event, recipient, int(timestamp)).
    kit = kits["mailgun"]
    delivered = fixture_json("mailgun", "delivered")["event-data"]
    opened = {**fixture_json("mailgun", "opened")["event-data"], "id": delivered["id"]}

    assert kit.request(event_data=delivered).post(client).status_code == 200
    assert kit.request(event_data=opened).post(client).status_code == 200

    assert [e.type for e in history(message)] == ["delivered", "opened"]
    message.refresh_from_db()
    assert (message.status, message.open_count) == ("opened", 1)
    assert_no_drift(message.campaign_id)


SUBACCOUNT_KEY = "key-subaccount-signing-key-000000000"


def subaccount_request(kit, name="delivered", *, token=None, timestamp=None):
    """A subaccount's event as Mailgun sends it: ``signature`` made with the
    subaccount's own key, ``parent-signature`` with the parent account's (the
    one configured here)."""
    request = kit.request(name, key=SUBACCOUNT_KEY, token=token, timestamp=timestamp)
    payload = json.loads(request.body)
    block = payload["signature"]
    block["parent-signature"] = mailgun._hmac(kit.key, block["timestamp"], block["token"])
    return request.but(body=json.dumps(payload).encode())


def test_a_subaccount_event_verified_by_its_parent_signature_is_applied(client, kits, message):
    request = subaccount_request(kits["mailgun"])
    block = json.loads(request.body)["signature"]
    ours = mailgun._hmac(kits["mailgun"].key, block["timestamp"], block["token"])
    assert block["signature"] != ours  # its own is not made with the key configured here

    response = request.post(client)

    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_subaccount_events_parent_signature_is_refused_once_used_or_stale(client, kits, message):
    kit = kits["mailgun"]
    first = subaccount_request(kit)
    assert first.post(client).status_code == 200
    block = json.loads(first.body)["signature"]

    # The captured block with another event: a forgery, whatever its own
    # (unverifiable) signature now says.
    forged = json.loads(first.body)
    forged["event-data"] = fixture_json("mailgun", "complained")["event-data"]
    assert first.post(client, body=json.dumps(forged).encode()).status_code == 403
    forged["signature"]["signature"] = "0" * 64
    assert first.post(client, body=json.dumps(forged).encode()).status_code == 403
    # The same event again: a redelivery, nothing new.
    assert first.post(client).status_code == 200
    # A parent signature over a stale timestamp or a malformed token.
    day_old = int(block["timestamp"]) - mailgun.MAX_AGE_SECONDS - 60
    stale = subaccount_request(kit, timestamp=day_old)
    assert stale.post(client).status_code == 403
    short = subaccount_request(kit, token="ab" * 24)
    assert short.post(client).status_code == 403

    assert WebhookRequest.objects.count() == 1
    message.refresh_from_db()
    assert message.status == "delivered"
    assert not Suppression.objects.exists()
