"""Subscription services: a person unsubscribes (every channel addressed to
them: email, SMS, push, Airship; Slack and webhook actions go to their
target and still go) and can be resubscribed. Each change is one audit row
with its source and actor or cause.

The batch forms serve ingest (provider events), whose audit rows are dated
when the event happened: a provider's unsubscribe that happened before the
person's latest resubscribe changes nothing, and a resubscribe older than
the current unsubscribe changes nothing, so the outcome does not depend on
the order in which the events arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from messaging.audience.audit import (
    AuditAction,
    AuditEntry,
    AuditSource,
    AuditSubject,
    Change,
    entry,
    record,
)
from messaging.models import Person


@dataclass(frozen=True, slots=True)
class SubscriptionEvent:
    """One person's unsubscribe or resubscribe, as ingest hands it over."""

    person_id: int
    occurred_at: datetime
    change: Change
    reason: str = ""


def person_unsubscribe(*, person: Person, change: Change | None = None, reason: str = "") -> Person:
    """Marks the person unsubscribed (once; a repeat changes nothing)."""
    change = change or Change(source=AuditSource.API)
    with transaction.atomic():
        updated = Person.objects.filter(pk=person.pk, unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now(), updated_at=timezone.now()
        )
        if updated:
            record(
                [
                    entry(
                        change=change,
                        subject=AuditSubject.SUBSCRIPTION,
                        action=AuditAction.UNSUBSCRIBED,
                        person_id=person.pk,
                        reason=reason or "unsubscribed",
                    )
                ]
            )
    person.refresh_from_db()
    return person


def person_resubscribe(*, person: Person, change: Change | None = None, reason: str = "") -> Person:
    """Clears the unsubscribe marker (a person not unsubscribed: nothing)."""
    change = change or Change(source=AuditSource.API)
    with transaction.atomic():
        updated = Person.objects.filter(pk=person.pk, unsubscribed_at__isnull=False).update(
            unsubscribed_at=None, updated_at=timezone.now()
        )
        if updated:
            record(
                [
                    entry(
                        change=change,
                        subject=AuditSubject.SUBSCRIPTION,
                        action=AuditAction.RESUBSCRIBED,
                        person_id=person.pk,
                        reason=reason or "resubscribed",
                    )
                ]
            )
    person.refresh_from_db()
    return person


def _latest_resubscribes(person_ids) -> dict[int, datetime]:
    return dict(
        AuditEntry.objects.filter(
            person_id__in=list(person_ids),
            subject=AuditSubject.SUBSCRIPTION,
            action=AuditAction.RESUBSCRIBED,
        )
        .values("person_id")
        .annotate(last=Max("at"))
        .values_list("person_id", "last")
    )


def people_unsubscribe(events: Mapping[int, SubscriptionEvent]) -> list[int]:
    """Batch unsubscribe (one event per person, the earliest): people not
    unsubscribed yet, unless resubscribed after the event. Returns their ids."""
    if not events:
        return []
    resubscribed = _latest_resubscribes(events.keys())
    people = list(
        Person.objects.filter(id__in=list(events.keys()), unsubscribed_at__isnull=True).only(
            "id", "unsubscribed_at"
        )
    )
    changed = []
    for person in people:
        event = events[person.id]
        last = resubscribed.get(person.id)
        if last is not None and event.occurred_at <= last:
            continue  # resubscribed since: this older unsubscribe is history
        person.unsubscribed_at = event.occurred_at
        changed.append(person)
    if changed:
        Person.objects.bulk_update(changed, ["unsubscribed_at"], batch_size=1000)
        record(
            entry(
                change=events[p.id].change,
                subject=AuditSubject.SUBSCRIPTION,
                action=AuditAction.UNSUBSCRIBED,
                person_id=p.id,
                reason=events[p.id].reason or "unsubscribed",
                at=events[p.id].occurred_at,
            )
            for p in changed
        )
    return [p.id for p in changed]


def people_resubscribe(events: Mapping[int, SubscriptionEvent]) -> list[int]:
    """Batch resubscribe (one event per person, the latest): people whose
    unsubscribe is not later than the event. Returns their ids. A provider's
    resubscribe for a person who is not unsubscribed is still recorded, so
    an older unsubscribe that arrives after it changes nothing."""
    if not events:
        return []
    people = list(Person.objects.filter(id__in=list(events.keys())).only("id", "unsubscribed_at"))
    changed = [
        p
        for p in people
        if p.unsubscribed_at is not None and p.unsubscribed_at <= events[p.id].occurred_at
    ]
    already = [p for p in people if p.unsubscribed_at is None]
    for person in changed:
        person.unsubscribed_at = None
    if changed:
        Person.objects.bulk_update(changed, ["unsubscribed_at"], batch_size=1000)
    record(
        entry(
            change=events[p.id].change,
            subject=AuditSubject.SUBSCRIPTION,
            action=AuditAction.RESUBSCRIBED,
            person_id=p.id,
            reason=(events[p.id].reason or "resubscribed")
            + ("" if p in changed else " (was not unsubscribed)"),
            at=events[p.id].occurred_at,
        )
        for p in [*changed, *already]
    )
    return [p.id for p in changed]
