"""The audit trail in the admin answers each role as GET /api/v1/audit/
does (the same permission), and stays read-only for everyone."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.access import ROLES, user_role_set
from messaging.audience.audit import AuditEntry
from messaging.audience.suppression import suppression_add

pytestmark = pytest.mark.django_db
TRAIL = "/admin/messaging/auditentry/"


def _staff(role: str):
    user = get_user_model().objects.create_user(
        f"s-{role}", password="pw-x-12345", is_staff=True, is_superuser=role == "superuser"
    )
    if role in ROLES:
        user_role_set(user=user, role=role)
    return user


def _api_status(user) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client.get("/api/v1/audit/").status_code


@pytest.mark.parametrize("role", ["no role", *ROLES, "superuser"])
def test_each_role_gets_the_same_answer_from_the_admin_trail_as_from_the_api(client, role):
    suppression_add(address="ann@example.com")
    user = _staff(role)
    client.force_login(user)
    admin_status = client.get(TRAIL).status_code
    assert admin_status == _api_status(user)
    assert admin_status == (403 if role == "no role" else 200)
    if admin_status == 200:
        entry = AuditEntry.objects.get()
        assert client.get(f"{TRAIL}{entry.pk}/change/").status_code == 200


@pytest.mark.parametrize("role", ["deliverability", "superuser"])
def test_the_trail_stays_read_only_in_the_admin(client, role):
    suppression_add(address="ann@example.com")
    entry = AuditEntry.objects.get()
    client.force_login(_staff(role))
    assert client.get(f"{TRAIL}add/").status_code == 403
    assert client.get(f"{TRAIL}{entry.pk}/delete/").status_code == 403
    client.post(f"{TRAIL}{entry.pk}/change/", {"reason": "edited"})
    assert AuditEntry.objects.get().reason == entry.reason
    page = client.get(f"{TRAIL}{entry.pk}/change/").content.decode()
    assert 'name="_save"' not in page
