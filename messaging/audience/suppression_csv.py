"""Suppression list CSV import and export (the admin's upload form and
download link call these).

Import reads the whole file before writing anything, then adds every valid
new address in one transaction: a file is applied whole or not at all, and
the report says which rows were added, skipped (already suppressed, or
repeated in the file) and invalid (with the line and the reason).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messaging.audience.audit import AuditSource, Change
from messaging.audience.suppression import (
    normalise_address,
    reason_refusal,
    suppressions_added,
    suppressions_expire,
)
from messaging.csv_export import csv_lines
from messaging.models import Suppression, SuppressionReason

EXPORT_COLUMNS = (
    "address",
    "reason",
    "note",
    "message",
    "created_by",
    "created_at",
    "expires_at",
)
MAX_ROWS = 100_000
_NOTE_MAX = Suppression._meta.get_field("note").max_length
_ADDRESS_MAX = Suppression._meta.get_field("address").max_length


class ImportRefused(ValueError):
    """The file as a whole cannot be read (not CSV text, no address column,
    too many rows); nothing was applied."""


@dataclass
class InvalidRow:
    line: int
    value: str
    reason: str


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    invalid: list[InvalidRow] = field(default_factory=list)
    dry_run: bool = False

    @property
    def summary(self) -> str:
        verb = "would add" if self.dry_run else "added"
        return (
            f"{verb} {len(self.added)}, skipped {len(self.skipped)} "
            f"(already suppressed or repeated), invalid {len(self.invalid)}"
        )


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRefused("The file is not UTF-8 text.") from None


def _rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) with lower-cased column names. A file whose first
    row has no "address" column is read as one address per line."""
    reader = csv.reader(io.StringIO(text))
    try:
        first = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportRefused(f"Not a CSV file: {exc}") from None
    header = [name.strip().lower() for name in first]
    if "address" in header or "email" in header:
        columns = ["address" if name == "email" else name for name in header]
    else:
        columns = ["address", "reason", "note"][: max(1, len(first))]
        yield reader.line_num, dict(zip(columns, first, strict=False))
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            yield reader.line_num, dict(zip(columns, row, strict=False))
    except csv.Error as exc:
        raise ImportRefused(f"Line {reader.line_num}: {exc}") from None


def suppressions_import(
    *,
    data: bytes,
    created_by: AbstractBaseUser | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Columns: address (or email), reason (manual by default; hard_bounce,
    spam_complaint, …), note, expires_at (ISO 8601 with a zone, in the
    future; empty = never); other columns are ignored, so an export imports
    back as it is, but for soft_bounce and erased rows, which only the
    policy and erase make (audience.suppression.reason_refusal)."""
    report = ImportReport(dry_run=dry_run)
    candidates: dict[str, Suppression] = {}
    count = 0
    for line, row in _rows(_decode(data)):
        count += 1
        if count > MAX_ROWS:
            raise ImportRefused(f"More than {MAX_ROWS:,} rows: split the file.")
        raw = (row.get("address") or "").strip()
        address = normalise_address(raw)
        reason = (row.get("reason") or "").strip().lower() or SuppressionReason.MANUAL
        note = (row.get("note") or "").strip()
        raw_expiry = (row.get("expires_at") or "").strip()
        expires_at = _parse_expiry(raw_expiry)
        problem = _problem(address, reason, note) or _expiry_problem(raw_expiry, expires_at)
        if problem:
            report.invalid.append(InvalidRow(line=line, value=raw, reason=problem))
            continue
        if address in candidates:
            report.skipped.append(address)
            continue
        candidates[address] = Suppression(
            address=address,
            reason=reason,
            note=note,
            created_by=created_by if created_by and created_by.is_authenticated else None,
            expires_at=expires_at,
        )

    with transaction.atomic():
        if not dry_run:
            # An expired entry no longer suppresses: a new row replaces it.
            suppressions_expire(addresses=list(candidates))
        existing = set(
            Suppression.objects.filter(address__in=candidates.keys()).values_list(
                "address", flat=True
            )
        )
        new = [row for address, row in candidates.items() if address not in existing]
        report.skipped.extend(sorted(existing))
        if not dry_run:
            # A concurrent add of the same address is skipped, not an error.
            Suppression.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
            change = Change(source=AuditSource.IMPORT, actor=created_by)
            suppressions_added((row, change) for row in new)
        report.added = [row.address for row in new]
    return report


def _parse_expiry(raw: str):
    if not raw:
        return None
    try:
        return parse_datetime(raw)
    except ValueError:  # well-formed but impossible (month 13)
        return None


def _expiry_problem(raw: str, expires_at) -> str:
    if not raw:
        return ""
    if expires_at is None or expires_at.tzinfo is None:
        return "expires_at is not an ISO 8601 time with a zone"
    if expires_at <= timezone.now():
        return "expires_at is in the past"
    return ""


def _problem(address: str, reason: str, note: str) -> str:
    if not address:
        return "no address"
    if len(address) > _ADDRESS_MAX:
        return f"address longer than {_ADDRESS_MAX} characters"
    try:
        validate_email(address)
    except ValidationError:
        return "not an email address"
    refusal = reason_refusal(reason)
    if refusal:
        return refusal
    if len(note) > _NOTE_MAX:
        return f"note longer than {_NOTE_MAX} characters"
    return ""


def suppressions_export_lines(queryset: Iterable[Suppression] | None = None) -> Iterator[str]:
    """CSV lines (header first) of the given suppressions, or of all, read in
    keyset chunks so a long list streams in constant memory."""
    return csv_lines(EXPORT_COLUMNS, _export_rows(queryset))


def _export_rows(queryset: Iterable[Suppression] | None) -> Iterator[list]:
    base = Suppression.objects.all() if queryset is None else queryset
    base = base.order_by("id").values_list(
        "id",
        "address",
        "reason",
        "note",
        "message_id",
        "created_by__username",
        "created_at",
        "expires_at",
    )
    last = 0
    while True:
        chunk = list(base.filter(id__gt=last)[:2000])
        if not chunk:
            return
        for _, *row in chunk:
            yield row
        last = chunk[-1][0]
