"""GET /api/v1/audit/ is newest first by each change's own time (``at``),
which is not id order: a provider's change is dated at its event, an expiry
at the moment it expired. Its cursor walks every row exactly once, through
any number of rows with the same ``at``."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.audience.audit import AuditAction, AuditSource, AuditSubject, Change, record
from messaging.audience.audit import entry as audit_entry

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def insert(*minutes: float) -> list[int]:
    """Audit rows in this insertion (id) order, each ``minutes`` after T0;
    returns their ids."""
    rows = [
        audit_entry(
            change=Change(source=AuditSource.PROVIDER),
            subject=AuditSubject.SUPPRESSION,
            action=AuditAction.ADDED,
            address=f"a{n}@example.com",
            at=T0 + timedelta(minutes=m),
        )
        for n, m in enumerate(minutes)
    ]
    record(rows)
    return [row.pk for row in rows]


def newest_first(ids: list[int], minutes: tuple[float, ...]) -> list[str]:
    by_id = dict(zip(ids, minutes, strict=True))
    order = sorted(ids, key=lambda pk: (by_id[pk], pk), reverse=True)
    return [f"a{ids.index(pk)}@example.com" for pk in order]


def walk(api, url: str, link: str = "next") -> list[str]:
    """Every row of every page, following the ``link`` links."""
    seen = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        seen.extend(row["address"] for row in body["results"])
        url = body[link]
    return seen


# Out of id order, with a provider's backdated rows and three rows at one time.
MINUTES = (5, 1, 3, 3, 9, 1, 3, 0, 7)


def test_the_audit_list_is_newest_first_by_at_with_ties_by_id(api):
    ids = insert(*MINUTES)
    rows = api.get("/api/v1/audit/").json()["results"]
    assert [row["address"] for row in rows] == newest_first(ids, MINUTES)
    ats = [datetime.fromisoformat(row["at"]) for row in rows]
    assert ats == sorted(ats, reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_walking_the_pages_yields_every_row_once_in_order(api, limit):
    ids = insert(*MINUTES)
    expected = newest_first(ids, MINUTES)
    forward = walk(api, f"/api/v1/audit/?limit={limit}")
    assert forward == expected
    # And back: from the last page, the previous links give the same rows.
    url = f"/api/v1/audit/?limit={limit}"
    while (body := api.get(url).json())["next"]:
        url = body["next"]
    pages = [[row["address"] for row in body["results"]]]
    while url := body["previous"]:
        body = api.get(url).json()
        pages.insert(0, [row["address"] for row in body["results"]])
    assert [address for page in pages for address in page] == expected
    assert all(len(page) == limit for page in pages[:-1])


def test_a_tie_larger_than_an_offset_could_skip_is_walked_once(api):
    # One batch (a CSV import, a sweep) writes its rows with one ``at``: more
    # of them than DRF's position + offset cursor can skip (1000).
    minutes = (0,) * 1203 + (1, -1)
    ids = insert(*minutes)
    assert walk(api, "/api/v1/audit/?limit=500") == newest_first(ids, minutes)


def test_since_still_filters_and_pages(api):
    ids = insert(*MINUTES)
    since = (T0 + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    newest = zip(newest_first(ids, MINUTES), sorted(MINUTES, reverse=True), strict=True)
    expected = [address for address, minute in newest if minute >= 3]
    assert walk(api, f"/api/v1/audit/?since={since}&limit=1") == expected
    assert len(expected) == 6


def test_a_deep_page_costs_what_the_first_does(api):
    insert(*range(30))
    first = api.get("/api/v1/audit/?limit=2").json()
    with CaptureQueriesContext(connection) as at_first:
        api.get("/api/v1/audit/?limit=2")
    url = first["next"]
    for _ in range(10):
        url = api.get(url).json()["next"]
    with CaptureQueriesContext(connection) as deep:
        api.get(url)
    assert len(deep) == len(at_first)
    [page_query] = [q["sql"] for q in deep if "messaging_auditentry" in q["sql"]]
    # A seek on (at, id), never an OFFSET over the rows before.
    assert "OFFSET" not in page_query
    assert '("messaging_auditentry"."at", "messaging_auditentry"."id") <' in page_query


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        _cursor("p=abc"),
        _cursor("p=123"),  # an id cursor of another list
        _cursor("p=1_2_3"),
        _cursor("p=1772366400000000_"),
        _cursor("p=999999999999999999_1"),  # past year 9999
        _cursor("p=-999999999999999999_1"),
        _cursor("p=1772366400000000_99999999999999999999"),
        _cursor("p=1772366400000000_9223372036854775808"),
        _cursor("r=x&p=1772366400000000_1"),
        _cursor("p=1772366400000000_1\x00"),
    ],
)
def test_a_malformed_or_tampered_cursor_is_a_400(api, cursor):
    insert(1, 2)
    response = api.get("/api/v1/audit/", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}


def test_a_well_formed_cursor_of_a_time_before_any_row_is_an_empty_page(api):
    insert(1, 2)
    body = api.get("/api/v1/audit/", {"cursor": _cursor("p=0_1")}).json()
    assert body["results"] == [] and body["next"] is None
