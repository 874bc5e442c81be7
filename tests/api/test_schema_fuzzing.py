"""Schemathesis against the project's own OpenAPI schema, in process (WSGI):
generated requests, valid and invalid, must never get a 5xx nor an answer
that breaks the schema (status code, content type, body)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import checks
from werkzeug.test import Client

from campaigns.vocabulary import Channel, EventType
from tests import factories
from tests.ingest.helpers import apply

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture
def in_test_transaction():
    # The WSGI handler closes the database connection around each request;
    # Django's own test client switches that off so requests see the test's
    # transaction. Do the same for schemathesis's WSGI client.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def some_data(db):
    """A little of everything, so some generated ids hit real rows."""
    message = factories.message(Channel.EMAIL)
    apply(
        factories.event(message, EventType.SENT, 1),
        factories.event(message, EventType.CLICKED, 5, link_id=message.action.links.first().id),
    )
    factories.message(Channel.SMS)
    return message


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_requests_get_no_server_error_and_answers_match_the_schema(
    case, token, some_data, in_test_transaction
):
    case.call_and_validate(headers={"Authorization": f"Token {token.key}"}, checks=CHECKS)


def test_answers_about_real_rows_match_the_schema(token, some_data, in_test_transaction):
    client = Client(get_wsgi_application())
    message = some_data
    for path, template, method in [
        (f"/api/v1/messages/{message.id}/", "/api/v1/messages/{id}/", "GET"),
        ("/api/v1/messages/", "/api/v1/messages/", "GET"),
        (
            f"/api/v1/campaigns/{message.campaign_id}/metrics/",
            "/api/v1/campaigns/{id}/metrics/",
            "GET",
        ),
        (f"/api/v1/campaigns/{message.campaign_id}/", "/api/v1/campaigns/{id}/", "GET"),
        ("/api/v1/campaigns/", "/api/v1/campaigns/", "GET"),
        ("/api/v1/people/", "/api/v1/people/", "GET"),
    ]:
        response = client.get(path, headers={"Authorization": f"Token {token.key}"})
        assert response.status_code == 200, (path, response.text)
        schema[template][method].validate_response(response)
