import csv
import io

import pytest

from messaging.audience.suppression import suppression_add
from messaging.audience.suppression_csv import (
    ImportRefused,
    suppressions_export_lines,
    suppressions_import,
)
from messaging.models import Suppression

pytestmark = pytest.mark.django_db


def addresses() -> set[str]:
    return set(Suppression.objects.values_list("address", flat=True))


def test_an_import_adds_valid_rows_and_reports_skipped_and_invalid_ones(staff):
    suppression_add(address="old@example.com")
    report = suppressions_import(
        data=(
            b"address,reason,note\n"
            b"New@Example.com,,from the old system\n"
            b"OLD@example.com,manual,\n"
            b"new@example.com,hard_bounce,repeated\n"
            b"not an address,,\n"
            b"bounce@example.com,hard_bounce,\n"
            b"x@example.com,angry,\n"
            b"\n"
        ),
        created_by=staff,
    )
    assert sorted(report.added) == ["bounce@example.com", "new@example.com"]
    assert sorted(report.skipped) == ["new@example.com", "old@example.com"]
    assert [(row.line, row.value) for row in report.invalid] == [
        (5, "not an address"),
        (7, "x@example.com"),
    ]
    assert "unknown reason 'angry'" in report.invalid[1].reason
    assert addresses() == {"old@example.com", "new@example.com", "bounce@example.com"}
    new = Suppression.objects.get(address="new@example.com")
    assert new.note == "from the old system" and new.reason == "manual"
    assert new.created_by == staff
    assert Suppression.objects.get(address="bounce@example.com").reason == "hard_bounce"


def test_a_file_without_a_header_is_one_address_per_line():
    report = suppressions_import(data=b"a@example.com\nb@example.com\n")
    assert sorted(report.added) == ["a@example.com", "b@example.com"]


def test_a_dry_run_reports_and_changes_nothing():
    report = suppressions_import(data=b"address\na@example.com\n", dry_run=True)
    assert report.added == ["a@example.com"] and report.dry_run
    assert addresses() == set()


def test_a_file_that_cannot_be_read_to_its_end_applies_nothing():
    # Valid rows first, then bytes that are not UTF-8: nothing is half-applied.
    with pytest.raises(ImportRefused):
        suppressions_import(data=b"address\na@example.com\nb@example.com\n\xff\xfe\n")
    with pytest.raises(ImportRefused):
        # A field over the csv module's size limit breaks the file at its end.
        suppressions_import(data=b'address\na@example.com\n"' + b"x" * 200_000 + b'"\n')
    assert addresses() == set()


def test_an_export_lists_every_entry_and_imports_back_unchanged(staff):
    for n in range(5):
        suppression_add(address=f"p{n}@example.com", note=f"=cmd {n}", created_by=staff)
    lines = list(suppressions_export_lines())
    rows = list(csv.DictReader(io.StringIO("".join(lines))))
    assert [row["address"] for row in rows] == [f"p{n}@example.com" for n in range(5)]
    assert rows[0]["created_by"] == "marketer"
    assert rows[0]["note"] == "'=cmd 0"  # never a spreadsheet formula
    report = suppressions_import(data="".join(lines).encode())
    assert report.added == [] and len(report.skipped) == 5 and report.invalid == []
