"""Suppression list and person-state services.

Every change is written to the audit trail (messaging.audience.audit) in the
same transaction, with its source and actor or cause. An entry whose
``expires_at`` has passed no longer suppresses (``suppressed_addresses``
ignores it); ``suppressions_expire`` (the sweeper, any add of the same
address, and every read of the list or the trail through
``suppressions_expire_due``) removes it and records the expiry.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
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

# Re-exported: callers import person services from here.
from messaging.audience.subscription import (  # noqa: F401
    people_resubscribe,
    people_unsubscribe,
    person_resubscribe,
    person_unsubscribe,
)
from messaging.models import Person, Suppression, SuppressionReason

DIGEST_PREFIX = "sha256:"
EXPIRE_BATCH = 5000

logger = logging.getLogger(__name__)


class AlreadySuppressed(ValueError):
    pass


# What a person may add (API, admin, CSV import; CONTRACT.md): soft_bounce
# entries are the policy's (the next delivery lifts one), erased ones the
# erase's (a digest, never a plain address).
_NOT_BY_HAND = {
    SuppressionReason.SOFT_BOUNCE: "soft_bounce entries are added by the policy.",
    SuppressionReason.ERASED: "erased entries are added by erasing a person.",
}
REASONS_BY_HAND = tuple(reason for reason in SuppressionReason.values if reason not in _NOT_BY_HAND)


def reason_refusal(reason: str) -> str:
    """Why a person may not add an entry with this reason ("" when they may)."""
    if reason in _NOT_BY_HAND:
        return _NOT_BY_HAND[reason]
    if reason not in SuppressionReason.values:
        return f"unknown reason '{reason}' (use {', '.join(REASONS_BY_HAND)})"
    return ""


def normalise_address(address: str) -> str:
    return address.strip().lower()


def address_digest(address: str) -> str:
    """How an erased person's address stays on the list: a SHA-256 digest of
    the normalised address, so it still suppresses without being readable."""
    return DIGEST_PREFIX + hashlib.sha256(normalise_address(address).encode()).hexdigest()


def active(now: datetime | None = None) -> Q:
    """Entries that suppress at ``now`` (not expired)."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now())


def suppression_add(
    *,
    address: str,
    reason: str = SuppressionReason.MANUAL,
    note: str = "",
    created_by: AbstractBaseUser | None = None,
    message_id: int | None = None,
    expires_at: datetime | None = None,
    source: str = AuditSource.API,
) -> Suppression:
    address = normalise_address(address)
    change = Change(source=source, actor=created_by, message_id=message_id)
    now = timezone.now()
    with transaction.atomic():
        # An expired entry of this address no longer suppresses: its expiry
        # is recorded and the new entry replaces it.
        suppressions_expire(now=now, addresses=[address])
        try:
            with transaction.atomic():
                suppression = Suppression.objects.create(
                    address=address,
                    reason=reason,
                    note=note,
                    created_by=created_by if created_by and created_by.is_authenticated else None,
                    message_id=message_id,
                    expires_at=expires_at,
                )
        except IntegrityError:
            raise AlreadySuppressed(f"{address} is already on the suppression list.") from None
        record([added_entry(suppression, change, at=now)])
    return suppression


def added_entry(suppression: Suppression, change: Change, *, at: datetime) -> AuditEntry:
    reason = suppression.reason
    if suppression.note:
        reason = f"{reason}: {suppression.note}"
    if suppression.expires_at is not None:
        reason = f"{reason} (until {suppression.expires_at:%Y-%m-%d %H:%M} UTC)"
    return entry(
        change=change,
        subject=AuditSubject.SUPPRESSION,
        action=AuditAction.ADDED,
        address=suppression.address,
        reason=reason,
        message_id=suppression.message_id,
        at=at,
    )


def suppressions_added(added: Iterable[tuple[Suppression, Change]]) -> None:
    """Audit rows for entries a batch added (ingest, the policy, CSV import)."""
    now = timezone.now()
    record(added_entry(s, change, at=now) for s, change in added)


