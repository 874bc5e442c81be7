"""Erase ("delete and suppress", for data-protection requests; DESIGN.md
"Suppression and subscriptions").

In one transaction, the person's personal data goes from everywhere we keep
it: the person (email, phone, push token, attributes), their messages (the
address, of which an email keeps only its mailbox provider as "@gmail.com",
and the content), their events (personal fields of the provider
payloads and any value naming them), the suppression list and the audit
trail (the address becomes its SHA-256 digest), the capture backend's
record, the raw webhook inbox and the admin's log. Ids, event types and
times stay, so the metrics do not move and reconcile stays clean. Every
email address of theirs stays on the suppression list only as its digest
(reason ``erased``), which still suppresses it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from django.contrib.admin.models import LogEntry
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.channels import ADDRESSED_TO_PERSON
from campaigns.mailbox import erased_address
from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditAction, AuditEntry, AuditSubject, Change, entry, record
from messaging.audience.suppression import address_digest, normalise_address
from messaging.history import closed, retained_from
from messaging.message_states import (
    assign_state,
    save_message_states,
    state_of_message,
    stored_facts,
)
from messaging.models import (
    CapturedMessage,
    Message,
    MessageEvent,
    Person,
    Suppression,
    SuppressionReason,
    WebhookRequest,
)

ERASED = "[erased]"
# Provider payload keys that hold personal data whatever their value: the
# recipient, the device and where it was.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "to",
        "recipient",
        "from",
        "ip",
        "useragent",
        "user_agent",
        "client-info",
        "geolocation",
        "geo",
        "client",
        "os",
        "platform",
        "destination",
        "phone",
        "device_token",
        "push_token",
    }
)


class Redactor:
    """Replaces the person's values (case-insensitively, and URL-encoded)
    wherever they appear in text."""

    def __init__(self, values: Iterable[str]):
        forms = set()
        for value in values:
            if len(value) < 3:
                continue
            forms.update({value, quote(value, safe=""), quote_plus(value)})
        ordered = sorted(forms, key=len, reverse=True)
        self.pattern = (
            re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE) if ordered else None
        )

    def text(self, value: str) -> str:
        if not value or self.pattern is None:
            return value
        return self.pattern.sub(ERASED, value)

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: ERASED if str(key).lower() in PERSONAL_KEYS else self.json(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def bytes(self, value: bytes) -> bytes:
        if self.pattern is None:
            return value
        pattern = re.compile(self.pattern.pattern.encode(), re.IGNORECASE)
        return pattern.sub(ERASED.encode(), value)


def person_erase(*, person: Person, change: Change) -> Person:
    now = timezone.now()
    with transaction.atomic():
        person = Person.objects.select_for_update().get(pk=person.pk)
        if person.erased_at is not None:
            return person
        messages = list(
            Message.objects.filter(person=person).values_list("id", "channel", "address")
        )
        message_ids = [m[0] for m in messages]
        emails = {normalise_address(person.email)} if person.email else set()
        emails |= {normalise_address(a) for _, ch, a in messages if ch == Channel.EMAIL and a}
        values = {person.email, person.phone, person.push_token, *emails}
        values |= {a for _, ch, a in messages if ch in ADDRESSED_TO_PERSON and a}
        values = {v for v in values if v}
        redactor = Redactor(values)

        _suppressions(person, emails, change, now)
        _audit_trail(person, emails, redactor)
        _messages(messages, redactor, now)
        _captured(message_ids, redactor)
        _webhook_inbox(values, redactor)
        _admin_log(values, redactor)

        person.email = person.phone = person.push_token = ""
        person.attributes = {}
        person.erased_at = now
        person.deleted_at = person.deleted_at or now
        person.save()
    return person


def _suppressions(person: Person, emails: set[str], change: Change, now) -> None:
    """Each address leaves the list as itself and stays as its digest."""
    existing = list(Suppression.objects.filter(address__in=emails))
    Suppression.objects.filter(address__in=emails).delete()
    reasons = {row.address: row.reason for row in existing}
    digests = {email: address_digest(email) for email in emails}
    present = set(
        Suppression.objects.filter(address__in=digests.values()).values_list("address", flat=True)
    )
    Suppression.objects.bulk_create(
        [
            Suppression(address=digest, reason=SuppressionReason.ERASED)
            for digest in digests.values()
            if digest not in present
        ]
    )
    rows = [
        entry(
            change=change,
            subject=AuditSubject.SUPPRESSION,
            action=AuditAction.ERASED,
            address=digest,
            person_id=person.pk,
            reason="personal data erased; the address stays suppressed as its digest"
            + (f" (was {reasons[email]})" if email in reasons else ""),
            at=now,
        )
        for email, digest in sorted(digests.items())
    ]
    if not rows:
        rows.append(
            entry(
                change=change,
                subject=AuditSubject.SUBSCRIPTION,
                action=AuditAction.ERASED,
                person_id=person.pk,
                reason="personal data erased",
                at=now,
            )
        )
    record(rows)


def _audit_trail(person: Person, emails: set[str], redactor: Redactor) -> None:
    # The one rewrite the trail allows (the migration's trigger checks it):
    # the address becomes its digest and a reason naming a value is redacted.
    base = AuditEntry._base_manager
    for email in emails:
        base.filter(address=email).update(address=address_digest(email))
    if redactor.pattern is None:
        return
    mentions = Q(person_id=person.pk) | Q(address__in=[address_digest(e) for e in emails])
    for row_id, reason in base.filter(mentions).values_list("id", "reason"):
        redacted = redactor.text(reason)
        if redacted != reason:
            base.filter(id=row_id).update(reason=redacted)


def _messages(messages: list[tuple[int, str, str]], redactor: Redactor, now) -> None:
    """``messages``: the person's (id, channel, address)."""
    if not messages:
        return
    message_ids = [message_id for message_id, _, _ in messages]
    # An email address keeps only its mailbox provider (campaigns.mailbox),
    # which its deliverability counters are filed under.
    kept: dict[str, list[int]] = defaultdict(list)
    for message_id, channel, address in messages:
        if channel in ADDRESSED_TO_PERSON:
            kept[erased_address(address) if channel == Channel.EMAIL else ""].append(message_id)
    for address, ids in kept.items():
        Message.objects.filter(id__in=ids).update(address=address)
    Message.objects.filter(id__in=message_ids).update(subject="", body="")
    changed = []
    for event in MessageEvent.objects.filter(message_id__in=message_ids).only(
        "id", "detail", "reason", "idempotency_key"
    ):
        detail = redactor.json(event.detail)
        reason = redactor.text(event.reason)
        if detail != event.detail or reason != event.reason:
            event.detail, event.reason = detail, reason
            changed.append(event)
    MessageEvent.objects.bulk_update(changed, ["detail", "reason"], batch_size=500)
    if redactor.pattern is None:
        return
    # A failure reason is derived from the events' reasons: derive it again.
    facts: dict[int, list] = {}
    for message_id, fact in stored_facts(message_ids):
        facts.setdefault(message_id, []).append(fact)
    drifted = []
    # A message whose history was pruned (messaging.history) keeps its
    # derived fields: it has no events left to derive them from.
    pruned_before = retained_from()
    for message in Message.objects.filter(id__in=message_ids):
        if closed(message.created_at, pruned_before):
            state = None
        else:
            state = state_of_message(message, facts.get(message.id, []))
        if state is not None and assign_state(message, state):
            drifted.append(message)
        elif state is None and redactor.text(message.failure_reason) != message.failure_reason:
            message.failure_reason = redactor.text(message.failure_reason)
            drifted.append(message)
    save_message_states(drifted, now)


