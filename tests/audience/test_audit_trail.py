"""Every suppression and subscription change lands in the audit trail with
its source and its actor (a user) or cause (a message), and nothing edits or
deletes the trail."""

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.urls import reverse

from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditEntry
from messaging.audience.audit_models import AppendOnly
from messaging.audience.suppression_csv import suppressions_import
from messaging.models import Person, Suppression
from messaging.tracking.tokens import make_unsubscribe_token
from tests.factories import event, message, person
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db


def trail(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def test_the_api_records_who_added_and_who_removed_a_suppression_and_why(api, user):
    response = api.post("/api/v1/suppressions/", {"address": "Ann@Example.com", "note": "asked"})
    assert response.status_code == 201
    entry_id = response.json()["id"]
    assert (
        api.delete(f"/api/v1/suppressions/{entry_id}/?reason=asked+to+get+mail").status_code == 204
    )

    added, removed = trail(address="ann@example.com")
    assert (added.subject, added.action, added.source) == ("suppression", "added", "api")
    assert added.actor_id == user.pk and added.actor_name == "dana"
    assert "manual" in added.reason and "asked" in added.reason
    assert (removed.action, removed.source, removed.actor_name) == ("removed", "api", "dana")
    assert removed.reason == "asked to get mail (was manual)"


def test_the_audit_api_lists_changes_newest_first_in_the_contract_shape(api):
    recipient = person(external_id="ann", email="ann@example.com")
    api.post("/api/v1/people/ann/unsubscribe/")
    api.post("/api/v1/people/ann/resubscribe/")
    api.post("/api/v1/suppressions/", {"address": "bob@example.com"})

    body = api.get("/api/v1/audit/").json()
    rows = body["results"]
    assert [(r["subject"], r["action"]) for r in rows] == [
        ("suppression", "added"),
        ("subscription", "resubscribed"),
        ("subscription", "unsubscribed"),
    ]
    assert set(rows[0]) == {
        "at", "subject", "action", "address", "person", "reason", "source", "actor", "message",
    }  # fmt: skip
    assert rows[0]["address"] == "bob@example.com" and rows[0]["actor"] == "dana"
    assert rows[1]["person"] == recipient.external_id and rows[1]["source"] == "api"

    only_ann = api.get("/api/v1/audit/?person=ann").json()["results"]
    assert [r["action"] for r in only_ann] == ["resubscribed", "unsubscribed"]
    only_bob = api.get("/api/v1/audit/?address=BOB@example.com").json()["results"]
    assert [r["action"] for r in only_bob] == ["added"]
    future = api.get("/api/v1/audit/?since=2999-01-01T00:00:00Z").json()["results"]
    assert future == []
    assert api.get("/api/v1/audit/?since=2026-01-01T00:00:00").status_code == 400


def test_the_admin_records_its_user_for_adds_removals_and_unsubscribes(admin_client, user):
    response = admin_client.post(
        reverse("admin:messaging_suppression_add"),
        {"address": "spam@example.com", "reason": "spam_complaint", "note": "reported"},
    )
    assert response.status_code == 302, response.content
    entry = Suppression.objects.get()
    admin_client.post(
        reverse("admin:messaging_suppression_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert not Suppression.objects.exists()
    recipient = person()
    admin_client.post(
        reverse("admin:messaging_person_changelist"),
        {"action": "unsubscribe_people", "_selected_action": [recipient.pk]},
    )

    added, removed = trail(address="spam@example.com")
    assert (added.action, added.source, added.actor_name) == ("added", "admin", "dana")
    assert (removed.action, removed.source, removed.actor_name) == ("removed", "admin", "dana")
    assert "spam_complaint" in removed.reason
    [unsubscribed] = trail(person_id=recipient.pk)
    assert (unsubscribed.action, unsubscribed.source, unsubscribed.actor_name) == (
        "unsubscribed",
        "admin",
        "dana",
    )


def test_a_csv_import_records_each_added_address_with_its_importer(user):
    report = suppressions_import(
        data=b"address,reason\nann@example.com,manual\nbob@example.com,hard_bounce\n",
        created_by=user,
    )
    assert sorted(report.added) == ["ann@example.com", "bob@example.com"]
    rows = trail(subject="suppression")
    assert {(r.address, r.action, r.source, r.actor_name) for r in rows} == {
        ("ann@example.com", "added", "import", "dana"),
        ("bob@example.com", "added", "import", "dana"),
    }


def test_a_dry_run_import_records_nothing(user):
    suppressions_import(data=b"address\nann@example.com\n", created_by=user, dry_run=True)
    assert not AuditEntry.objects.exists()


def test_provider_events_record_their_cause_message():
    recipient = person(email="Carl@Example.com")
    msg = message(Channel.EMAIL, person_obj=recipient)
    apply(event(msg, "sent", 1), event(msg, "bounced", 5, bounce_type="hard", reason="550 gone"))
    other = message(Channel.EMAIL, person_obj=person())
    apply(event(other, "sent", 1), event(other, "unsubscribed", 5))

    [added] = trail(address="carl@example.com")
    assert (added.action, added.source, added.message_id) == ("added", "provider", msg.id)
    assert added.actor_id is None and "hard_bounce" in added.reason and "550 gone" in added.reason
    [unsubscribed] = trail(subject="subscription")
    assert (unsubscribed.action, unsubscribed.source, unsubscribed.message_id) == (
        "unsubscribed",
        "provider",
        other.id,
    )
    assert unsubscribed.person_id == other.person_id


def test_the_soft_bounce_policy_records_itself_and_the_last_bounce():
    recipient = person(email="dee@example.com")
    messages = [message(Channel.EMAIL, person_obj=recipient) for _ in range(3)]
    for n, msg in enumerate(messages):
        apply(event(msg, "sent", 10 * n), event(msg, "bounced", 10 * n + 5, bounce_type="soft"))
    [added] = trail(address="dee@example.com")
    assert (added.action, added.source, added.message_id) == ("added", "policy", messages[-1].id)
    assert "soft_bounce" in added.reason and "3 consecutive soft bounces" in added.reason


def test_a_recipients_one_click_unsubscribe_records_the_recipient_and_the_message():
    msg = message(Channel.EMAIL)
    apply(event(msg, "sent", 1))
    response = Client(enforce_csrf_checks=True).post(
        f"/u/{make_unsubscribe_token(msg.id)}", {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    [row] = trail(subject="subscription")
    assert (row.action, row.source, row.message_id, row.person_id) == (
        "unsubscribed",
        "recipient",
        msg.id,
        msg.person_id,
    )


def test_the_trail_cannot_be_edited_or_deleted_through_the_orm(api):
    api.post("/api/v1/suppressions/", {"address": "ann@example.com"})
    row = AuditEntry.objects.get()
    row.reason = "rewritten"
    with pytest.raises(AppendOnly):
        row.save()
    with pytest.raises(AppendOnly):
        row.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.update(reason="x")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_database_refuses_to_delete_or_rewrite_the_trail(api):
    api.post("/api/v1/suppressions/", {"address": "ann@example.com"})
    for sql in (
        "DELETE FROM messaging_auditentry",
        "UPDATE messaging_auditentry SET action = 'removed'",
        "UPDATE messaging_auditentry SET at = at - interval '1 day'",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditEntry.objects.get().action == "added"


def test_the_admin_shows_the_trail_read_only(admin_client, api):
    api.post("/api/v1/suppressions/", {"address": "ann@example.com"})
    row = AuditEntry.objects.get()
    listing = admin_client.get(reverse("admin:messaging_auditentry_changelist"))
    assert listing.status_code == 200 and b"ann@example.com" in listing.content
    filtered = admin_client.get(
        reverse("admin:messaging_auditentry_changelist") + "?source__exact=admin"
    )
    assert b"ann@example.com" not in filtered.content
    assert admin_client.get(reverse("admin:messaging_auditentry_add")).status_code == 403
    page = admin_client.get(reverse("admin:messaging_auditentry_change", args=[row.pk]))
    assert page.status_code == 200 and b'name="reason"' not in page.content
    deleted = admin_client.post(
        reverse("admin:messaging_auditentry_delete", args=[row.pk]), {"post": "yes"}
    )
    assert deleted.status_code == 403
    assert AuditEntry.objects.count() == 1
    assert Person.objects.count() == 0
