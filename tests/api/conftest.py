import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def user(db):
    # Every permission; tests/api/test_roles.py covers what each role may do.
    return get_user_model().objects.create_user(
        "api-user", password="not-used-here", is_superuser=True
    )


@pytest.fixture
def token(user):
    return Token.objects.create(user=user)


@pytest.fixture
def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anonymous(db):
    return APIClient()


@pytest.fixture(autouse=True)
def _capture_providers(settings):
    # Sends go to the capture backend: accepted, recorded, no callbacks.
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )


# Every endpoint of CONTRACT.md's REST API, with a body that would be valid.
ENDPOINTS = [
    ("post", "/api/v1/people/", {"external_id": "p"}),
    ("get", "/api/v1/people/p/", None),
    ("patch", "/api/v1/people/p/", {"email": "p@example.com"}),
    ("delete", "/api/v1/people/p/", None),
    ("post", "/api/v1/people/p/unsubscribe/", {}),
    ("post", "/api/v1/people/p/resubscribe/", {}),
    ("post", "/api/v1/people/p/erase/", {}),
    ("get", "/api/v1/audit/", None),
    ("get", "/api/v1/campaigns/", None),
    ("post", "/api/v1/campaigns/", {"name": "c"}),
    ("get", "/api/v1/campaigns/1/", None),
    ("patch", "/api/v1/campaigns/1/", {"attribution": {"window_hours": 24}}),
    ("post", "/api/v1/campaigns/1/actions/", {"name": "a", "channel": "email", "body": "b"}),
    ("get", "/api/v1/campaigns/1/metrics/", None),
    ("post", "/api/v1/send/", {"action": 1, "people": ["p"]}),
    ("get", "/api/v1/messages/", None),
    ("get", "/api/v1/messages/1/", None),
    ("post", "/api/v1/messages/1/send/", {}),
    ("post", "/api/v1/messages/1/retry/", {}),
    ("post", "/api/v1/messages/1/discard/", {}),
    ("post", "/api/v1/messages/1/opened/", {}),
    ("post", "/api/v1/events/", {"person": "p", "name": "purchase"}),
    ("get", "/api/v1/suppressions/", None),
    ("post", "/api/v1/suppressions/", {"address": "x@example.com"}),
    ("delete", "/api/v1/suppressions/1/", None),
]
