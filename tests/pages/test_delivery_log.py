import csv
import io

import pytest

from campaigns.vocabulary import Channel
from messaging.models import Message
from messaging.sending import message_discard
from tests import factories
from tests.pages.helpers import bulk_messages

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [row["id"] for row in response.context["rows"]]


def follow(logged_in, link: str):
    return logged_in.get("/deliveries/" + link)


@pytest.fixture
def log():
    campaign = factories.campaign(name="Log")
    email = factories.action(Channel.EMAIL, campaign_obj=campaign)
    sms = factories.action(Channel.SMS, campaign_obj=campaign, links=())
    delivered_email = bulk_messages(email, 120, "delivered")
    bulk_messages(email, 4, "delivered", "opened")
    bulk_messages(sms, 6, "delivered")
    return {"campaign": campaign, "email": email, "sms": sms, "delivered_email": delivered_email}


def test_the_log_shows_each_message_newest_first_with_its_current_status(logged_in, log):
    response = logged_in.get("/deliveries/")
    rows = response.context["rows"]
    assert [row["id"] for row in rows] == sorted((row["id"] for row in rows), reverse=True)
    assert len(rows) == 50
    newest = Message.objects.order_by("-id").first()
    assert rows[0]["id"] == newest.id and rows[0]["status"] == newest.status
    html = response.content.decode()
    assert f'class="badge status-{newest.status}"' in html
    assert newest.address in html


def test_filters_by_status_and_channel_keep_only_matching_rows(logged_in, log):
    response = logged_in.get("/deliveries/?status=delivered&channel=sms")
    rows = response.context["rows"]
    assert len(rows) == 6
    assert {(row["status"], row["channel"]) for row in rows} == {("delivered", "sms")}
    opened = logged_in.get(f"/deliveries/?action={log['email'].id}&status=opened")
    assert len(opened.context["rows"]) == 4


def test_the_recipient_search_finds_a_message_by_address_or_person(logged_in, log):
    message = log["delivered_email"][7]
    for q in (message.address, message.address.upper(), message.person.external_id):
        assert ids(logged_in.get("/deliveries/", {"q": q})) == [message.id], q


def test_the_date_range_keeps_messages_created_inside_it(logged_in, log):
    newest = Message.objects.order_by("-id").first()
    since = newest.created_at.isoformat()
    inside = logged_in.get("/deliveries/", {"since": since})
    assert newest.id in ids(inside)
    before = logged_in.get("/deliveries/", {"until": since})
    assert newest.id not in ids(before)


def test_an_invalid_filter_shows_its_error_and_no_rows(logged_in, log):
    response = logged_in.get("/deliveries/?status=nonsense")
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "status" in response.context["errors"]


def test_keyset_pages_walk_older_and_back_newer_without_gaps_or_repeats(logged_in, log):
    expected = list(
        Message.objects.filter(status="delivered", channel="email")
        .order_by("-id")
        .values_list("id", flat=True)
    )
    seen, pages = [], []
    response = logged_in.get("/deliveries/?status=delivered&channel=email")
    while True:
        pages.append(ids(response))
        seen += ids(response)
        older = response.context["links"].get("older")
        if not older:
            break
        assert "before=" in older and "status=delivered" in older and "channel=email" in older
        response = follow(logged_in, older)
    assert seen == expected and len(pages) == 3
    assert response.context["links"].get("newer")
    back = follow(logged_in, response.context["links"]["newer"])
    assert ids(back) == pages[1]
    first = follow(logged_in, back.context["links"]["newer"])
    assert ids(first) == pages[0]
    assert "newer" not in first.context["links"]


def test_the_log_never_offsets_or_counts_the_table(logged_in, log, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cursor = log["delivered_email"][60].id
    with CaptureQueriesContext(connection) as queries:
        logged_in.get(f"/deliveries/?status=delivered&before={cursor}")
    sql = " ".join(q["sql"].upper() for q in queries)
    assert "OFFSET" not in sql and "COUNT(" not in sql
    page_sql = next(q["sql"] for q in queries if '"messaging_message"."status"' in q["sql"])
    assert f'"messaging_message"."id" < {cursor}' in page_sql


def test_a_discarded_draft_leaves_the_log(logged_in):
    action = factories.action(Channel.EMAIL, send_as_draft=True)
    kept, dropped = factories.message(action_obj=action), factories.message(action_obj=action)
    message_discard(message=dropped)
    assert ids(logged_in.get("/deliveries/?status=drafted")) == [kept.id]


def read_csv(response) -> list[dict]:
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_csv_export_streams_every_filtered_row_after_one_header(logged_in, log, settings):
    import messaging.views

    # Small chunks so the export has to walk several keyset chunks.
    original = messaging.views.EXPORT_CHUNK
    messaging.views.EXPORT_CHUNK = 7
    try:
        response = logged_in.get("/deliveries/?status=delivered&channel=email&export=csv")
        rows = read_csv(response)
    finally:
        messaging.views.EXPORT_CHUNK = original
    expected = list(
        Message.objects.filter(status="delivered", channel="email")
        .order_by("-id")
        .values_list("id", flat=True)
    )
    assert [int(row["id"]) for row in rows] == expected
    first = Message.objects.get(pk=expected[0])
    assert rows[0]["address"] == first.address
    assert rows[0]["status"] == "delivered"
    assert rows[0]["sent_at"] == first.sent_at.isoformat()
    assert rows[0]["campaign_name"] == "Log"


def test_the_export_ignores_the_page_cursor_and_defuses_spreadsheet_formulas(logged_in):
    campaign = factories.campaign(name='=HYPERLINK("http://evil")')
    action = factories.action(Channel.EMAIL, campaign_obj=campaign)
    messages = bulk_messages(action, 3, "delivered")
    response = logged_in.get(f"/deliveries/?export=csv&before={messages[0].id}")
    rows = read_csv(response)
    assert len(rows) == 3
    assert rows[0]["campaign_name"].startswith("'=")
