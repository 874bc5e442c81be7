"""The admin and the pages check the same permissions as the API; the
tidings_user command makes users in a role."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.vocabulary import Channel, EventType
from config.access import ROLES, user_role_set
from messaging.models import Message
from tests import factories
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/messaging/suppression/"


def _staff(role: str):
    user = get_user_model().objects.create_user(f"s-{role}", password="pw-x-12345", is_staff=True)
    user_role_set(user=user, role=role)
    return user


def test_the_migration_created_the_three_role_groups_with_their_permissions():
    for role, perms in ROLES.items():
        group = Group.objects.get(name=role)
        held = {
            f"{app}.{code}"
            for app, code in group.permissions.values_list("content_type__app_label", "codename")
        }
        assert held == set(perms), role


@pytest.mark.parametrize(
    ("role", "allowed"), [("viewer", False), ("marketer", False), ("deliverability", True)]
)
def test_only_deliverability_imports_suppressions_in_the_admin(client, role, allowed):
    client.force_login(_staff(role))
    assert client.get(f"{CHANGELIST}import/").status_code == (200 if allowed else 403)
    assert client.get(f"{CHANGELIST}export/").status_code == 200


def test_a_viewer_in_the_admin_sees_no_send_or_retry_action(client):
    client.force_login(_staff("viewer"))
    html = client.get("/admin/messaging/message/").content.decode()
    assert "send_drafts" not in html and "retry_failed" not in html


def test_a_marketer_in_the_admin_may_send_drafts_but_not_unsubscribe_people(client):
    client.force_login(_staff("marketer"))
    assert "send_drafts" in client.get("/admin/messaging/message/").content.decode()
    assert "unsubscribe_people" not in client.get("/admin/messaging/person/").content.decode()


@pytest.fixture
def failed_draft_pair():
    draft = factories.message(action_obj=factories.action(send_as_draft=True))
    failed = factories.message(Channel.SMS)
    apply(factories.event(failed, EventType.FAILED, 1, reason="provider down"))
    return draft, failed


def test_a_viewer_sees_no_send_retry_or_discard_button(client, failed_draft_pair):
    draft, failed = failed_draft_pair
    user = get_user_model().objects.create_user("v", password="pw-x-12345")
    user_role_set(user=user, role="viewer")
    client.force_login(user)
    draft_html = client.get(f"/messages/{draft.pk}/").content.decode()
    failed_html = client.get(f"/messages/{failed.pk}/").content.decode()
    assert f"/messages/{draft.pk}/send/" not in draft_html
    assert f"/messages/{draft.pk}/discard/" not in draft_html
    assert f"/messages/{failed.pk}/retry/" not in failed_html


def test_a_marketer_sees_the_buttons_and_they_work(client, failed_draft_pair):
    draft, failed = failed_draft_pair
    user = get_user_model().objects.create_user("m", password="pw-x-12345")
    user_role_set(user=user, role="marketer")
    client.force_login(user)
    assert f"/messages/{draft.pk}/send/" in client.get(f"/messages/{draft.pk}/").content.decode()
    assert f"/messages/{failed.pk}/retry/" in client.get(f"/messages/{failed.pk}/").content.decode()
    assert client.post(f"/messages/{failed.pk}/retry/").status_code == 302
    assert Message.objects.get(pk=failed.pk).status != "failed"


def test_tidings_user_creates_a_user_in_a_role_and_prints_its_token_last():
    out = io.StringIO()
    call_command("tidings_user", "rita", "--role", "viewer", stdout=out)
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("Token: ")
    key = last.removeprefix("Token: ")
    assert Token.objects.get(key=key).user.username == "rita"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/messages/").status_code == 200
    assert client.post("/api/v1/campaigns/", {"name": "c"}, format="json").status_code == 403


def test_tidings_user_moves_an_existing_user_to_another_role_keeping_the_token():
    call_command("tidings_user", "rita", "--role", "viewer", stdout=io.StringIO())
    out = io.StringIO()
    call_command("tidings_user", "rita", "--role", "deliverability", stdout=out)
    user = get_user_model().objects.get(username="rita")
    assert list(user.groups.values_list("name", flat=True)) == ["deliverability"]
    assert out.getvalue().strip().splitlines()[-1] == f"Token: {Token.objects.get(user=user).key}"


def test_tidings_user_refuses_an_unknown_role():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("tidings_user", "rita", "--role", "admin", stdout=io.StringIO())
