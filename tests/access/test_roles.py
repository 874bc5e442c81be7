"""Who gets 2xx and who gets 403 on every API endpoint and page
(CONTRACT.md "Access and roles").

RULES names, for every URL pattern the project serves and every method it
answers, the least role that may use it. The first test walks the URL
configuration and fails when an endpoint has no rule, so a new endpoint must
be given one here (and a permission in its view, see config.access)."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.vocabulary import Channel, EventType
from config.access import ROLES, user_role_set
from messaging.audience.suppression import suppression_add
from messaging.reporting.models import ReportingDelivery, ReportingNotification
from messaging.reporting.services import reporting_webhook_create
from tests import factories
from tests.ingest.helpers import apply

PUBLIC = "public"  # authenticates on its own terms (signatures, tokens) or not at all
STAFF = "staff"  # the Django admin: staff, then the same model permissions
NOBODY = "signed-in user in no group"
LADDER = [NOBODY, "viewer", "marketer", "deliverability"]

# (route, method) -> (least role, body). Routes are as the URL configuration spells them.
RULES: dict[tuple[str, str], tuple[str, dict | None]] = {
    # REST API
    ("api/v1/people/", "GET"): ("viewer", None),
    ("api/v1/people/", "POST"): ("marketer", {"external_id": "q"}),
    ("api/v1/people/<path:external_id>/", "GET"): ("viewer", None),
    ("api/v1/people/<path:external_id>/", "PATCH"): ("marketer", {"email": "p2@example.com"}),
    ("api/v1/people/<path:external_id>/", "DELETE"): ("deliverability", None),
    ("api/v1/people/<path:external_id>/unsubscribe/", "POST"): ("deliverability", {}),
    ("api/v1/people/<path:external_id>/resubscribe/", "POST"): ("deliverability", {}),
    ("api/v1/people/<path:external_id>/erase/", "POST"): ("deliverability", {}),
    ("api/v1/audit/", "GET"): ("viewer", None),
    ("api/v1/campaigns/", "GET"): ("viewer", None),
    ("api/v1/campaigns/", "POST"): ("marketer", {"name": "c"}),
    ("api/v1/campaigns/<int:pk>/", "GET"): ("viewer", None),
    ("api/v1/campaigns/<int:pk>/", "PATCH"): ("marketer", {"name": "renamed"}),
    ("api/v1/campaigns/<int:pk>/actions/", "POST"): (
        "marketer",
        {"name": "a", "channel": "email", "body": "b"},
    ),
    ("api/v1/campaigns/<int:pk>/metrics/", "GET"): ("viewer", None),
    ("api/v1/send/", "POST"): ("marketer", {"action": "<action>", "people": ["p"]}),
    ("api/v1/messages/", "GET"): ("viewer", None),
    ("api/v1/messages/<int:pk>/", "GET"): ("viewer", None),
    ("api/v1/messages/<int:pk>/send/", "POST"): ("marketer", {}),
    ("api/v1/messages/<int:pk>/retry/", "POST"): ("marketer", {}),
    ("api/v1/messages/<int:pk>/discard/", "POST"): ("marketer", {}),
    ("api/v1/messages/<int:pk>/opened/", "POST"): ("marketer", {}),
    ("api/v1/events/", "POST"): ("marketer", {"person": "p", "name": "purchase"}),
    ("api/v1/suppressions/", "GET"): ("viewer", None),
    ("api/v1/suppressions/", "POST"): ("deliverability", {"address": "y@example.com"}),
    ("api/v1/suppressions/<int:pk>/", "DELETE"): ("deliverability", None),
    ("api/v1/reporting-webhooks/", "GET"): ("deliverability", None),
    ("api/v1/reporting-webhooks/", "POST"): (
        "deliverability",
        {"url": "https://hooks.example.com/tidings", "events": ["delivered"]},
    ),
    ("api/v1/reporting-webhooks/<int:pk>/", "GET"): ("deliverability", None),
    ("api/v1/reporting-webhooks/<int:pk>/", "PATCH"): ("deliverability", {"enabled": False}),
    ("api/v1/reporting-webhooks/<int:pk>/", "DELETE"): ("deliverability", None),
    ("api/v1/reporting-webhooks/<int:pk>/deliveries/", "GET"): ("deliverability", None),
    ("api/v1/reporting-webhooks/<int:pk>/deliveries/<int:delivery_id>/redeliver/", "POST"): (
        "deliverability",
        {},
    ),
    ("api/v1/^(?P<rest>[\\s\\S]*)$", "GET"): (PUBLIC, None),  # JSON 404 for anything else
    ("api/schema/", "GET"): (PUBLIC, None),
    ("api/docs/", "GET"): (PUBLIC, None),
    # Pages
    ("", "GET"): ("viewer", None),
    ("campaigns/<int:pk>/", "GET"): ("viewer", None),
    ("deliveries/", "GET"): ("viewer", None),
    ("messages/<int:pk>/", "GET"): ("viewer", None),
    ("messages/<int:pk>/send/", "POST"): ("marketer", {}),
    ("messages/<int:pk>/retry/", "POST"): ("marketer", {}),
    ("messages/<int:pk>/discard/", "POST"): ("marketer", {}),
    # Provider webhooks (signatures) and recipients' tracking URLs (signed tokens)
    ("webhooks/<str:provider>/", "POST"): (PUBLIC, None),
    ("t/o/<str:token>.gif", "GET"): (PUBLIC, None),
    ("t/c/<str:token>", "GET"): (PUBLIC, None),
    # One-click unsubscribe (the signed token is the credential) and the health check
    ("u/<str:token>", "*"): (PUBLIC, None),
    ("healthz", "*"): (PUBLIC, None),
    ("admin/", "*"): (STAFF, None),
    ("accounts/login/", "*"): (PUBLIC, None),
    ("accounts/logout/", "*"): (PUBLIC, None),
}
WHOLE = {"admin/"}  # includes ruled as a whole
ROLE_RULES = {key: rule for key, rule in RULES.items() if rule[0] in LADDER}


def _served() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if route in WHOLE:
                    found.append((route, None))
                else:
                    walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                found.append((route, entry.callback))

    walk(get_resolver().url_patterns, "")
    return found


def _methods(callback) -> set[str]:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return set()
    implemented = {
        m.upper()
        for m in view_class.http_method_names
        if m not in ("options", "head") and hasattr(view_class, m)
    }
    return implemented


def test_every_endpoint_and_page_has_a_role_rule():
    ruled_routes = {route for route, _ in RULES}
    missing = []
    for route, callback in _served():
        if route not in ruled_routes:
            missing.append(route)
            continue
        for method in _methods(callback) if callback else ():
            if (route, method) not in RULES and (route, "*") not in RULES:
                missing.append(f"{method} {route}")
    assert not missing, f"endpoints without a rule in tests/access/test_roles.py: {missing}"


def test_every_rule_names_an_endpoint_that_exists():
    served = {route for route, _ in _served()}
    assert {route for route, _ in RULES} <= served


def test_each_role_holds_the_permissions_of_the_one_below():
    roles = list(ROLES.values())
    for lower, higher in itertools.pairwise(roles):
        assert set(lower) < set(higher)


@pytest.fixture
def world(db):
    person = factories.person(external_id="p")
    campaign = factories.campaign()
    email = factories.action(campaign_obj=campaign)
    draft = factories.message(
        action_obj=factories.action(campaign_obj=campaign, send_as_draft=True), person_obj=person
    )
    failed = factories.message(Channel.SMS, person_obj=person)
    apply(factories.event(failed, EventType.FAILED, 1, reason="provider down"))
    sent = factories.message(action_obj=email, person_obj=person)
    suppression = suppression_add(address="x@example.com")
    hook = reporting_webhook_create(url="https://hooks.example.com/tidings", events=["sent"])
    notification = ReportingNotification.objects.create(
        webhook=hook,
        message=sent,
        event_type="sent",
        occurred_at=factories.T0,
        source="pipeline",
        created_at=factories.T0,
        next_attempt_at=factories.T0,
    )
    delivery = ReportingDelivery.objects.create(
        webhook=hook, notification=notification, attempt=1, status_code=500, at=factories.T0
    )
    return {
        "reporting_webhook": hook.pk,
        "reporting_delivery": delivery.pk,
        "campaign": campaign.pk,
        "action": email.pk,
        "draft": draft.pk,
        "failed": failed.pk,
        "sent": sent.pk,
        "suppression": suppression.pk,
    }


def _path(route: str, world: dict) -> str:
    path = "/" + route
    if "/<int:pk>/" in route:
        if route.startswith("api/v1/campaigns/") or route.startswith("campaigns/"):
            pk = world["campaign"]
        elif route.startswith("api/v1/suppressions/"):
            pk = world["suppression"]
        elif route.startswith("api/v1/reporting-webhooks/"):
            pk = world["reporting_webhook"]
        elif route.endswith(("send/", "discard/")):
            pk = world["draft"]
        elif route.endswith("retry/"):
            pk = world["failed"]
        else:
            pk = world["sent"]
        path = path.replace("<int:pk>", str(pk))
    path = path.replace("<int:delivery_id>", str(world["reporting_delivery"]))
    return path.replace("<path:external_id>", "p")


def _body(body: dict | None, world: dict) -> dict | None:
    if body and body.get("action") == "<action>":
        return {**body, "action": world["action"]}
    return body


def _user(role: str):
    user = get_user_model().objects.create_user(f"user-{role.split()[0]}", password="pw-x-12345")
    if role in ROLES:
        user_role_set(user=user, role=role)
    return user


CASES = [
    pytest.param(route, method, role, id=f"{method} /{route} as {role}")
    for (route, method), (least, _) in ROLE_RULES.items()
    for role in LADDER
]


@pytest.mark.parametrize(("route", "method", "role"), CASES)
def test_a_role_gets_2xx_where_its_rule_allows_and_403_elsewhere(world, route, method, role):
    least, body = RULES[(route, method)]
    allowed = LADDER.index(role) >= LADDER.index(least)
    user = _user(role)
    if route.startswith("api/"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        response = getattr(client, method.lower())(
            _path(route, world), _body(body, world), format="json"
        )
    else:
        client = Client()
        client.force_login(user)
        response = getattr(client, method.lower())(_path(route, world), _body(body, world) or {})
    if allowed:
        assert response.status_code < 400, (response.status_code, getattr(response, "data", ""))
    else:
        assert response.status_code == 403
        if route.startswith("api/"):
            assert "permission" in response.json()["detail"]


def test_the_api_names_the_missing_permission(world):
    user = _user("viewer")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(f"/api/v1/messages/{world['failed']}/retry/", {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Missing permission: messaging.retry_message."}


def test_an_endpoint_that_names_no_permission_is_closed_even_to_a_superuser(rf, admin_user):
    from rest_framework import generics
    from rest_framework.response import Response

    class Unruled(generics.GenericAPIView):
        def get(self, request):
            return Response({})

    request = rf.get("/api/v1/unruled/")
    request.user = admin_user
    response = Unruled.as_view()(request)
    assert response.status_code == 403


def test_a_refused_write_changes_nothing(world):
    from messaging.models import Message

    user = _user("viewer")
    client = APIClient()
    client.force_authenticate(user)
    before = Message.objects.count()
    response = client.post(
        "/api/v1/send/", {"action": world["action"], "people": ["p"]}, format="json"
    )
    assert response.status_code == 403
    assert Message.objects.count() == before


def _api_routes_with_unanswered_methods() -> list:
    out = []
    for route, callback in _served():
        if not route.startswith("api/v1/") or "(?P<rest>" in route:
            continue
        answered = _methods(callback)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            if method not in answered:
                out.append(pytest.param(route, method, id=f"{method} /{route}"))
    return out


@pytest.mark.parametrize(("route", "method"), _api_routes_with_unanswered_methods())
def test_a_method_an_endpoint_does_not_answer_is_405_not_403(world, admin_user, route, method):
    # Even a superuser gets 405 (with Allow); anyone unauthenticated still 401.
    client = APIClient()
    client.force_authenticate(admin_user)
    response = getattr(client, method.lower())(_path(route, world), {}, format="json")
    assert response.status_code == 405, (response.status_code, getattr(response, "data", ""))
    assert method not in response["Allow"]
    anonymous = getattr(APIClient(), method.lower())(_path(route, world), {}, format="json")
    assert anonymous.status_code == 401
