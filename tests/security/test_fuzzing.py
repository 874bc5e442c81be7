"""Hypothesis fuzzing of every webhook endpoint and the API's write
endpoints: whatever the body, no 5xx; an unauthenticated webhook request
stores nothing; a signed one with a nonsense event is a 4xx or stored."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from campaigns.vocabulary import Channel
from messaging.models import WebhookRequest
from messaging.webhooks.providers import mailgun, sendgrid
from tests import factories
from tests.webhooks.kits import configure

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAMES = [
    "external_id", "email", "phone", "push_token", "attributes", "name", "channel", "body",
    "subject", "target", "action", "people", "person", "timestamp", "id", "address", "reason",
    "note", "expires_at", "conversion_event", "conversion_window_hours", "send_as_draft",
    "signature", "event-data", "token", "Type", "Message", "RecordType", "MessageID", "event",
    "sg_message_id", "tidings_message_id", "Signature", "SigningCertURL", "TopicArn",
]  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["", "email", "sms", "1", "2024-06-01T10:00:00Z", "\x00", "p", "=1+1"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=25,
)
BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    # Nesting deep enough to overflow a recursive parser.
    st.integers(1, 20_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(1, 20_000).map(lambda n: b"[" * n + b"]" * n),
)


@pytest.fixture
def kits(settings, monkeypatch):
    return configure(settings, monkeypatch)


@FUZZ
@given(provider=st.sampled_from(["sendgrid", "twilio", "mailgun", "postmark", "ses"]), body=BODIES)
def test_an_unauthenticated_webhook_body_gets_a_4xx_and_stores_nothing(kits, provider, body):
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        response = Client().post(f"/webhooks/{provider}/", data=body, content_type=content_type)
        assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert WebhookRequest.objects.count() == 0


@FUZZ
@given(event_data=JSON)
def test_a_signed_mailgun_request_with_any_event_data_gets_no_5xx(kits, event_data):
    body = mailgun.signed_body(event_data, kits["mailgun"].key, token=_token(), timestamp=_now())
    response = Client().post("/webhooks/mailgun/", data=body, content_type="application/json")
    assert response.status_code in (200, 400), response.content


@FUZZ
@given(events=JSON)
def test_a_signed_sendgrid_request_with_any_body_gets_no_5xx(kits, events):
    body = json.dumps(events).encode()
    headers = sendgrid.sign(body=body, secret=kits["sendgrid"].private)
    response = Client().post(
        "/webhooks/sendgrid/", data=body, content_type="application/json", headers=headers
    )
    assert response.status_code in (200, 400), response.content


@FUZZ
@given(body=JSON)
def test_an_authenticated_postmark_request_with_any_body_gets_no_5xx(kits, body):
    request = kits["postmark"].request(body=json.dumps(body).encode())
    response = request.post(Client())
    assert response.status_code in (200, 400), response.content


def _token() -> str:
    import secrets

    return secrets.token_hex(25)


def _now() -> int:
    import time

    return int(time.time())


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(get_user_model().objects.create_superuser("root", "r@x.org", "pw"))
    return client


@pytest.fixture
def message():
    return factories.message(Channel.EMAIL, person_obj=factories.person(external_id="p"))


WRITES = [
    ("post", "/api/v1/people/"),
    ("patch", "/api/v1/people/p/"),
    ("post", "/api/v1/people/p/unsubscribe/"),
    ("post", "/api/v1/campaigns/"),
    ("post", "/api/v1/campaigns/{campaign}/actions/"),
    ("post", "/api/v1/send/"),
    ("post", "/api/v1/messages/{message}/send/"),
    ("post", "/api/v1/messages/{message}/retry/"),
    ("post", "/api/v1/messages/{message}/discard/"),
    ("post", "/api/v1/messages/{message}/opened/"),
    ("post", "/api/v1/events/"),
    ("post", "/api/v1/suppressions/"),
]


@FUZZ
@given(endpoint=st.sampled_from(WRITES), body=BODIES)
def test_any_body_to_any_api_write_gets_no_5xx(api, message, endpoint, body):
    method, path = endpoint
    path = path.format(campaign=message.campaign_id, message=message.pk)
    response = getattr(api, method)(path, data=body, content_type="application/json")
    assert response.status_code < 500, (path, body, response.content)
