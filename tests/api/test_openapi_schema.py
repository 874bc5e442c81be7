import json

import pytest
from django.core.management import call_command

EXPECTED_OPERATIONS = {
    ("get", "/api/v1/people/"),  # beyond CONTRACT.md: a list to page through
    ("post", "/api/v1/people/"),
    ("get", "/api/v1/people/{external_id}/"),
    ("patch", "/api/v1/people/{external_id}/"),
    ("delete", "/api/v1/people/{external_id}/"),
    ("post", "/api/v1/people/{external_id}/unsubscribe/"),
    ("post", "/api/v1/people/{external_id}/resubscribe/"),
    ("post", "/api/v1/people/{external_id}/erase/"),
    ("get", "/api/v1/audit/"),
    # CONTRACT.md "Reporting webhooks (data out)" (issue 15)
    ("get", "/api/v1/reporting-webhooks/"),
    ("post", "/api/v1/reporting-webhooks/"),
    ("get", "/api/v1/reporting-webhooks/{id}/"),
    ("patch", "/api/v1/reporting-webhooks/{id}/"),
    ("delete", "/api/v1/reporting-webhooks/{id}/"),
    ("get", "/api/v1/reporting-webhooks/{id}/deliveries/"),
    ("post", "/api/v1/reporting-webhooks/{id}/deliveries/{delivery_id}/redeliver/"),
    ("get", "/api/v1/campaigns/"),
    ("post", "/api/v1/campaigns/"),
    ("get", "/api/v1/campaigns/{id}/"),
    ("patch", "/api/v1/campaigns/{id}/"),  # CONTRACT.md "Conversions" (issue 11)
    ("post", "/api/v1/campaigns/{id}/actions/"),
    ("get", "/api/v1/campaigns/{id}/metrics/"),
    ("post", "/api/v1/send/"),
    ("get", "/api/v1/messages/"),
    ("get", "/api/v1/messages/{id}/"),
    ("post", "/api/v1/messages/{id}/send/"),
    ("post", "/api/v1/messages/{id}/retry/"),
    ("post", "/api/v1/messages/{id}/discard/"),
    ("post", "/api/v1/messages/{id}/opened/"),
    ("post", "/api/v1/events/"),
    ("get", "/api/v1/suppressions/"),
    ("post", "/api/v1/suppressions/"),
    ("delete", "/api/v1/suppressions/{id}/"),
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "openapi.json"
    # --validate checks it against the OpenAPI 3 meta-schema; --fail-on-warn
    # fails on any field drf-spectacular could not type.
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--format",
        "openapi-json",
        "--file",
        str(path),
    )
    return json.loads(path.read_text())


def test_the_schema_is_valid_openapi_3_with_every_contract_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    operations = {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "delete", "put"}
    }
    assert operations == EXPECTED_OPERATIONS


def test_every_operation_is_described_with_its_answers(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary"), (method, path)
            assert "401" in operation["responses"], (method, path)
            assert any(code.startswith("2") for code in operation["responses"]), (method, path)


def test_token_authentication_is_documented(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["type"] == "apiKey"
    assert schemes["tokenAuth"]["name"] == "Authorization"