def _captured(message_ids: list[int], redactor: Redactor) -> None:
    # The capture backend's own record of what it accepted: the provider
    # deletes a data subject's content on request too.
    if message_ids:
        CapturedMessage.objects.filter(message_id__in=message_ids).update(
            address="", subject="", body=""
        )


def _webhook_inbox(values: set[str], redactor: Redactor) -> None:
    """Raw provider requests naming the person: the values are redacted in
    the stored body (the request was applied; its signature no longer
    matters) and headers."""
    if redactor.pattern is None:
        return
    needles = sorted({form.encode() for v in values for form in (v, quote_plus(v), quote(v))})
    ids: set[int] = set()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for needle in needles:
                cursor.execute(
                    f"SELECT id FROM {WebhookRequest._meta.db_table} "
                    "WHERE position(%s::bytea in body) > 0",
                    [needle],
                )
                ids.update(row[0] for row in cursor.fetchall())
    else:
        for row_id, body in WebhookRequest.objects.values_list("id", "body"):
            if any(needle in bytes(body) for needle in needles):
                ids.add(row_id)
    for row in WebhookRequest.objects.filter(id__in=ids):
        row.body = redactor.bytes(bytes(row.body))
        row.headers = redactor.json(row.headers)
        row.save(update_fields=["body", "headers"])


def _admin_log(values: set[str], redactor: Redactor) -> None:
    # The admin's history names a suppression by its address.
    if not values:
        return
    mentions = Q()
    for value in values:
        mentions |= Q(object_repr__icontains=value) | Q(change_message__icontains=value)
    for log in LogEntry.objects.filter(mentions):
        log.object_repr = redactor.text(log.object_repr)
        log.change_message = redactor.text(log.change_message)
        log.save(update_fields=["object_repr", "change_message"])