def suppression_remove(
    *,
    suppression: Suppression,
    source: str = AuditSource.API,
    actor: AbstractBaseUser | None = None,
    why: str = "",
) -> None:
    with transaction.atomic():
        deleted, _ = Suppression.objects.filter(pk=suppression.pk).delete()
        if not deleted:
            return  # removed meanwhile: that removal is in the trail
        reason = f"was {suppression.reason}"
        if why:
            reason = f"{why} ({reason})"
        record(
            [
                entry(
                    change=Change(source=source, actor=actor),
                    subject=AuditSubject.SUPPRESSION,
                    action=AuditAction.REMOVED,
                    address=suppression.address,
                    reason=reason,
                    message_id=suppression.message_id,
                )
            ]
        )


def suppressions_expire(
    *,
    now: datetime | None = None,
    addresses: Iterable[str] | None = None,
    limit: int = EXPIRE_BATCH,
) -> int:
    """Removes entries whose expiry has passed (all, or of these addresses)
    and records each expiry (source "policy"), dated when the entry expired
    (its ``expires_at``), not when this ran: the trail says when it stopped
    suppressing, the same whether a read, an add or the sweeper saw it
    first. Returns how many. Entries another transaction is expiring are
    skipped (theirs records them), so concurrent runs never wait nor record
    an expiry twice."""
    now = now or timezone.now()
    rows = Suppression.objects.filter(expires_at__lte=now)
    if addresses is not None:
        rows = rows.filter(address__in=list(addresses))
    with transaction.atomic():
        expired = list(
            rows.select_for_update(skip_locked=True)
            .order_by("id")[:limit]
            .values("id", "address", "reason", "expires_at", "message_id")
        )
        if not expired:
            return 0
        Suppression.objects.filter(id__in=[row["id"] for row in expired]).delete()
        change = Change(source=AuditSource.POLICY)
        record(
            entry(
                change=change,
                subject=AuditSubject.SUPPRESSION,
                action=AuditAction.EXPIRED,
                address=row["address"],
                reason=f"{row['reason']} entry expired at {row['expires_at']:%Y-%m-%d %H:%M} UTC",
                message_id=row["message_id"],
                at=row["expires_at"],
            )
            for row in expired
        )
    return len(expired)


def suppressions_expire_due() -> int:
    """Applies the expiries due before the suppression list or the audit
    trail is read (API and admin), so readers see them without a worker or
    beat (the embedded setup has neither). A policy action, not the
    reader's: nothing is attributed to them and it needs no permission of
    theirs. When nothing is due it is one query on the partial index of
    ``expires_at``. It never fails a read: if it cannot run now, the next
    read or the sweeper does it."""
    now = timezone.now()
    try:
        if not Suppression.objects.filter(expires_at__lte=now).exists():
            return 0
        total = 0
        while True:
            done = suppressions_expire(now=now)
            total += done
            if done < EXPIRE_BATCH:
                return total
    except DatabaseError:
        # suppressions_expire's own transaction (a savepoint inside an
        # outer one) rolled back: the reader's connection stays usable.
        logger.warning("Expiring due suppressions before a read failed", exc_info=True)
        return 0


def suppressed_addresses(addresses: set[str], *, now: datetime | None = None) -> set[str]:
    """Which of these addresses (normalised) must not be emailed now: an
    active entry for the address, or for its digest (an erased person's)."""
    normalised = {normalise_address(a) for a in addresses if a}
    if not normalised:
        return set()
    by_digest = {address_digest(a): a for a in normalised}
    found = Suppression.objects.filter(active(now), address__in=[*normalised, *by_digest])
    return {by_digest.get(a, a) for a in found.values_list("address", flat=True)}


