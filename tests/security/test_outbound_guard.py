"""The outbound address guard (config.outbound) and where it is used: a
webhook action's target when saved (API and admin), the SNS certificate and
subscription URLs; and the bounded SNS certificate cache."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from campaigns.models import Action
from config import outbound
from config.outbound import OutboundRefused, outbound_url_check
from messaging.webhooks.providers import base, ses
from tests import factories

REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5432/",
    "http://localhost:8000/admin/",
    "http://api.localhost/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.100.100.200/",  # Alibaba metadata (shared address space)
    "http://192.0.0.192/",  # Oracle Cloud metadata (IETF protocol assignments)
    "http://[::ffff:192.0.0.192]/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://user:pw@hooks.example.com/",
    "ftp://hooks.example.com/",
    "file:///etc/passwd",
    "http:///nohost",
    "http://hooks.example.com:99999/",
]


@pytest.fixture
def dns(monkeypatch):
    """A resolver for the test machine, which has none."""
    table = {
        "hooks.example.com": ["93.184.215.14"],
        "internal.example.com": ["10.0.0.7"],
        "mixed.example.com": ["93.184.215.14", "127.0.0.1"],
        "sns.us-east-1.amazonaws.com": ["54.239.0.1"],
        "rebind.example.com": ["169.254.169.254"],
    }
    monkeypatch.setattr(outbound, "resolve", lambda host, port: table.get(host, []))
    return table


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_to_a_non_public_address_is_refused(dns, url):
    with pytest.raises(OutboundRefused):
        outbound_url_check(url)


@pytest.mark.parametrize(
    "url",
    ["http://internal.example.com/", "https://mixed.example.com/x", "http://rebind.example.com"],
)
def test_a_name_resolving_to_any_non_public_address_is_refused(dns, url):
    with pytest.raises(OutboundRefused):
        outbound_url_check(url)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://93.184.215.14:8080/", "https://unknown.example/"]
)
def test_a_public_or_unresolvable_url_passes(dns, url):
    outbound_url_check(url)


def test_allow_private_turns_the_guard_off_but_not_the_scheme_rule(dns, settings):
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = True
    outbound_url_check("http://127.0.0.1:5432/")
    with pytest.raises(OutboundRefused):
        outbound_url_check("file:///etc/passwd")


@pytest.fixture
def api(db):
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("root", "r@x.org", "pw"))
    return client


@pytest.mark.parametrize("target", ["http://169.254.169.254/", "http://127.0.0.1:5432/"])
def test_a_webhook_action_aimed_at_a_private_address_is_refused_by_the_api(dns, api, target):
    campaign = factories.campaign()
    response = api.post(
        f"/api/v1/campaigns/{campaign.pk}/actions/",
        {"name": "hook", "channel": "webhook", "body": "b", "target": target},
        format="json",
    )
    assert response.status_code == 400
    assert "target" in response.json()
    assert not Action.objects.exists()


def test_a_webhook_action_aimed_at_a_public_address_is_accepted(dns, api):
    campaign = factories.campaign()
    response = api.post(
        f"/api/v1/campaigns/{campaign.pk}/actions/",
        {
            "name": "hook",
            "channel": "webhook",
            "body": "b",
            "target": "https://hooks.example.com/x",
        },
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_the_admin_refuses_a_private_webhook_target(dns, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.org", "pw"))
    campaign = factories.campaign()
    response = client.post(
        "/admin/campaigns/action/add/",
        {
            "campaign": campaign.pk,
            "name": "hook",
            "channel": "webhook",
            "body": "b",
            "target": "http://169.254.169.254/latest/",
            "track_opens": "on",
            "links-TOTAL_FORMS": "0",
            "links-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Not allowed" in response.content.decode()
    assert not Action.objects.exists()


# --- SNS ---------------------------------------------------------------------------

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"


class FakeResponse:
    def __init__(self, content: bytes):
        self.content = content

    def raise_for_status(self):
        return None


@pytest.fixture
def fetches(monkeypatch, dns):
    monkeypatch.setattr(ses, "_certificates", {})
    _, pem = base.generate_rsa_certificate()
    calls: list[str] = []

    def fake_get(url, timeout):
        calls.append(url)
        return FakeResponse(pem.encode())

    monkeypatch.setattr(ses.requests, "get", fake_get)
    return calls


def test_case_variants_of_a_certificate_url_are_fetched_once(fetches):
    for url in (
        CERT_URL,
        CERT_URL.replace("https://sns.us-east-1", "HTTPS://SNS.US-EAST-1"),
        CERT_URL.replace("amazonaws.com", "AmazonAWS.COM"),
        CERT_URL.replace(".com/", ".com:443/"),
        CERT_URL + "?again=1",
    ):
        ses.load_certificate(url)
    assert fetches == [CERT_URL]


def test_the_certificate_cache_is_bounded(fetches):
    for n in range(ses.CERTIFICATE_CACHE_SIZE * 3):
        ses.load_certificate(CERT_URL.replace("abc", f"abc{n}"))
    assert len(ses._certificates) == ses.CERTIFICATE_CACHE_SIZE
    # The most recent stay; the oldest went first.
    assert ses.certificate_key(CERT_URL.replace("abc", "abc0")) not in ses._certificates


def test_a_certificate_url_resolving_to_a_private_address_is_never_fetched(fetches, dns):
    dns["sns.us-east-1.amazonaws.com"] = ["169.254.169.254"]
    with pytest.raises(base.SignatureError):
        ses.load_certificate(CERT_URL)
    assert fetches == []


@pytest.fixture
def kits(settings, monkeypatch):
    from tests.webhooks.kits import configure

    return configure(settings, monkeypatch)


@pytest.fixture
def sns_confirmations(monkeypatch):
    from messaging.webhooks import inbox
    from tests.webhooks.conftest import Confirmations

    recorder = Confirmations()
    monkeypatch.setattr(inbox, "http_get", recorder)
    return recorder


@pytest.mark.django_db
def test_an_sns_subscribe_url_resolving_to_a_private_address_is_not_confirmed(
    client, kits, dns, sns_confirmations
):
    from messaging.models import WebhookRequest

    dns["sns.us-east-1.amazonaws.com"] = ["127.0.0.1"]
    response = kits["ses"].request("subscription_confirmation").post(client)
    assert response.status_code == 200  # stored: the provider need not retry
    assert sns_confirmations == []
    row = WebhookRequest.objects.get()
    assert row.status == "failed" and "127.0.0.1" in row.error
