"""The signing secret is shown only in the API's create answer (CONTRACT.md):
the admin never renders it, not even to a superuser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from messaging.reporting.models import ReportingWebhook
from tests.reporting.helpers import webhook

pytestmark = pytest.mark.django_db
HOOKS = "/admin/messaging/reportingwebhook/"


def test_the_change_page_does_not_show_the_secret(client):
    hook = webhook("http://127.0.0.1:9/hook")
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    for url in (f"{HOOKS}{hook.pk}/change/", HOOKS, f"{HOOKS}{hook.pk}/history/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        key = hook.secret.removeprefix("whsec_")
        assert key not in html and key[:8] not in html and key[-8:] not in html, url


def test_saving_the_change_page_keeps_the_secret(client):
    hook = webhook("http://127.0.0.1:9/hook", events=["sent"])
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    form = {"url": hook.url, "events": ["sent", "clicked"], "occurrence": "first", "enabled": "on"}
    assert client.post(f"{HOOKS}{hook.pk}/change/", form).status_code == 302
    saved = ReportingWebhook.objects.get(pk=hook.pk)
    assert saved.events == ["sent", "clicked"] and saved.secret == hook.secret


def test_a_webhook_added_in_the_admin_shows_its_secret_once(client):
    client.force_login(get_user_model().objects.create_superuser("root", "r@example.com", "pw"))
    form = {"url": "http://127.0.0.1:9/hook", "events": ["sent"], "occurrence": "first"}
    added = client.post(f"{HOOKS}add/", form, follow=True)
    hook = ReportingWebhook.objects.get()
    assert hook.secret.startswith("whsec_")
    assert hook.secret in added.content.decode()  # the page after adding, once
    again = client.get(f"{HOOKS}{hook.pk}/change/").content.decode()
    assert hook.secret.removeprefix("whsec_") not in again
