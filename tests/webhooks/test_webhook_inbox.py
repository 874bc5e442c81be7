"""The inbox: stored before applied, kept with its error when applying fails,
waiting for messages not found yet, and swept."""

import itertools
import json
import queue
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import Message, WebhookRequest
from messaging.sending import messages_create
from messaging.webhooks import inbox
from tests import factories
from tests.ingest.helpers import assert_no_drift

from .helpers import fixture_json
from .inbox_helpers import event_inserts_failing
from .kits import PROVIDER_IDS, history, sent_message


def delivered_for(message_id: int) -> list[dict]:
    return [{**fixture_json("sendgrid", "delivered")[0], "tidings_message_id": str(message_id)}]


@pytest.mark.django_db
def test_a_failure_while_applying_keeps_the_request_with_its_error_and_answers_200(client, kits):
    message = sent_message(101)
    with event_inserts_failing():
        response = kits["sendgrid"].request("delivered").post(client)
    assert response.status_code == 200
    [row] = WebhookRequest.objects.all()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "could not extend file" in row.error
    assert bytes(row.body) == kits["sendgrid"].request("delivered").body
    message.refresh_from_db()
    assert message.status == "sent"
    assert history(message) == []
    assert_no_drift(message.campaign_id)


@pytest.mark.django_db
def test_the_sweeper_applies_a_failed_request_once_its_backoff_has_passed(client, kits):
    message = sent_message(101)
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
    row = WebhookRequest.objects.get()
    assert row.retry_after > timezone.now()

    assert inbox.webhook_requests_sweep().total == 0  # still backing off

    report = inbox.webhook_requests_sweep(now=row.retry_after + timedelta(seconds=1))
    assert report.applied == [row.pk]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == ("applied", 2, "")
    assert row.applied_at is not None
    message.refresh_from_db()
    assert message.status == "delivered"
    assert_no_drift(message.campaign_id)


@pytest.mark.django_db
def test_backoff_grows_and_the_sweeper_gives_up_after_the_last_attempt(client, kits):
    sent_message(101)
    now = timezone.now()
    with event_inserts_failing():
        kits["sendgrid"].request("delivered").post(client)
        delays = []
        for _ in range(inbox.MAX_ATTEMPTS - 1):
            row = WebhookRequest.objects.get()
            delays.append(row.retry_after)
            now = row.retry_after + timedelta(seconds=1)
            assert inbox.webhook_requests_sweep(now=now).failed == [row.pk]
    row = WebhookRequest.objects.get()
    assert row.attempts == inbox.MAX_ATTEMPTS
    gaps = [b - a for a, b in itertools.pairwise(delays)]
    assert gaps == sorted(gaps)
    assert inbox.webhook_requests_sweep(now=now + timedelta(days=1)).total == 0


@pytest.mark.django_db
def test_a_request_left_pending_by_a_crash_is_applied_by_the_sweeper(kits):
    message = sent_message(101)
    body = kits["sendgrid"].request("delivered").body
    received = timezone.now() - inbox.STALE_PENDING - timedelta(minutes=1)
    row, created = inbox.webhook_request_store(
        provider="sendgrid",
        received_at=received,
        url="",
        headers={},
        body=body,
        dedup_key=inbox.body_digest(body),
    )
    assert created and row.status == "pending"
    fresh, _ = inbox.webhook_request_store(
        provider="sendgrid",
        received_at=timezone.now(),
        url="",
        headers={},
        body=b"[]",
        dedup_key=inbox.body_digest(b"[]"),
    )

    report = inbox.webhook_requests_sweep()

    # The fresh one may still be in its request's hands: left alone.
    assert report.applied == [row.pk]
    message.refresh_from_db()
    assert message.status == "delivered"
    fresh.refresh_from_db()
    assert fresh.status == "pending"


@pytest.mark.django_db
def test_a_waiting_request_is_applied_by_the_sweeper_once_its_message_exists(client, kits):
    kit = kits["sendgrid"]
    assert kit.request("delivered").post(client).status_code == 200
    row = WebhookRequest.objects.get()
    assert (row.status, row.waiting_for) == ("waiting", ["m:101"])

    assert inbox.webhook_requests_sweep().total == 0  # nothing to match yet

    message = sent_message(101)
    report = inbox.webhook_requests_sweep()

    assert report.applied == [row.pk]
    message.refresh_from_db()
    assert message.status == "delivered"
    assert_no_drift(message.campaign_id)


@pytest.mark.django_db
def test_a_request_for_two_messages_applies_the_known_one_and_waits_for_the_other(client, kits):
    first = sent_message(101)
    kits["sendgrid"].request("batch").post(client)
    first.refresh_from_db()
    assert first.status == "clicked"
    row = WebhookRequest.objects.get()
    assert (row.status, row.waiting_for) == ("waiting", ["m:102"])

    second = sent_message(102)
    inbox.webhook_requests_sweep()

    second.refresh_from_db()
    assert second.status == "opened"
    row.refresh_from_db()
    assert row.status == "applied"
    assert len(history(first)) == 2  # the known message's events were not applied twice


