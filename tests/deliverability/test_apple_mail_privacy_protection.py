"""Opens fetched by Apple Mail Privacy Protection's proxies are machine opens
(machine_reason "apple_mpp"); the proxy ranges are data the app ships and a
command refreshes from a file; X-Forwarded-For is read only from the
proxies TIDINGS_TRUSTED_PROXIES lists."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns.metrics import campaign_metrics
from messaging.models import Message
from messaging.tracking import apple_mpp
from tests import factories
from tests.ingest.helpers import assert_no_drift
from tests.tracking.helpers import BROWSER, URL_A, URL_B, click_path, pixel_path, recipient_events
from tests.webhooks.kits import sent_message

pytestmark = pytest.mark.django_db

APPLE_PROXY = "17.58.101.7"  # Apple's 17.0.0.0/8, in the shipped ranges
PERSON = "203.0.113.50"  # documentation range: no one's proxy


@pytest.fixture
def icloud_message():
    action = factories.action(links=(URL_A, URL_B))
    return sent_message(action_obj=action, person_obj=factories.person(email="ann@icloud.com"))


def hit_pixel(client, message, **meta):
    response = client.get(pixel_path(message), headers={"User-Agent": BROWSER}, **meta)
    assert response.status_code == 200
    return Message.objects.get(pk=message.pk)


def test_a_pixel_hit_from_an_apple_proxy_is_a_machine_open(client, icloud_message):
    message = hit_pixel(client, icloud_message, REMOTE_ADDR=APPLE_PROXY)
    assert message.status == "sent" and message.opened_at is None and message.open_count == 0
    [event] = recipient_events(message)
    assert event.machine is True
    assert event.detail["machine_reason"] == "apple_mpp"
    m = campaign_metrics(message.campaign)
    assert m["totals"]["machine_opens"] == 1 and m["counts"]["opened"] == 0
    apple = m["by_mailbox_provider"]["apple"]
    assert apple["totals"]["machine_opens"] == 1 and apple["counts"]["opened"] == 0
    assert_no_drift()


def test_a_pixel_hit_from_anywhere_else_is_a_human_open(client, icloud_message):
    message = hit_pixel(client, icloud_message, REMOTE_ADDR=PERSON)
    assert message.status == "opened" and message.open_count == 1
    [event] = recipient_events(message)
    assert event.machine is False and "machine_reason" not in event.detail


def test_a_click_from_an_apple_address_is_a_person_clicking(client, icloud_message):
    response = client.get(
        click_path(icloud_message), headers={"User-Agent": BROWSER}, REMOTE_ADDR=APPLE_PROXY
    )
    assert response.status_code == 302
    message = Message.objects.get(pk=icloud_message.pk)
    assert message.status == "clicked" and message.click_count == 1


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    client, icloud_message, settings
):
    settings.TIDINGS_TRUSTED_PROXIES = ["10.0.0.0/8"]
    # An untrusted peer claiming an Apple address: a person's open.
    message = hit_pixel(
        client, icloud_message, REMOTE_ADDR=PERSON, HTTP_X_FORWARDED_FOR=APPLE_PROXY
    )
    assert message.open_count == 1


def test_forwarded_for_from_a_trusted_proxy_names_the_client(client, icloud_message, settings):
    settings.TIDINGS_TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    # A spoofed left-most hop is not read: the right-most untrusted hop is
    # the address our own proxies saw.
    message = hit_pixel(
        client,
        icloud_message,
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR=f"{PERSON}, {APPLE_PROXY}, 192.0.2.1",
    )
    assert message.open_count == 0
    [event] = recipient_events(message)
    assert event.detail["machine_reason"] == "apple_mpp"
    message = hit_pixel(
        client,
        icloud_message,
        REMOTE_ADDR="10.1.2.3",
        HTTP_X_FORWARDED_FOR=f"{APPLE_PROXY}, {PERSON}",
    )
    assert message.open_count == 1


def test_the_shipped_ranges_cover_apples_network_and_both_ip_versions():
    assert apple_mpp.is_apple_proxy(APPLE_PROXY)
    assert apple_mpp.is_apple_proxy("::ffff:17.1.2.3")  # IPv4-mapped
    assert apple_mpp.is_apple_proxy("2620:149:a00::1")
    assert not apple_mpp.is_apple_proxy(PERSON)
    assert not apple_mpp.is_apple_proxy("not an address")


def test_the_refresh_command_replaces_the_ranges_from_apples_file(tmp_path, settings, capsys):
    target = tmp_path / "ranges.csv"
    target.write_text(apple_mpp.SHIPPED.read_text())
    settings.TIDINGS_APPLE_PROXY_RANGES_FILE = str(target)
    assert apple_mpp.is_apple_proxy(APPLE_PROXY)
    apple = tmp_path / "egress-ip-ranges.csv"
    apple.write_text(
        "172.224.226.0/27,GB,GB-EN,London,\n"
        "172.224.226.32/27,GB,GB-EN,London,\n"
        "2a02:26f7:b3c0:4000::/64,GB,GB-EN,London,\n"
    )
    call_command("refresh_apple_proxy_ranges", str(apple))
    assert "Wrote 3 ranges (2 IPv4, 1 IPv6)" in capsys.readouterr().out
    assert apple_mpp.is_apple_proxy("172.224.226.40")
    assert apple_mpp.is_apple_proxy("2a02:26f7:b3c0:4000::9")
    assert not apple_mpp.is_apple_proxy(APPLE_PROXY)  # no longer listed
    assert not apple_mpp.is_apple_proxy("172.224.226.64")


def test_a_broken_ranges_file_changes_nothing(tmp_path, settings):
    target = tmp_path / "ranges.csv"
    target.write_text("17.0.0.0/8\n")
    settings.TIDINGS_APPLE_PROXY_RANGES_FILE = str(target)
    broken = tmp_path / "broken.csv"
    broken.write_text("172.224.226.0/27,GB\n<html>not found</html>\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("refresh_apple_proxy_ranges", str(broken))
    with pytest.raises(CommandError, match="no IP prefix"):
        empty = tmp_path / "empty.csv"
        empty.write_text("# nothing\n")
        call_command("refresh_apple_proxy_ranges", str(empty))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("refresh_apple_proxy_ranges", str(tmp_path / "missing.csv"))
    assert Path(target).read_text() == "17.0.0.0/8\n"
    assert apple_mpp.is_apple_proxy(APPLE_PROXY)
