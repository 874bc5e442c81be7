"""The mailbox-provider map, exactly as CONTRACT.md lists the domains."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.mailbox import mailbox_provider


@pytest.mark.parametrize(
    ("address", "provider"),
    [
        ("a@gmail.com", "gmail"),
        ("a@googlemail.com", "gmail"),
        ("A@GMail.COM", "gmail"),
        ("a@outlook.com", "microsoft"),
        ("a@msn.com", "microsoft"),
        ("a@hotmail.com", "microsoft"),
        ("a@hotmail.co.uk", "microsoft"),
        ("a@live.fr", "microsoft"),
        ("a@live.com.au", "microsoft"),
        ("a@yahoo.com", "yahoo"),
        ("a@yahoo.co.jp", "yahoo"),
        ("a@yahoo.xn--p1ai", "yahoo"),  # an internationalised top-level domain
        ("a@hotmail.com.xn--j6w193g", "microsoft"),
        ("a@yahoo.xn--", "other"),
        ("a@ymail.com", "yahoo"),
        ("a@aol.com", "yahoo"),
        ("a@icloud.com", "apple"),
        ("a@me.com", "apple"),
        ("a@mac.com", "apple"),
        ("a@gmail.com.example.net", "other"),
        ("a@hotmail.example.com", "other"),
        ("a@mail.yahoo.com.evil.org", "other"),
        ("a@notgmail.com", "other"),
        ("a@example.org", "other"),
        ("no-at-sign", "other"),
        ("", "other"),
    ],
)
def test_each_contract_domain_maps_to_its_mailbox_provider(address, provider):
    assert mailbox_provider(address) == provider


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@given(host=st.lists(LABEL, min_size=2, max_size=4).map(".".join))
def test_a_known_domain_with_anything_appended_is_other(host):
    for known in ("gmail.com", "outlook.com", "icloud.com", "yahoo.com", "hotmail.co.uk"):
        assert mailbox_provider(f"a@{known}.{host}") == "other"
