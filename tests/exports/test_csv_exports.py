"""Every CSV export goes through one writer that neutralises formula cells
(CSV injection): the delivery log and the suppression list."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.vocabulary import Channel
from messaging.audience.suppression import suppression_add
from messaging.csv_export import FORMULA_START, csv_cell, csv_lines
from messaging.models import Message
from tests import factories

DANGEROUS = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_a_cell_starting_like_a_formula_gets_a_leading_quote(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["  =1+1", " @x"])
def test_leading_spaces_do_not_hide_a_formula(value):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["+15558675310", "-12", "+3.5", "42", "-0.25"])
def test_phone_numbers_and_plain_numbers_are_left_alone(value):
    assert csv_cell(value) == value


@pytest.mark.parametrize("value", ["+1-555-867", "--1", "-1e5", "+1 555 867", "+1+1"])
def test_what_only_looks_like_a_number_is_quoted(value):
    assert csv_cell(value) == "'" + value


@given(st.text())
def test_no_written_cell_reads_back_as_a_formula_unless_it_is_a_number(value):
    [line] = list(csv_lines(["x"], [[value]]))[1:]
    [[cell]] = list(csv.reader(io.StringIO(line), strict=True)) or [[""]]
    if cell.lstrip(" ").startswith(FORMULA_START):
        assert cell == value
        float(cell)  # a plain number or an E.164 phone number


@given(st.text())
def test_the_writer_changes_nothing_but_the_leading_quote(value):
    cell = csv_cell(value)
    assert cell in (value, "'" + value)


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.org", "pw-r-1"))
    return client


def _rows(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.django_db
def test_the_delivery_log_export_neutralises_push_tokens_targets_and_provider_ids(staff_client):
    push = factories.message(Channel.PUSH, person_obj=factories.person(push_token="=1+1"))
    slack_action = factories.action(Channel.SLACK, target="@here=cmd")
    slack = factories.message(action_obj=slack_action)
    sms = factories.message(Channel.SMS, person_obj=factories.person(phone="+15558675310"))
    Message.objects.filter(pk=push.pk).update(
        provider_message_id="+cmd|calc", failure_reason="-boom"
    )

    rows = {int(r["id"]): r for r in _rows(staff_client.get("/deliveries/?export=csv"))}

    assert rows[push.pk]["address"] == "'=1+1"
    assert rows[push.pk]["provider_message_id"] == "'+cmd|calc"
    assert rows[push.pk]["failure_reason"] == "'-boom"
    assert rows[slack.pk]["address"] == "'@here=cmd"
    assert rows[sms.pk]["address"] == "+15558675310"


@pytest.mark.django_db
def test_the_suppression_export_neutralises_addresses_and_notes(staff_client):
    suppression_add(address="=cmd@example.com", note="@SUM(1)")
    suppression_add(address="plain@example.com", note="fine")
    response = staff_client.get("/admin/messaging/suppression/export/")
    rows = {r["address"]: r for r in _rows(response)}
    assert rows["'=cmd@example.com"]["note"] == "'@SUM(1)"
    assert rows["plain@example.com"]["note"] == "fine"
