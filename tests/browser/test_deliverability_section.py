"""The campaign page's deliverability section and the campaigns list's flag,
in real headless Chromium, over a campaign whose callbacks came through the
signed SendGrid webhook."""

import pytest
from django.test import Client

from tests.browser.conftest import ARTIFACTS, log_in, shot
from tests.deliverability.helpers import bulk_sent, email_action, sendgrid_event
from tests.webhooks.kits import configure

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kits(settings, monkeypatch):
    return configure(settings, monkeypatch)


def post(kits, events):
    client = Client()
    for start in range(0, len(events), 500):
        response = kits["sendgrid"].events(events[start : start + 500]).post(client)
        assert response.status_code == 200, response.content


@pytest.fixture
def campaign(kits):
    action = email_action()
    action.campaign.name = "Black Friday"
    action.campaign.save()
    gmail = bulk_sent(action, "gmail", 1000)
    microsoft = bulk_sent(action, "microsoft", 200)
    yahoo = bulk_sent(action, "yahoo", 300)
    apple = bulk_sent(action, "apple", 100)
    other = bulk_sent(action, "other", 50)
    events = [sendgrid_event(m, "delivered", 2) for m in gmail + microsoft[:190] + yahoo + apple]
    events += [sendgrid_event(m, "delivered", 2) for m in other[:30]]  # 20 never heard of
    events += [sendgrid_event(m, "open", 30) for m in gmail[:400]]
    # Apple Mail Privacy Protection: SendGrid flags the prefetch as a machine open.
    events += [sendgrid_event(m, "open", 3, sg_machine_open=True) for m in apple[:80]]
    events += [sendgrid_event(m, "open", 40) for m in apple[:20]]
    events += [sendgrid_event(m, "spamreport", 60) for m in gmail[:2]]  # 0.2 %: warning
    events += [sendgrid_event(m, "spamreport", 60) for m in yahoo[:1]]  # 0.33 %: danger
    texts = [
        "550 5.1.1 <{a}>: Recipient address rejected: User unknown",
        "550 5.7.1 Unfortunately, messages from [203.0.113.{n}] weren't sent. "
        "Please contact your Internet service provider. (BAY004-MC1F{n}) [{a}]",
    ]
    events += [
        sendgrid_event(
            m,
            "bounce",
            3,
            reason=texts[n % 2].format(a=m.address, n=n),
            type="bounce" if n % 2 == 0 else "blocked",
        )
        for n, m in enumerate(microsoft[190:])
    ]
    post(kits, events)
    return action.campaign


def test_a_marketer_reads_deliverability_by_mailbox_provider(page, admin_user, campaign):
    log_in(page, next_path=f"/campaigns/{campaign.id}/")
    section = page.locator("#deliverability")
    section.scroll_into_view_if_needed()
    assert section.get_attribute("data-health") == "danger"
    assert page.locator("#sender-health").inner_text() == "DANGER"

    rows = section.locator("#mailbox-providers tbody tr")
    assert rows.count() == 5
    sent = {
        rows.nth(i).get_attribute("data-provider"): rows.nth(i)
        .locator("[data-metric=sent]")
        .inner_text()
        for i in range(5)
    }
    assert sent == {
        "gmail": "1,000",
        "microsoft": "200",
        "yahoo": "300",
        "apple": "100",
        "other": "50",
    }
    gmail = section.locator("tr[data-provider=gmail]")
    assert gmail.locator("[data-rate=open]").inner_text() == "40.0%"
    assert gmail.locator("[data-rate=spam]").inner_text() == "0.2%"
    assert section.locator("tr[data-provider=microsoft] [data-rate=bounce]").inner_text() == "5.0%"
    apple = section.locator("tr[data-provider=apple]")
    assert apple.locator("[data-metric=machine_opens]").inner_text() == "80"

    # The bars are drawn to scale: Gmail's is the longest, Apple's a tenth.
    gmail_bar = gmail.locator(".mbar").bounding_box()
    apple_bar = apple.locator(".mbar").bounding_box()
    assert gmail_bar["width"] > 100 and gmail_bar["height"] > 5
    assert apple_bar["width"] == pytest.approx(gmail_bar["width"] / 10, rel=0.1)

    # The gauge draws both thresholds and places each rate in its zone.
    gauge = section.locator("#spam-gauge")
    assert gauge.bounding_box()["width"] > 300
    warning_x = float(gauge.locator("#threshold-warning").get_attribute("x1"))
    danger_x = float(gauge.locator("#threshold-danger").get_attribute("x1"))
    assert warning_x < danger_x
    gmail_dot = gauge.locator("circle[data-provider=gmail]")
    yahoo_dot = gauge.locator("circle[data-provider=yahoo]")
    assert "rate-warning" in gmail_dot.get_attribute("class")
    assert "rate-danger" in yahoo_dot.get_attribute("class")
    assert warning_x < float(gmail_dot.get_attribute("cx")) < danger_x
    assert float(yahoo_dot.get_attribute("cx")) > danger_x

    reasons = section.locator("#bounce-reasons tbody tr")
    assert reasons.count() == 2
    assert "recipient address rejected user unknown" in reasons.nth(0).inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    section.screenshot(path=str(ARTIFACTS / "deliverability-section.png"))
    shot(page, "campaign-deliverability")

    # The stale count links to the delivery log, filtered.
    awaiting = section.locator("[data-stale=awaiting_delivery]")
    assert awaiting.locator(".badge").inner_text() == "20"
    awaiting.get_by_role("link").click()
    page.wait_for_url("**/deliveries/?*stale=awaiting_delivery*")
    assert page.locator("table.log tbody tr").count() == 20
    assert page.locator("select[name=stale]").input_value() == "awaiting_delivery"


def test_the_campaigns_list_flags_a_campaign_in_danger(page, admin_user, campaign):
    quiet = email_action()
    log_in(page)
    flag = page.locator(f"tr[data-campaign='{campaign.id}'] [data-health]")
    assert flag.inner_text() == "spam danger"
    assert "Yahoo 0.3%" in flag.get_attribute("title")
    assert page.locator(f"tr[data-campaign='{quiet.campaign_id}'] [data-health]").count() == 0
    shot(page, "campaigns-deliverability-flag")
    flag.click()
    page.wait_for_url(f"**/campaigns/{campaign.id}/#deliverability")
