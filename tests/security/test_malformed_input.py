"""4xx, never 5xx, for malformed input: deeply nested JSON to the webhooks
and the API, oversized API bodies, tampered pagination cursors."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from campaigns.vocabulary import Channel
from config import safe_json
from messaging.audience.suppression import suppression_add
from messaging.models import MessageEvent, PersonEvent, WebhookRequest
from tests import factories

pytestmark = pytest.mark.django_db

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
JSON_WEBHOOKS = ["sendgrid", "mailgun", "postmark", "ses"]


@pytest.fixture
def configured(settings):
    settings.SENDGRID_WEBHOOK_VERIFICATION_KEY = ["not-a-key"]
    settings.MAILGUN_WEBHOOK_SIGNING_KEY = ["key-x"]
    settings.POSTMARK_WEBHOOK_AUTH = ["u:p"]
    settings.SES_SNS_TOPIC_ARNS = ["arn:aws:sns:us-east-1:1:t"]
    settings.TWILIO_AUTH_TOKEN = ["t"]


@pytest.fixture
def superuser_api():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("root", "r@x.org", "pw"))
    return client


@pytest.mark.parametrize("provider", JSON_WEBHOOKS)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_to_a_webhook_is_a_400_and_stores_nothing(
    client, configured, provider, body
):
    response = client.post(f"/webhooks/{provider}/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert WebhookRequest.objects.count() == 0


def test_json_at_the_depth_limit_is_read_and_one_level_deeper_is_refused():
    at_limit = "[" * safe_json.MAX_DEPTH + "]" * safe_json.MAX_DEPTH
    assert safe_json.loads(at_limit) is not None
    with pytest.raises(ValueError):
        safe_json.loads("[" + at_limit + "]")


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = '{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"[[[["}'
    assert safe_json.nesting_depth(text) == 1
    assert safe_json.loads(text)["a"].startswith("[[[")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/events/",
        "/api/v1/people/",
        "/api/v1/campaigns/",
        "/api/v1/send/",
        "/api/v1/suppressions/",
        "/api/v1/messages/{id}/opened/",
    ],
)
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_to_the_api_is_a_400(superuser_api, path, body):
    message = factories.message(Channel.EMAIL)
    response = superuser_api.post(
        path.format(id=message.pk), data=body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert "nested deeper" in response.json()["detail"]
    assert not PersonEvent.objects.exists()
    assert not MessageEvent.objects.filter(type="opened").exists()


def test_an_api_body_over_the_limit_is_a_413(superuser_api, settings):
    settings.TIDINGS_API_MAX_BYTES = 2048
    body = b'{"name": "' + b"x" * 4096 + b'"}'
    response = superuser_api.post("/api/v1/campaigns/", data=body, content_type="application/json")
    assert response.status_code == 413


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


TAMPERED = [
    "!!!not-base64",
    _cursor("p=abc"),
    _cursor("p=1.5"),
    _cursor("p=-1"),
    _cursor("p=99999999999999999999999999"),
    _cursor("p=9223372036854775808"),
    _cursor("p=1%00"),
    _cursor("o=-5&p=10"),
    _cursor("r=yes&p=10"),
]
LISTS = [
    "/api/v1/people/",
    "/api/v1/campaigns/",
    "/api/v1/messages/",
    "/api/v1/suppressions/",
]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("cursor", TAMPERED)
def test_a_tampered_cursor_on_any_list_is_a_400(superuser_api, path, cursor):
    factories.message(Channel.EMAIL)
    response = superuser_api.get(path, {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert response.json() == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize("path", LISTS)
def test_a_genuine_cursor_still_pages(superuser_api, path):
    for n in range(3):
        factories.message(Channel.EMAIL)
        suppression_add(address=f"s{n}@example.com")
    first = superuser_api.get(path, {"limit": 1}).json()
    assert first["next"]
    assert superuser_api.get(first["next"]).status_code == 200


@pytest.mark.parametrize("value", ["99999999999999999999999999", "-1", "abc", "1e3"])
def test_a_tampered_keyset_cursor_on_the_delivery_log_is_not_a_server_error(client, value):
    client.force_login(get_user_model().objects.create_superuser("root", "r@x.org", "pw"))
    factories.message(Channel.EMAIL)
    for name in ("before", "after"):
        assert client.get("/deliveries/", {name: value}).status_code < 500