@pytest.mark.django_db
def test_a_waiting_request_is_matched_by_a_provider_id_stored_later(client, kits):
    message = sent_message()  # no provider id recorded yet
    kits["sendgrid"].request("delivered_without_custom_args").post(client)
    row = WebhookRequest.objects.get()
    assert row.waiting_for == ["p:" + PROVIDER_IDS["sendgrid_without_custom_args"]]

    Message.objects.filter(pk=message.pk).update(
        provider_message_id=PROVIDER_IDS["sendgrid_without_custom_args"]
    )
    report = inbox.webhook_requests_match_waiting(
        provider_message_ids=[PROVIDER_IDS["sendgrid_without_custom_args"]]
    )

    assert report.applied == [row.pk]
    message.refresh_from_db()
    assert message.status == "delivered"


@pytest.mark.django_db
def test_matching_touches_only_the_waiting_requests_that_name_those_messages(client, kits):
    kit = kits["sendgrid"]
    kit.events(delivered_for(101)).post(client)
    kit.events(delivered_for(777_777)).post(client)
    sent_message(101)
    report = inbox.webhook_requests_match_waiting(message_ids=[101])
    assert len(report.applied) == 1
    assert sorted(WebhookRequest.objects.values_list("status", flat=True)) == [
        "applied",
        "waiting",
    ]


@pytest.mark.django_db
def test_waiting_requests_older_than_the_horizon_are_left_to_replay(client, kits):
    kits["sendgrid"].request("delivered").post(client)
    WebhookRequest.objects.update(
        received_at=timezone.now() - inbox.WAIT_HORIZON - timedelta(minutes=1)
    )
    sent_message(101)
    assert inbox.webhook_requests_sweep().total == 0
    assert inbox.webhook_requests_replay(statuses=["waiting"]).applied


@pytest.mark.django_db
def test_two_sweepers_never_apply_the_same_request(client, kits):
    kits["sendgrid"].request("delivered").post(client)
    sent_message(101)
    row = WebhookRequest.objects.get()
    now = timezone.now()
    first = inbox._claim(row.pk, now)
    second = inbox._claim(row.pk, now)
    assert first is not None
    assert second is None


@pytest.mark.django_db
def test_the_sweeper_task_runs_the_sweep(client, kits):
    from messaging.webhooks.tasks import sweep_webhooks

    kits["sendgrid"].request("delivered").post(client)
    sent_message(101)
    assert sweep_webhooks.delay().get() == {"applied": 1, "waiting": 0, "failed": 0}


@pytest.mark.django_db
def test_if_the_request_cannot_even_be_stored_the_answer_is_503(client, kits):
    sent_message(101)
    # A real database failure on the inbox insert (rolled back with the test).
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE messaging_webhookrequest RENAME TO webhookrequest_away")
    try:
        response = kits["sendgrid"].request("delivered").post(client)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE webhookrequest_away RENAME TO messaging_webhookrequest")
    assert response.status_code == 503
    assert WebhookRequest.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_callback_that_arrives_before_its_send_commits_is_applied_once_the_message_exists(
    client, kits
):
    if connection.vendor != "postgresql":
        pytest.skip("needs two concurrent writers (PostgreSQL); SQLite serialises them")
    action = factories.action()
    person = factories.person()
    created: queue.Queue = queue.Queue()
    commit = threading.Event()

    def send_in_a_long_transaction():
        # The pipeline's transaction: the message exists, uncommitted, when
        # the provider's callback arrives.
        try:
            with transaction.atomic():
                [message] = messages_create(action=action, people=[person])
                created.put(message.pk)
                commit.wait(timeout=30)
        finally:
            connection.close()

    sender = threading.Thread(target=send_in_a_long_transaction)
    sender.start()
    try:
        message_id = created.get(timeout=30)
        response = kits["sendgrid"].events(delivered_for(message_id)).post(client)
        assert response.status_code == 200
        assert not Message.objects.filter(pk=message_id).exists()
        row = WebhookRequest.objects.get()
        assert (row.status, row.waiting_for) == ("waiting", [f"m:{message_id}"])
    finally:
        commit.set()
        sender.join(timeout=30)

    report = inbox.webhook_requests_sweep()

    assert report.applied == [row.pk]
    message = Message.objects.get(pk=message_id)
    assert message.status == "delivered"
    assert message.delivered_at.isoformat() == "2024-06-01T10:02:00+00:00"
    assert_no_drift(message.campaign_id)
    assert json.loads(bytes(WebhookRequest.objects.get().body))[0]["tidings_message_id"] == str(
        message_id
    )
