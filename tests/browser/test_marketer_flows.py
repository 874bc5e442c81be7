"""The pages as a person uses them, in real headless Chromium."""

import csv

import pytest

from campaigns.vocabulary import Channel
from messaging.models import Message, Suppression
from tests import factories
from tests.browser.conftest import log_in, shot
from tests.pages.helpers import bulk_messages, journey

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_marketer_logs_in_and_reads_a_campaign_with_its_chart(page, admin_user):
    campaign = factories.campaign(name="Spring launch")
    email = factories.action(Channel.EMAIL, campaign_obj=campaign, name="Announcement")
    bulk_messages(email, 6, "delivered", "opened", "clicked")
    bulk_messages(email, 4, "delivered")

    page.goto("/")
    assert "/accounts/login/" in page.url  # anonymous: the login page first
    log_in(page)
    shot(page, "campaigns")
    row = page.locator(f"tr[data-campaign='{campaign.id}']")
    assert row.locator("[data-metric=sent]").inner_text() == "10"
    assert row.locator("[data-metric=open_rate]").inner_text() == "60.0%"

    row.get_by_role("link", name="Spring launch").click()
    page.wait_for_url(f"**/campaigns/{campaign.id}/")
    chart = page.locator("#series-chart")
    chart.wait_for()
    lines = chart.locator("polyline")
    assert lines.count() == 5
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100  # drawn, not collapsed
    assert lines.first.get_attribute("points").count(",") >= 1
    assert page.locator("#funnel [data-metric=clicked]").inner_text() == "6"
    shot(page, "campaign")

    page.get_by_role("link", name="by event date").click()
    page.wait_for_url("**basis=event**")
    assert page.locator("#series-chart polyline").count() == 5

    # Responsive: on a phone the page fits its width (wide tables scroll
    # inside their own box).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "campaign-phone")


def test_the_delivery_log_filters_pages_opens_a_timeline_and_exports(page, admin_user):
    campaign = factories.campaign(name="Log campaign")
    email = factories.action(Channel.EMAIL, campaign_obj=campaign, name="Mail")
    sms = factories.action(Channel.SMS, campaign_obj=campaign, name="Text", links=())
    bulk_messages(email, 60, "delivered")  # 60 delivered emails: two pages
    payload = {"event": "click", "url": "https://example.com/a", "sg_event_id": "e1"}
    bulk_messages(email, 5, "delivered", "opened", ("clicked", {"detail": payload}))
    bulk_messages(sms, 7, "delivered")
    bulk_messages(email, 3)  # sent only

    log_in(page, next_path="/deliveries/")
    page.select_option("select[name=status]", "delivered")
    page.select_option("select[name=channel]", "email")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**status=delivered**")
    rows = page.locator("table.log tbody tr")
    assert rows.count() == 50
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.status)")) == {"delivered"}
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.channel)")) == {"email"}
    shot(page, "deliveries")
    first_page = rows.evaluate_all("rs => rs.map(r => r.dataset.message)")

    page.locator("#page-older").click()
    page.wait_for_url("**before=**")
    older = page.locator("table.log tbody tr").evaluate_all("rs => rs.map(r => r.dataset.message)")
    assert len(older) == 10 and not set(older) & set(first_page)
    assert page.locator("#page-older").count() == 0
    page.locator("#page-newer").click()
    page.wait_for_url("**after=**")
    back = page.locator("table.log tbody tr").evaluate_all("rs => rs.map(r => r.dataset.message)")
    assert back == first_page

    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    download = download_info.value
    with open(download.path(), encoding="utf-8") as exported:
        rows_csv = list(csv.DictReader(exported))
    assert len(rows_csv) == 60
    assert {row["status"] for row in rows_csv} == {"delivered"}

    clicked = Message.objects.filter(status="clicked").first()
    page.goto(f"/deliveries/?campaign={campaign.id}&status=clicked")
    page.get_by_role("link", name=str(clicked.id), exact=True).click()
    page.wait_for_url(f"**/messages/{clicked.id}/")
    assert page.locator("#current-status").inner_text() == "clicked"
    timeline = page.locator("#timeline tbody tr")
    types = timeline.evaluate_all("rs => rs.map(r => r.dataset.type)")
    assert types[:2] == ["queued", "sent"] and "clicked" in types
    payload_view = page.locator("#timeline pre.payload")
    assert not payload_view.is_visible()  # raw payload only on demand
    page.locator("#timeline details summary").first.click()
    assert payload_view.is_visible() and "sg_event_id" in payload_view.inner_text()
    shot(page, "message")


