"""Suppressions can expire: an expired entry no longer suppresses, and the
sweeper records its expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditEntry
from messaging.audience.suppression import AlreadySuppressed, suppression_add
from messaging.audience.tasks import expire_suppressions
from messaging.models import Suppression
from messaging.sending import messages_presend_check
from tests.factories import message, person
from tests.ingest.helpers import reload

pytestmark = pytest.mark.django_db


def add_expired(address="ann@example.com", **fields):
    entry = suppression_add(address=address, **fields)
    Suppression.objects.filter(pk=entry.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    return entry


def test_an_expired_entry_no_longer_suppresses_even_before_the_sweeper_runs():
    recipient = person(email="ann@example.com")
    add_expired()
    msg = message(Channel.EMAIL, person_obj=recipient)
    assert messages_presend_check([msg]) == set()
    assert reload(msg).status == "queued"


def test_an_entry_that_has_not_expired_yet_suppresses():
    recipient = person(email="ann@example.com")
    suppression_add(address="ann@example.com", expires_at=timezone.now() + timedelta(days=1))
    msg = message(Channel.EMAIL, person_obj=recipient)
    assert messages_presend_check([msg]) == {msg.id}
    assert reload(msg).status == "suppressed"


def test_the_sweeper_removes_expired_entries_and_records_each_expiry():
    add_expired("ann@example.com")
    suppression_add(address="bob@example.com", expires_at=timezone.now() + timedelta(days=1))
    suppression_add(address="cat@example.com")
    assert expire_suppressions.delay().get() == {"expired": 1}
    assert sorted(Suppression.objects.values_list("address", flat=True)) == [
        "bob@example.com",
        "cat@example.com",
    ]
    [expired] = AuditEntry.objects.filter(action="expired")
    assert (expired.address, expired.source, expired.subject) == (
        "ann@example.com",
        "policy",
        "suppression",
    )
    assert expire_suppressions.delay().get() == {"expired": 0}


def test_adding_an_address_whose_entry_expired_replaces_it():
    add_expired("ann@example.com")
    suppression_add(address="ann@example.com", reason="hard_bounce")
    assert Suppression.objects.get().reason == "hard_bounce"
    assert list(
        AuditEntry.objects.filter(address="ann@example.com")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["added", "expired", "added"]
    with pytest.raises(AlreadySuppressed):
        suppression_add(address="ann@example.com")


def test_the_api_takes_and_shows_expires_at(api):
    later = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    response = api.post(
        "/api/v1/suppressions/",
        {"address": "ann@example.com", "expires_at": later.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["expires_at"] is not None
    assert Suppression.objects.get().expires_at == later
    plain = api.post("/api/v1/suppressions/", {"address": "bob@example.com"}).json()
    assert plain["expires_at"] is None


@pytest.mark.parametrize("value", ["2020-01-01T00:00:00Z", "2999-01-01T00:00:00", "soon"])
def test_the_api_refuses_an_expiry_in_the_past_or_without_a_zone(api, value):
    response = api.post(
        "/api/v1/suppressions/", {"address": "ann@example.com", "expires_at": value}, format="json"
    )
    assert response.status_code == 400
    assert "expires_at" in response.json()
    assert not Suppression.objects.exists()


def test_the_sweeper_runs_on_a_schedule(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["expire-suppressions"]
    assert schedule["task"] == expire_suppressions.name == "messaging.expire_suppressions"


def test_the_admin_adds_again_an_address_whose_entry_expired(admin_client):
    from django.urls import reverse

    add_expired("ann@example.com")
    response = admin_client.post(
        reverse("admin:messaging_suppression_add"),
        {"address": "ann@example.com", "reason": "manual", "note": "again"},
    )
    assert response.status_code == 302, response.content
    entry = Suppression.objects.get()
    assert entry.note == "again" and entry.expires_at is None
    actions = AuditEntry.objects.order_by("id").values_list("action", "source")
    assert list(actions) == [("added", "api"), ("expired", "policy"), ("added", "admin")]


def test_the_admin_sets_an_expiry_when_adding(admin_client):
    from django.urls import reverse

    response = admin_client.post(
        reverse("admin:messaging_suppression_add"),
        {
            "address": "bob@example.com",
            "reason": "manual",
            "note": "",
            "expires_at_0": "2999-01-01",
            "expires_at_1": "12:00:00",
        },
    )
    assert response.status_code == 302, response.content
    assert Suppression.objects.get().expires_at.year == 2999


def test_a_csv_import_takes_expires_at_and_an_export_carries_it(user):
    from messaging.audience.suppression_csv import suppressions_export_lines, suppressions_import

    report = suppressions_import(
        data=(
            b"address,reason,note,expires_at\n"
            b"ann@example.com,manual,,2999-01-01T00:00:00+00:00\n"
            b"bob@example.com,manual,,\n"
            b"cat@example.com,manual,,2020-01-01T00:00:00Z\n"
            b"dan@example.com,manual,,2999-01-01T00:00:00\n"
            b"eve@example.com,manual,,2999-13-45T00:00:00Z\n"
        ),
        created_by=user,
    )
    assert sorted(report.added) == ["ann@example.com", "bob@example.com"]
    assert [(row.value, row.reason) for row in report.invalid] == [
        ("cat@example.com", "expires_at is in the past"),
        ("dan@example.com", "expires_at is not an ISO 8601 time with a zone"),
        ("eve@example.com", "expires_at is not an ISO 8601 time with a zone"),
    ]
    assert Suppression.objects.get(address="ann@example.com").expires_at.year == 2999
    assert Suppression.objects.get(address="bob@example.com").expires_at is None
    lines = list(suppressions_export_lines())
    assert lines[0].strip().split(",")[-1] == "expires_at"
    exported = "".join(lines)
    # The export imports back as it is: nothing new, nothing invalid.
    again = suppressions_import(data=exported.encode(), created_by=user)
    assert again.added == [] and again.invalid == []
