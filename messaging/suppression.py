"""Suppression list and person-state services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.models import Person, Suppression, SuppressionReason


class AlreadySuppressed(ValueError):
    pass


def normalise_address(address: str) -> str:
    return address.strip().lower()


def suppression_add(
    *,
    address: str,
    reason: str = SuppressionReason.MANUAL,
    note: str = "",
    created_by: AbstractBaseUser | None = None,
    message_id: int | None = None,
) -> Suppression:
    address = normalise_address(address)
    try:
        with transaction.atomic():
            return Suppression.objects.create(
                address=address,
                reason=reason,
                note=note,
                created_by=created_by if created_by and created_by.is_authenticated else None,
                message_id=message_id,
            )
    except IntegrityError:
        raise AlreadySuppressed(f"{address} is already on the suppression list.") from None


def suppression_remove(*, suppression: Suppression) -> None:
    suppression.delete()


def suppressed_addresses(addresses: set[str]) -> set[str]:
    normalised = {normalise_address(a) for a in addresses if a}
    if not normalised:
        return set()
    return set(Suppression.objects.filter(address__in=normalised).values_list("address", flat=True))


def person_unsubscribe(*, person: Person) -> Person:
    if person.unsubscribed_at is None:
        person.unsubscribed_at = timezone.now()
        person.save(update_fields=["unsubscribed_at", "updated_at"])
    return person


def person_delete(*, person: Person) -> Person:
    """Marks the person deleted; history stays, later messages are undeliverable."""
    if person.deleted_at is None:
        person.deleted_at = timezone.now()
        person.save(update_fields=["deleted_at", "updated_at"])
    return person