class PersonState:
    """What the pre-send check reads of a person."""

    __slots__ = ("deleted_at", "external_id", "id", "unsubscribed_at")

    def __init__(self, id, external_id, deleted_at, unsubscribed_at):
        self.id = id
        self.external_id = external_id
        self.deleted_at = deleted_at
        self.unsubscribed_at = unsubscribed_at

    @property
    def pk(self) -> int:
        return self.id


def presend_state(
    person_ids: Iterable[int], addresses: Iterable[str], *, now: datetime | None = None
) -> tuple[dict[int, PersonState], set[str]]:
    """The pre-send check's reads in one round trip: the people's state
    (deleted, unsubscribed) and which of the email addresses are suppressed
    now (``suppressed_addresses``)."""
    ids = sorted(set(person_ids))
    normalised = {normalise_address(a) for a in addresses if a}
    if connection.vendor != "postgresql":
        people = {
            row["id"]: PersonState(**row)
            for row in Person.objects.filter(id__in=ids).values(
                "id", "external_id", "deleted_at", "unsubscribed_at"
            )
        }
        return people, suppressed_addresses(normalised, now=now)
    by_digest = {address_digest(a): a for a in normalised}
    with connection.cursor() as cursor:
        # Arrays, not expanded IN lists: one statement text for any batch.
        cursor.execute(
            "SELECT id, external_id, deleted_at, unsubscribed_at FROM messaging_person "
            "WHERE id = ANY(%s::bigint[]) "
            "UNION ALL SELECT NULL, address, NULL, NULL FROM messaging_suppression "
            "WHERE address = ANY(%s::varchar[]) AND (expires_at IS NULL OR expires_at > %s)",
            [ids, [*normalised, *by_digest], now or timezone.now()],
        )
        rows = cursor.fetchall()
    people = {row[0]: PersonState(*row) for row in rows if row[0] is not None}
    suppressed = {by_digest.get(row[1], row[1]) for row in rows if row[0] is None}
    return people, suppressed


def person_delete(*, person: Person) -> Person:
    """Marks the person deleted; history stays, later messages are undeliverable."""
    if person.deleted_at is None:
        person.deleted_at = timezone.now()
        person.save(update_fields=["deleted_at", "updated_at"])
    return person


def _merged_attributes(current: dict, changes: dict) -> dict:
    # JSON merge-patch (RFC 7396) at the top level: a key set to null is removed.
    merged = {**current, **changes}
    return {key: value for key, value in merged.items() if value is not None}


def person_update(
    *,
    person: Person,
    email: str | None = None,
    phone: str | None = None,
    push_token: str | None = None,
    attributes: dict | None = None,
) -> Person:
    """Sets the given fields (None leaves one as it is); attributes merge."""
    changes = {
        name: value
        for name, value in (("email", email), ("phone", phone), ("push_token", push_token))
        if value is not None
    }
    if attributes is not None:
        changes["attributes"] = _merged_attributes(person.attributes, attributes)
    changed = [name for name, value in changes.items() if getattr(person, name) != value]
    if changed:
        for name in changed:
            setattr(person, name, changes[name])
        person.save(update_fields=[*changed, "updated_at"])
    return person


def person_upsert(
    *,
    external_id: str,
    email: str | None = None,
    phone: str | None = None,
    push_token: str | None = None,
    attributes: dict | None = None,
) -> tuple[Person, bool]:
    """Creates the person, or updates the given fields of the existing one
    (a deleted or unsubscribed person stays so). Returns (person, created)."""
    with transaction.atomic():
        # get_or_create survives a concurrent create of the same external_id;
        # the row lock then serialises concurrent updates of the attributes.
        person, created = Person.objects.get_or_create(
            external_id=external_id,
            defaults={
                "email": email or "",
                "phone": phone or "",
                "push_token": push_token or "",
                "attributes": _merged_attributes({}, attributes or {}),
            },
        )
        if created:
            return person, True
        person = Person.objects.select_for_update().get(pk=person.pk)
        return person_update(
            person=person, email=email, phone=phone, push_token=push_token, attributes=attributes
        ), False
