"""An expired suppression no longer suppresses and its expiry is in the audit
trail as soon as anyone reads the list or the trail, with no worker or beat
to run the sweeper (the embedded setup has neither)."""

import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.access import user_role_set
from messaging.audience.audit import AuditEntry
from messaging.audience.suppression import suppression_add, suppressions_expire_due
from messaging.audience.tasks import expire_suppressions
from messaging.models import Suppression

pytestmark = pytest.mark.django_db


def add_expired(address="ann@example.com"):
    """An entry whose expiry passed just now, after it was added."""
    entry = suppression_add(address=address)
    Suppression.objects.filter(pk=entry.pk).update(expires_at=timezone.now())
    return Suppression.objects.get(pk=entry.pk)


def listed(api) -> list[str]:
    response = api.get("/api/v1/suppressions/")
    assert response.status_code == 200
    return [row["address"] for row in response.json()["results"]]


def trail(api) -> list[tuple[str, str]]:
    response = api.get("/api/v1/audit/")
    assert response.status_code == 200
    return [(row["action"], row["address"]) for row in response.json()["results"]]


def test_an_expired_entry_leaves_the_list_and_its_expiry_is_in_the_trail_without_a_sweep(api):
    entry = add_expired("ann@example.com")
    suppression_add(address="bob@example.com", expires_at=timezone.now() + timedelta(days=1))

    assert listed(api) == ["bob@example.com"]
    assert not Suppression.objects.filter(address="ann@example.com").exists()
    rows = api.get("/api/v1/audit/?address=ann@example.com").json()["results"]
    assert [row["action"] for row in rows] == ["expired", "added"]
    expired = rows[0]
    assert (expired["source"], expired["actor"], expired["subject"]) == (
        "policy",
        None,
        "suppression",
    )
    # Dated when it expired, not when someone happened to read.
    assert AuditEntry.objects.get(action="expired").at == entry.expires_at


def test_reading_the_trail_first_applies_the_expiry_too(api):
    add_expired("ann@example.com")
    assert trail(api)[0] == ("expired", "ann@example.com")
    assert listed(api) == []


def test_an_expiry_is_recorded_once_however_many_reads(api):
    add_expired("ann@example.com")
    for _ in range(2):
        assert listed(api) == []
        assert trail(api).count(("expired", "ann@example.com")) == 1
    assert AuditEntry.objects.filter(action="expired").count() == 1


def test_a_viewer_reading_applies_the_expiry_as_the_policy_not_as_themselves():
    add_expired("ann@example.com")
    reader = get_user_model().objects.create_user("vic", password="pw-vic-12345")
    user_role_set(user=reader, role="viewer")
    viewer = APIClient()
    viewer.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader).key}")
    assert listed(viewer) == []
    assert trail(viewer)[0] == ("expired", "ann@example.com")
    expired = AuditEntry.objects.get(action="expired")
    assert (expired.source, expired.actor_id, expired.actor_name) == ("policy", None, "")


def test_the_admin_changelists_apply_the_expiry(admin_client):
    add_expired("ann@example.com")
    suppression_add(address="bob@example.com")
    page = admin_client.get(reverse("admin:messaging_suppression_changelist"))
    assert page.status_code == 200
    assert b"bob@example.com" in page.content and b"ann@example.com" not in page.content
    assert AuditEntry.objects.filter(action="expired").count() == 1

    add_expired("cat@example.com")
    trail_page = admin_client.get(
        reverse("admin:messaging_auditentry_changelist") + "?action__exact=expired"
    )
    assert trail_page.status_code == 200
    assert b"ann@example.com" in trail_page.content and b"cat@example.com" in trail_page.content
    admin_client.get(reverse("admin:messaging_suppression_changelist"))
    assert sorted(
        AuditEntry.objects.filter(action="expired").values_list("address", flat=True)
    ) == ["ann@example.com", "cat@example.com"]


def test_the_admin_export_leaves_out_expired_entries(admin_client):
    add_expired("ann@example.com")
    suppression_add(address="bob@example.com")
    response = admin_client.get(reverse("admin:messaging_suppression_export"))
    exported = b"".join(response.streaming_content).decode()
    assert "bob@example.com" in exported and "ann@example.com" not in exported


def test_the_sweeper_dates_the_expiry_when_it_expired_too():
    entry = add_expired("ann@example.com")
    assert expire_suppressions() == {"expired": 1}
    assert AuditEntry.objects.get(action="expired").at == entry.expires_at
    assert expire_suppressions() == {"expired": 0}


def test_when_nothing_is_due_the_expiry_is_one_query():
    suppression_add(address="ann@example.com", expires_at=timezone.now() + timedelta(days=1))
    suppression_add(address="bob@example.com")
    with CaptureQueriesContext(connection) as queries:
        assert suppressions_expire_due() == 0
    assert len(queries) == 1
    assert "expires_at" in queries[0]["sql"]


def test_many_entries_expire_in_one_read_not_one_query_each(api):
    for n in range(30):
        add_expired(f"p{n}@example.com")
    with CaptureQueriesContext(connection) as queries:
        assert listed(api) == []
    assert len(queries) < 20
    assert AuditEntry.objects.filter(action="expired").count() == 30


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks skipped by SKIP LOCKED: PostgreSQL's"
)
@pytest.mark.django_db(transaction=True)
def test_a_read_neither_waits_for_nor_repeats_an_expiry_in_progress(user):
    api = APIClient()
    api.force_authenticate(user)
    add_expired("ann@example.com")
    locked, release = threading.Event(), threading.Event()

    def sweeper_holding_the_entry():
        # Another transaction (the sweeper, another reader) is expiring it.
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(
                    "SELECT id FROM messaging_suppression WHERE address = %s FOR UPDATE",
                    ["ann@example.com"],
                )
                locked.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            connections["default"].close()

    holder = threading.Thread(target=sweeper_holding_the_entry)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")  # a wait fails the test, not hangs it
        # Not listed even before its expiry commits; nothing recorded twice.
        started = time.monotonic()
        assert listed(api) == []
        assert ("expired", "ann@example.com") not in trail(api)
        assert time.monotonic() - started < 2  # skipped the locked entry, never waited
    finally:
        release.set()
        holder.join(10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert listed(api) == []
    assert trail(api).count(("expired", "ann@example.com")) == 1
