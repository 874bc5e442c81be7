import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _capture_providers(settings):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )


@pytest.fixture
def user(db):
    return get_user_model().objects.create_superuser("dana", "dana@example.com", "pw-dana-1")


@pytest.fixture
def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def admin_client(client, user):
    client.force_login(user)
    return client
