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
