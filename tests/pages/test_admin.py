import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.vocabulary import Channel
from messaging.audience.suppression import suppression_add
from messaging.models import Message, Person, Suppression
from tests import factories
from tests.pages.helpers import journey

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/messaging/suppression/"


@pytest.fixture(autouse=True)
def _capture_providers(settings):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )


def act(client, url: str, action: str, objects) -> object:
    return client.post(
        url,
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )


def test_drafts_are_sent_in_bulk_and_other_messages_left_alone(logged_in):
    drafts_action = factories.action(Channel.EMAIL, send_as_draft=True)
    drafts = [factories.message(action_obj=drafts_action) for _ in range(3)]
    sent = factories.message(Channel.EMAIL)
    journey(sent, "delivered")
    response = act(logged_in, "/admin/messaging/message/", "send_drafts", [*drafts, sent])
    assert response.status_code == 200
    assert {m.status for m in Message.objects.filter(pk__in=[d.pk for d in drafts])} == {"queued"}
    assert Message.objects.get(pk=sent.pk).status == "delivered"
    assert "Queued 3 messages" in response.content.decode()


def test_failed_messages_are_retried_in_bulk(logged_in):
    failed = [factories.message(Channel.SMS) for _ in range(2)]
    for message in failed:
        journey(message, ("failed", {"reason": "timeout"}))
    act(logged_in, "/admin/messaging/message/", "retry_failed", failed)
    assert {m.status for m in Message.objects.filter(pk__in=[m.pk for m in failed])} == {"queued"}


def test_messages_are_read_only_in_the_admin(logged_in):
    message = factories.message(Channel.EMAIL)
    assert logged_in.get("/admin/messaging/message/add/").status_code == 403
    page = logged_in.get(f"/admin/messaging/message/{message.id}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()
    filtered = logged_in.get(
        f"/admin/messaging/message/?status=queued&campaign__id__exact={message.campaign_id}"
    )
    assert [m.pk for m in filtered.context["cl"].result_list] == [message.pk]


def test_people_are_unsubscribed_and_deleted_through_the_services(logged_in):
    people = [factories.person() for _ in range(2)]
    act(logged_in, "/admin/messaging/person/", "unsubscribe_people", people[:1])
    act(logged_in, "/admin/messaging/person/", "delete_people", people[1:])
    first, second = (Person.objects.get(pk=p.pk) for p in people)
    assert first.unsubscribed_at is not None and first.deleted_at is None
    assert second.deleted_at is not None and second.unsubscribed_at is None
    found = logged_in.get("/admin/messaging/person/", {"q": people[0].email})
    assert [p.pk for p in found.context["cl"].result_list] == [people[0].pk]


def test_a_suppression_is_added_normalised_with_its_author(logged_in, staff):
    response = logged_in.post(
        f"{CHANGELIST}add/",
        {"address": "  Mixed@Example.COM ", "reason": "manual", "note": "asked"},
    )
    assert response.status_code == 302
    entry = Suppression.objects.get()
    assert entry.address == "mixed@example.com" and entry.created_by == staff


def test_the_same_address_in_another_case_is_refused(logged_in):
    suppression_add(address="taken@example.com")
    response = logged_in.post(
        f"{CHANGELIST}add/", {"address": "TAKEN@example.com", "reason": "manual"}
    )
    assert response.status_code == 200
    assert "already on the suppression list" in response.content.decode()
    assert Suppression.objects.count() == 1


def test_only_the_note_of_an_entry_is_edited(logged_in):
    entry = suppression_add(address="keep@example.com", reason="hard_bounce")
    logged_in.post(
        f"{CHANGELIST}{entry.pk}/change/",
        {"address": "other@example.com", "reason": "manual", "note": "checked"},
    )
    entry.refresh_from_db()
    assert (entry.address, entry.reason, entry.note) == (
        "keep@example.com",
        "hard_bounce",
        "checked",
    )


def test_suppressions_are_removed_one_by_one_or_in_bulk(logged_in):
    entries = [suppression_add(address=f"r{n}@example.com") for n in range(4)]
    logged_in.post(f"{CHANGELIST}{entries[0].pk}/delete/", {"post": "yes"})
    assert not Suppression.objects.filter(pk=entries[0].pk).exists()
    logged_in.post(
        CHANGELIST,
        {
            "action": "delete_selected",
            "_selected_action": [e.pk for e in entries[1:3]],
            "post": "yes",
        },
    )
    assert list(Suppression.objects.values_list("address", flat=True)) == ["r3@example.com"]


def test_the_import_form_reports_added_skipped_and_invalid_rows(logged_in):
    suppression_add(address="dup@example.com")
    upload = SimpleUploadedFile(
        "list.csv", b"address,reason\nDUP@example.com,\nfresh@example.com,\nbad,\n", "text/csv"
    )
    response = logged_in.post(f"{CHANGELIST}import/", {"file": upload})
    report = response.context["report"]
    assert (len(report.added), len(report.skipped), len(report.invalid)) == (1, 1, 1)
    html = response.content.decode()
    assert 'id="report-invalid">1<' in html and "not an email address" in html
    assert Suppression.objects.filter(address="fresh@example.com").exists()


def test_the_export_follows_the_change_list_filters(logged_in):
    suppression_add(address="m@example.com")
    suppression_add(address="h@example.com", reason="hard_bounce")
    response = logged_in.get(f"{CHANGELIST}export/", {"reason__exact": "hard_bounce"})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["address"] for row in rows] == ["h@example.com"]
    everything = logged_in.get(f"{CHANGELIST}export/")
    assert (
        len(list(csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode())))) == 2
    )


def test_the_change_list_links_to_import_and_export(logged_in):
    html = logged_in.get(CHANGELIST).content.decode()
    assert f'href="{CHANGELIST}import/"' in html and f'href="{CHANGELIST}export/"' in html


def test_staff_without_permissions_cannot_import_or_export(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw-clerk-1", is_staff=True)
    client.force_login(user)
    assert client.get(f"{CHANGELIST}import/").status_code == 403
    assert client.get(f"{CHANGELIST}export/").status_code == 403
