"""Writing and reading the audit trail. Every service that changes a
suppression or a subscription writes its rows here, in the same
transaction as the change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from messaging.audience.audit_models import AuditAction, AuditEntry, AuditSource, AuditSubject

__all__ = [
    "AuditAction",
    "AuditEntry",
    "AuditSource",
    "AuditSubject",
    "Change",
    "record",
    "trail",
]


@dataclass(frozen=True, slots=True)
class Change:
    """Who or what made a change: its source and its actor (a signed-in
    user) or cause (a message)."""

    source: str
    actor: AbstractBaseUser | None = None
    message_id: int | None = None

    def actor_fields(self) -> dict:
        user = self.actor if self.actor is not None and self.actor.is_authenticated else None
        return {
            "actor_id": user.pk if user is not None else None,
            "actor_name": user.get_username() if user is not None else "",
        }


def entry(
    *,
    change: Change,
    subject: str,
    action: str,
    reason: str = "",
    address: str = "",
    person_id: int | None = None,
    message_id: int | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=at or timezone.now(),
        subject=subject,
        action=action,
        address=address,
        person_id=person_id,
        reason=reason[:500],
        source=change.source,
        message_id=message_id if message_id is not None else change.message_id,
        **change.actor_fields(),
    )


def record(entries: Iterable[AuditEntry]) -> int:
    rows = list(entries)
    if rows:
        AuditEntry.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def trail(
    *,
    address: str | None = None,
    person_id: int | None = None,
    since: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The trail newest first; ``address`` and ``person_id`` together give
    everything about a person: their subscription and their address."""
    rows = AuditEntry.objects.select_related("person")
    who = Q()
    if address is not None:
        who |= Q(address=address)
    if person_id is not None:
        who |= Q(person_id=person_id)
    if who:
        rows = rows.filter(who)
    if since is not None:
        rows = rows.filter(at__gte=since)
    return rows.order_by("-at", "-id")
