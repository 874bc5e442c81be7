"""The recipient's unsubscribe confirmation page and the admin's person
page, in real headless Chromium."""

import pytest

from campaigns.vocabulary import Channel
from messaging.audience.audit import AuditEntry, AuditSource, Change
from messaging.audience.suppression import suppression_add
from messaging.models import MessageEvent, Person
from messaging.sending import messages_presend_check
from messaging.tracking.tokens import make_unsubscribe_token
from tests import factories
from tests.browser.conftest import log_in, shot
from tests.ingest.helpers import apply

pytestmark = pytest.mark.django_db(transaction=True)


def sent_email(recipient, minutes=0):
    msg = factories.message(Channel.EMAIL, person_obj=recipient)
    apply(
        factories.event(msg, "sent", minutes + 1),
        factories.event(msg, "delivered", minutes + 2),
    )
    return msg


def test_the_unsubscribe_page_asks_first_then_unsubscribes_and_confirms(page):
    recipient = factories.person(email="ann@example.com")
    msg = sent_email(recipient)

    page.goto(f"/u/{make_unsubscribe_token(msg.id)}")
    assert page.get_by_role("heading", level=1).inner_text() == "Unsubscribe"
    assert "ann@example.com" in page.locator("main").inner_text()
    assert page.locator("html").get_attribute("lang") == "en"
    shot(page, "unsubscribe-confirm")
    # Loading the page (as a link scanner would) changed nothing.
    assert Person.objects.get(pk=recipient.pk).unsubscribed_at is None
    assert not MessageEvent.objects.filter(type="unsubscribed").exists()

    page.get_by_role("button", name="Unsubscribe ann@example.com").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    assert "ann@example.com" in page.get_by_role("status").inner_text()
    shot(page, "unsubscribe-done")
    assert Person.objects.get(pk=recipient.pk).unsubscribed_at is not None
    assert MessageEvent.objects.get(type="unsubscribed").message_id == msg.id

    # Coming back says so, and offers nothing more to press.
    page.goto(f"/u/{make_unsubscribe_token(msg.id)}")
    assert page.get_by_role("heading", level=1).inner_text() == "Already unsubscribed"
    assert page.get_by_role("button").count() == 0

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_tampered_unsubscribe_link_shows_nothing_to_confirm(page):
    msg = sent_email(factories.person())
    response = page.goto(f"/u/{make_unsubscribe_token(msg.id)}x")
    assert response.status == 404
    assert page.get_by_role("button").count() == 0


def test_the_person_page_answers_why_they_did_not_get_our_email_and_offers_erase(page, admin_user):
    recipient = factories.person(external_id="cust-42", email="bea@example.com")
    first = sent_email(recipient)
    # They complained; an admin suppressed the address; the next email stopped.
    suppression_add(
        address="bea@example.com",
        reason="spam_complaint",
        note="complained by phone",
        created_by=admin_user,
        source=AuditSource.ADMIN,
    )
    stopped = factories.message(Channel.EMAIL, person_obj=recipient)
    messages_presend_check([stopped])
    from messaging.audience.subscription import person_unsubscribe

    person_unsubscribe(
        person=recipient, change=Change(source=AuditSource.RECIPIENT, message_id=first.id)
    )

    log_in(page, next_path=f"/admin/messaging/person/{recipient.pk}/change/")
    main = page.locator("#content-main")
    assert "Why didn't they get our email?" in main.inner_text()
    subscription = page.locator(".field-subscription")
    assert "Unsubscribed" in subscription.inner_text()
    suppressions = page.locator(".field-suppressions")
    assert "bea@example.com" in suppressions.inner_text()
    assert "spam_complaint" in suppressions.inner_text()
    messages = page.locator(".field-recent_messages table tbody tr")
    assert messages.count() == 2
    # Newest first, with the reason the newest one never went out.
    assert messages.nth(0).locator("td").nth(4).inner_text() == "suppressed"
    assert "suppression list" in messages.nth(0).inner_text()
    assert messages.nth(1).locator("td").nth(4).inner_text() == "delivered"
    trail = page.locator(".field-audit_trail table tbody tr")
    assert trail.count() == 2
    assert "unsubscribed" in trail.nth(0).inner_text()
    assert "recipient" in trail.nth(0).inner_text()
    assert "added" in trail.nth(1).inner_text() and "admin · admin" in trail.nth(1).inner_text()
    shot(page, "admin-person")

    messages.nth(1).get_by_role("link").click()
    page.wait_for_url(f"**/messages/{first.id}/")
    page.go_back()

    page.get_by_role("link", name="Erase personal data").click()
    page.wait_for_url(f"**/person/{recipient.pk}/erase/")
    assert "cannot be undone" in page.locator("#content-main").inner_text()
    shot(page, "admin-person-erase")
    assert Person.objects.get(pk=recipient.pk).erased_at is None  # not before confirming
    page.get_by_role("button", name="Yes, erase cust-42").click()
    page.wait_for_url(f"**/person/{recipient.pk}/change/")
    assert "Erased the personal data of cust-42" in page.locator(".messagelist").inner_text()
    erased = Person.objects.get(pk=recipient.pk)
    assert erased.erased_at is not None and erased.email == ""
    assert "Erased" in page.locator(".field-subscription").inner_text()
    assert page.get_by_role("link", name="Erase personal data").count() == 0
    assert AuditEntry.objects.filter(action="erased", source="admin").exists()
