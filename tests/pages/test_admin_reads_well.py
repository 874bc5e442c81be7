"""The admin says whose it is, links back to the pages and names things as
people say them."""

import html
import re

import pytest

from messaging.audience.suppression import suppression_add

pytestmark = pytest.mark.django_db

LONG_NOTE = (
    "5.1.1 550 5.1.1 The email account that you tried to reach does not exist. "
    "Please try double-checking the recipient's email address for typos or "
    "unnecessary spaces. (Invalid Address) reported by the provider twice"
)


def test_the_admin_is_branded_and_links_back_to_the_pages(logged_in):
    page = logged_in.get("/admin/").content.decode()
    assert "<title>Campaigns, people, messages and suppressions | Tidings admin</title>" in page
    assert '<div id="site-name"><a href="/admin/">Tidings admin</a></div>' in page
    assert "Django administration" not in page and "Django site admin" not in page
    assert '<a href="/">Campaigns</a>' in page and '<a href="/deliveries/">Delivery log</a>' in page
    assert "tidings-admin.css" in page


def test_the_models_have_names_that_read_naturally(logged_in):
    page = logged_in.get("/admin/").content.decode()
    for name in ("People", "Suppressions", "Actions of a campaign", "Campaigns", "Messages"):
        assert f">{name}</a>" in page
    assert "Persons" not in page
    people = logged_in.get("/admin/messaging/person/").content.decode()
    assert "Select person to change" in people
    assert re.search(r"&rsaquo;\s*People\s*</div>", people)  # the breadcrumb


def test_a_long_note_is_shortened_in_the_list_and_whole_on_its_page(logged_in):
    entry = suppression_add(address="long@example.com", note=LONG_NOTE)
    listing = logged_in.get("/admin/messaging/suppression/").content.decode()
    assert f'title="{html.escape(LONG_NOTE)}"' in listing
    assert html.escape(LONG_NOTE[:80]) + "…" in listing
    detail = logged_in.get(f"/admin/messaging/suppression/{entry.pk}/change/").content.decode()
    assert "<textarea" in detail and html.escape(LONG_NOTE) in detail


def test_a_short_note_is_shown_as_it_is(logged_in):
    suppression_add(address="short@example.com", note="asked by phone")
    listing = logged_in.get("/admin/messaging/suppression/").content.decode()
    assert '<td class="field-note_start">asked by phone</td>' in listing
