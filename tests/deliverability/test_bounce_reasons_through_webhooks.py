"""Bounce reasons: normalised (codes, addresses and ids stripped), counted in
counters, the 20 most frequent per campaign; fed by signed SendGrid and
Mailgun callbacks with the SMTP texts mailbox providers really answer."""

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from campaigns.models import BounceReasonCounter
from tests.ingest.helpers import assert_no_drift

from .helpers import (
    email_action,
    mailgun_bounce,
    recipients,
    sendgrid_event,
    sendgrid_post,
)

pytestmark = pytest.mark.django_db

GMAIL_NO_SUCH_USER = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try "
    "double-checking the recipient's email address for typos or unnecessary spaces. "
    "Learn more at https://support.google.com/mail/?p=NoSuchUser {id} - gsmtp"
)
USER_UNKNOWN = "550 5.1.1 <{address}>: Recipient address rejected: User unknown"
OVER_QUOTA = "452 4.2.2 The email account that you tried to reach is over quota. {id} - gsmtp"


@pytest.fixture
def api(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


def bounce(message, text, kind="bounce", minutes=3):
    return sendgrid_event(message, "bounce", minutes, reason=text, type=kind, status="5.0.0")


def test_bounces_with_varied_smtp_texts_group_under_one_normalised_reason(client, kits, api):
    action = email_action()
    gmail = recipients(action, "gmail", 4)
    others = recipients(action, "other", 3)
    events = [
        bounce(m, GMAIL_NO_SUCH_USER.format(id=f"d9443c01a7336-{n}f6d6c5si{n}23456ad.{n}"))
        for n, m in enumerate(gmail[:3])
    ]
    events += [bounce(m, USER_UNKNOWN.format(address=m.address)) for m in others[:2]]
    events.append(
        bounce(gmail[3], OVER_QUOTA.format(id="a1b2c3si4567.89"), kind="blocked", minutes=4)
    )
    sendgrid_post(client, kits, events)
    # Mailgun's text of the same Gmail answer (its code apart) joins the group.
    mailgun_bounce(
        client,
        kits,
        others[2],
        "5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "Learn more at https://support.google.com/mail/?p=NoSuchUser x12-20020a05si.99 - gsmtp",
    )

    reasons = api.get(f"/api/v1/campaigns/{action.campaign_id}/metrics/").json()["bounce_reasons"]
    assert reasons == [
        {
            "bounce_type": "hard",
            "reason": "the email account that you tried to reach does not exist please try "
            "double checking the recipient's email address for typos or unnecessary spaces "
            "learn more at gsmtp",
            "count": 4,
        },
        {
            "bounce_type": "hard",
            "reason": "recipient address rejected user unknown",
            "count": 2,
        },
        {
            "bounce_type": "soft",
            "reason": "the email account that you tried to reach is over quota gsmtp",
            "count": 1,
        },
    ]
    assert_no_drift()


def test_a_later_bounce_moves_the_message_to_its_new_reason(client, kits, api):
    action = email_action()
    [message] = recipients(action, "yahoo", 1)
    sendgrid_post(
        client,
        kits,
        [bounce(message, "421 4.7.0 [TSS04] Messages temporarily deferred", "blocked")],
    )
    sendgrid_post(
        client,
        kits,
        [bounce(message, "554 5.7.9 Message not accepted for policy reasons", minutes=9)],
    )
    reasons = api.get(f"/api/v1/campaigns/{action.campaign_id}/metrics/").json()["bounce_reasons"]
    assert reasons == [
        {"bounce_type": "hard", "reason": "message not accepted for policy reasons", "count": 1}
    ]
    assert_no_drift()


WORDS = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform", "victor",
]  # fmt: skip


def test_only_the_twenty_most_frequent_reasons_are_listed(client, kits, api):
    action = email_action()
    messages = recipients(action, "other", len(WORDS) + 2)
    events = [
        bounce(m, f"550 5.7.1 <{m.address}> rejected by policy {word}")
        for m, word in zip(messages, WORDS, strict=False)
    ]
    # Three messages share the "alpha" reason, so it leads.
    events += [
        bounce(m, f"550 5.7.1 rejected by policy alpha ({m.address})") for m in messages[-2:]
    ]
    sendgrid_post(client, kits, events)
    reasons = api.get(f"/api/v1/campaigns/{action.campaign_id}/metrics/").json()["bounce_reasons"]
    assert len(reasons) == 20
    assert reasons[0] == {"bounce_type": "hard", "reason": "rejected by policy alpha", "count": 3}
    assert all(row["count"] == 1 for row in reasons[1:])
    assert BounceReasonCounter.objects.filter(campaign_id=action.campaign_id).count() == len(WORDS)


def test_reconcile_finds_and_repairs_drift_in_the_deliverability_counters(client, kits, capsys):
    from campaigns.deliverability import mailbox_metric
    from campaigns.models import ActionCounter

    action = email_action()
    [message] = recipients(action, "gmail", 1)
    sendgrid_post(client, kits, [bounce(message, USER_UNKNOWN.format(address=message.address))])
    assert_no_drift()
    BounceReasonCounter.objects.filter(campaign_id=action.campaign_id).update(value=5)
    ActionCounter.objects.filter(metric=mailbox_metric("gmail", "bounced")).update(value=7)

    with pytest.raises(CommandError):
        call_command("reconcile_metrics", "--campaign", str(action.campaign_id))
    out = capsys.readouterr().out
    assert (
        f"drift bounce {action.id} hard recipient address rejected user unknown: "
        "stored 5, recounted 1" in out
    )
    assert f"drift action {action.id} mp.gmail.bounced: stored 7, recounted 1" in out

    call_command("reconcile_metrics", "--campaign", str(action.campaign_id), "--fix")
    assert_no_drift()
    assert BounceReasonCounter.objects.get(campaign_id=action.campaign_id).value == 1
