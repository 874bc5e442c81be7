"""Who may do what (CONTRACT.md "Access and roles"): the one place the API,
the pages and the admin take their permission checks from.

Roles are Django groups holding Django permissions; the migration
``messaging/0005_roles`` creates them from ``ROLES`` below, and
``manage.py tidings_user`` puts a user in one. A superuser holds everything;
a signed-in user in no group may read nothing.

- API views name what each HTTP method needs in ``required_permissions``
  (``{"GET": VIEW_MESSAGE, "POST": SEND_MESSAGE}``); ``RolePermission`` (a
  default permission class) answers 403 naming the missing permission, and
  refuses a method the view names nothing for, so a new endpoint without a
  rule is closed, not open.
- Pages use ``page_permission(...)`` (login first, then 403) and templates
  hide buttons with ``{% if perms.messaging.retry_message %}``.
- The admin checks the same names (model permissions, plus the custom ones
  for its actions).

Lives in config/ because both apps use it and campaigns never imports
messaging.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission

# --- Permission names (app_label.codename) ---------------------------------------

VIEW_CAMPAIGN = "campaigns.view_campaign"
ADD_CAMPAIGN = "campaigns.add_campaign"
CHANGE_CAMPAIGN = "campaigns.change_campaign"
VIEW_ACTION = "campaigns.view_action"
ADD_ACTION = "campaigns.add_action"
CHANGE_ACTION = "campaigns.change_action"

VIEW_PERSON = "messaging.view_person"
ADD_PERSON = "messaging.add_person"
CHANGE_PERSON = "messaging.change_person"
DELETE_PERSON = "messaging.delete_person"
UNSUBSCRIBE_PERSON = "messaging.unsubscribe_person"
RESUBSCRIBE_PERSON = "messaging.resubscribe_person"
ERASE_PERSON = "messaging.erase_person"

VIEW_MESSAGE = "messaging.view_message"
SEND_MESSAGE = "messaging.send_message"  # send an action, send a draft
RETRY_MESSAGE = "messaging.retry_message"
DISCARD_MESSAGE = "messaging.discard_message"
REPORT_OPEN = "messaging.add_messageevent"  # POST /messages/<id>/opened/
REPORT_EVENT = "messaging.add_personevent"  # POST /events/

VIEW_SUPPRESSION = "messaging.view_suppression"
# The audit trail is the history of the lists: who may read the suppression
# list reads it (API and admin alike; nobody may change it).
VIEW_AUDIT = VIEW_SUPPRESSION
ADD_SUPPRESSION = "messaging.add_suppression"  # also CSV import
CHANGE_SUPPRESSION = "messaging.change_suppression"
DELETE_SUPPRESSION = "messaging.delete_suppression"

MANAGE_REPORTING_WEBHOOKS = "messaging.manage_reporting_webhooks"

# The custom permissions above are declared on Message and Person
# (Meta.permissions).

# --- Roles ---------------------------------------------------------------------

VIEWER = "viewer"
MARKETER = "marketer"
DELIVERABILITY = "deliverability"

_VIEWER = (
    VIEW_CAMPAIGN,
    VIEW_ACTION,
    "campaigns.view_link",
    VIEW_PERSON,
    VIEW_MESSAGE,
    "messaging.view_messageevent",
    "messaging.view_personevent",
    VIEW_SUPPRESSION,
)
_MARKETER = (
    *_VIEWER,
    ADD_CAMPAIGN,
    CHANGE_CAMPAIGN,
    ADD_ACTION,
    CHANGE_ACTION,
    "campaigns.add_link",
    "campaigns.change_link",
    SEND_MESSAGE,
    RETRY_MESSAGE,
    DISCARD_MESSAGE,
    ADD_PERSON,
    CHANGE_PERSON,
    REPORT_OPEN,
    REPORT_EVENT,
)
_DELIVERABILITY = (
    *_MARKETER,
    ADD_SUPPRESSION,
    CHANGE_SUPPRESSION,
    DELETE_SUPPRESSION,
    UNSUBSCRIBE_PERSON,
    RESUBSCRIBE_PERSON,
    DELETE_PERSON,
    ERASE_PERSON,
    MANAGE_REPORTING_WEBHOOKS,
)

# Each role's permissions, least to most.
ROLES: dict[str, tuple[str, ...]] = {
    VIEWER: _VIEWER,
    MARKETER: _MARKETER,
    DELIVERABILITY: _DELIVERABILITY,
}


def role_permissions(role: str) -> frozenset[str]:
    return frozenset(ROLES[role])


def missing(user: Any, perms: Iterable[str]) -> list[str]:
    """The permissions of ``perms`` that ``user`` lacks (none for a superuser)."""
    return [perm for perm in perms if not user.has_perm(perm)]


def _as_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


# --- API --------------------------------------------------------------------------


class RolePermission(BasePermission):
    """DRF permission class: the view's ``required_permissions`` maps each
    HTTP method to the permission(s) it needs. HEAD and OPTIONS need what GET
    needs. A method the view implements but names nothing for is refused for
    everyone, so an endpoint nobody wrote a rule for stays closed (and the role
    tests fail); a method it does not implement at all gets 405."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        rules: Mapping[str, str | Iterable[str]] = getattr(view, "required_permissions", {})
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        if method not in rules:
            if request.method not in view.allowed_methods:
                # A method the endpoint does not answer: DRF's 405 Method Not
                # Allowed (with an Allow header) says so; 403 would not.
                return True
            self.message = f"No permission rule covers {request.method} on this endpoint."
            return False
        lacking = missing(request.user, _as_tuple(rules[method]))
        if lacking:
            self.message = "Missing permission: " + ", ".join(lacking) + "."
            return False
        return True


# --- Pages --------------------------------------------------------------------------


def page_permission(*perms: str) -> Callable:
    """A page view decorator: anonymous users go to the login page; a
    signed-in user without every one of ``perms`` gets 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if missing(request.user, perms):
                raise PermissionDenied(
                    "Missing permission: " + ", ".join(missing(request.user, perms))
                )
            return view(request, *args, **kwargs)

        checked.required_permissions = perms  # type: ignore[attr-defined]
        return login_required(checked)

    return decorator


# --- Groups ---------------------------------------------------------------------------


def roles_ensure() -> None:
    """Creates the role groups and adds the permissions ROLES gives them
    (never removes one an administrator added). The migration creates them;
    this runs after every migrate and database flush, so a role gains a
    permission added to ROLES later, and a flushed test database has them."""
    from django.contrib.auth.models import Group, Permission

    wanted = {name.split(".", 1)[1]: name for role in ROLES.values() for name in role}
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.filter(
            codename__in=list(wanted)
        ).values_list("pk", "content_type__app_label", "codename")
    }
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*(found[name] for name in names if name in found))


def user_role_set(*, user: Any, role: str) -> None:
    """Puts ``user`` in exactly one role group (leaving other groups alone)."""
    from django.contrib.auth.models import Group

    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    roles_ensure()
    user.groups.remove(*Group.objects.filter(name__in=[r for r in ROLES if r != role]))
    user.groups.add(Group.objects.get(name=role))