def test_a_failed_message_is_retried_from_its_page(page, admin_user, settings):
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )
    message = factories.message(Channel.EMAIL)
    journey(message, ("failed", {"reason": "provider unreachable"}))
    log_in(page, next_path=f"/messages/{message.id}/")
    assert "provider unreachable" in page.locator("#failure-reason").inner_text()
    page.get_by_role("button", name="Retry").click()
    page.wait_for_load_state()
    assert "queued for a retry" in page.locator(".flash").inner_text()
    assert Message.objects.get(pk=message.pk).status != "failed"


def test_an_admin_adds_removes_and_imports_suppressions(page, admin_user, tmp_path):
    log_in(page, next_path="/admin/messaging/suppression/")
    page.get_by_role("link", name="Add suppression").click()
    page.fill("#id_address", "  Someone@Example.COM ")
    page.fill("#id_note", "asked by phone")
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/admin/messaging/suppression/")
    results = page.locator("#result_list")
    assert results.get_by_role("link", name="someone@example.com").count() == 1
    entry = Suppression.objects.get(address="someone@example.com")
    assert entry.note == "asked by phone" and entry.created_by == admin_user

    results.get_by_role("link", name="someone@example.com").click()
    page.get_by_role("link", name="Delete").click()
    page.locator("input[type=submit]").click()  # "Yes, I'm sure"
    page.wait_for_url("**/admin/messaging/suppression/")
    assert not Suppression.objects.filter(address="someone@example.com").exists()

    upload = tmp_path / "suppressions.csv"
    upload.write_text(
        "address,reason,note\n"
        "a@example.com,manual,first\n"
        "not-an-address,manual,bad row\n"
        "B@example.com,hard_bounce,\n"
    )
    page.get_by_role("link", name="Import CSV").click()
    page.set_input_files("input[name=file]", str(upload))
    page.locator("#import-form input[type=submit]").click()
    page.locator("#import-report").wait_for()
    assert page.locator("#report-added").inner_text() == "2"
    assert page.locator("#report-invalid").inner_text() == "1"
    assert "not-an-address" in page.locator("#invalid-rows").inner_text()
    shot(page, "suppression-import")
    assert set(Suppression.objects.values_list("address", flat=True)) == {
        "a@example.com",
        "b@example.com",
    }


def test_a_mixed_channel_campaign_shows_rates_over_the_channels_that_track_them(page, admin_user):
    campaign = factories.campaign(name="Mixed channels")
    email = factories.action(Channel.EMAIL, campaign_obj=campaign, name="Mail")
    sms = factories.action(Channel.SMS, campaign_obj=campaign, name="Text", links=())
    push = factories.action(Channel.PUSH, campaign_obj=campaign, name="Push", links=())
    bulk_messages(email, 2, "delivered", "opened", "clicked")
    bulk_messages(email, 2, "delivered", "opened")
    bulk_messages(email, 3, "delivered")
    bulk_messages(email, 1, "delivered", ("bounced", {"bounce_type": "hard"}))
    # Sent, and the provider only confirmed taking them.
    bulk_messages(email, 2, "accepted")
    bulk_messages(sms, 3, "delivered", "clicked")
    bulk_messages(sms, 6, "delivered")
    bulk_messages(sms, 1, "accepted")
    bulk_messages(push, 5, "opened")
    bulk_messages(push, 15, "accepted")

    # By hand: email 10 sent, 7 still delivered (one bounced after its
    # delivery), 4 opened, 2 clicked; SMS 10 sent, 9 delivered, 3 clicked;
    # push 20 sent, never reports delivery, 5 opened.
    expected = {
        "delivery": f"{100 * (7 + 9) / (10 + 10):.1f}%",  # push sends stay out
        "open": f"{100 * (4 + 5) / (7 + 20):.1f}%",  # SMS deliveries stay out
        "click": f"{100 * (2 + 3) / (7 + 9 + 20):.1f}%",
        "click_to_open": f"{100 * 2 / (4 + 5):.1f}%",  # SMS clicks stay out
    }
    log_in(page, next_path=f"/campaigns/{campaign.id}/")
    page.wait_for_url(f"**/campaigns/{campaign.id}/")
    for name, text in expected.items():
        assert page.locator(f"#rates [data-rate={name}]").inner_text() == text, name
    bounce = page.locator("#rates [data-rate=bounce]")
    if bounce.count():
        assert bounce.inner_text() == f"{100 * 1 / 20:.1f}%"
    # The funnel says which channels each step counts.
    assert page.locator("#funnel [data-covered=delivered]").inner_text() == "counts email, sms"
    assert page.locator("#funnel [data-covered=opened]").inner_text() == "counts email, push"
    assert page.locator("#funnel [data-metric=delivered]").inner_text() == "16"
    shot(page, "campaign-mixed")
