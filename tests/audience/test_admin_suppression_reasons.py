"""The admin adds suppressions with exactly the reasons the API accepts:
soft_bounce entries are the policy's (the next delivery report removes one),
erased entries hold only a digest. Existing entries with them still show."""

import pytest
from django.urls import reverse

from messaging.audience.audit import AuditEntry
from messaging.models import Suppression, SuppressionReason

pytestmark = pytest.mark.django_db
ADD = "/admin/messaging/suppression/add/"


@pytest.mark.parametrize("reason", ["soft_bounce", "erased"])
def test_the_admin_refuses_a_reason_the_api_refuses_and_stores_nothing(admin_client, reason):
    response = admin_client.post(ADD, {"address": "ann@example.com", "reason": reason})
    assert response.status_code == 200
    assert "reason" in response.context["adminform"].form.errors
    assert not Suppression.objects.exists()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("reason", SuppressionReason.values)
def test_the_admin_and_the_api_accept_the_same_reasons(admin_client, api, reason):
    by_api = api.post("/api/v1/suppressions/", {"address": "api@example.com", "reason": reason})
    by_admin = admin_client.post(ADD, {"address": "admin@example.com", "reason": reason})
    assert (by_api.status_code == 201) == (by_admin.status_code == 302)
    offered = f'value="{reason}"' in admin_client.get(ADD).content.decode()
    assert offered == (by_api.status_code == 201)


def test_an_existing_soft_bounce_entry_still_shows_its_reason(admin_client):
    entry = Suppression.objects.create(address="bo@example.com", reason="soft_bounce")
    page = admin_client.get(reverse("admin:messaging_suppression_change", args=[entry.pk]))
    label = SuppressionReason.SOFT_BOUNCE.label
    assert page.status_code == 200 and label in page.content.decode()
    listing = admin_client.get("/admin/messaging/suppression/").content.decode()
    assert "bo@example.com" in listing and label in listing


def test_the_csv_import_refuses_the_same_reasons():
    from messaging.audience.suppression_csv import suppressions_import

    data = (
        b"address,reason\n"
        b"a@example.com,manual\nb@example.com,soft_bounce\nc@example.com,erased\n"
        b"d@example.com,hard_bounce\n"
    )
    report = suppressions_import(data=data)
    assert {row.line: row.reason for row in report.invalid} == {
        3: "soft_bounce entries are added by the policy.",
        4: "erased entries are added by erasing a person.",
    }
    assert set(Suppression.objects.values_list("address", flat=True)) == {
        "a@example.com",
        "d@example.com",
    }
