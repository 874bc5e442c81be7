"""Mailbox providers by recipient domain (CONTRACT.md "Deliverability"): the
one place that maps an email address to gmail, microsoft, yahoo, apple or
other.

Case-insensitive, on the whole domain: a look-alike such as
gmail.com.example.net is "other". ``hotmail.*``, ``live.*`` and ``yahoo.*``
take any suffix (hotmail.co.uk, live.fr, yahoo.co.jp), but only as the
domain's first label followed by a top-level domain, optionally under a
short second level (co.uk, com.au), so that hotmail.example.com is not
Microsoft's.
"""

from __future__ import annotations

import re
from functools import lru_cache

GMAIL, MICROSOFT, YAHOO, APPLE, OTHER = "gmail", "microsoft", "yahoo", "apple", "other"
MAILBOX_PROVIDERS = (GMAIL, MICROSOFT, YAHOO, APPLE, OTHER)
LABELS = {
    GMAIL: "Gmail",
    MICROSOFT: "Microsoft",
    YAHOO: "Yahoo",
    APPLE: "Apple",
    OTHER: "Other",
}

EXACT = {
    "gmail.com": GMAIL,
    "googlemail.com": GMAIL,
    "outlook.com": MICROSOFT,
    "msn.com": MICROSOFT,
    "ymail.com": YAHOO,
    "aol.com": YAHOO,
    "icloud.com": APPLE,
    "me.com": APPLE,
    "mac.com": APPLE,
}
# hotmail.<suffix>, live.<suffix>, yahoo.<suffix>: the suffix is a country or
# generic top-level domain (internationalised ones in their xn-- form, as
# yahoo.xn--p1ai), optionally under a second level (co.uk, com.au).
_ANY_SUFFIX = re.compile(
    r"^(hotmail|live|yahoo)\.((?:[a-z]{2,3}\.)?(?:[a-z]{2,24}|xn--[a-z0-9-]{1,59}))$"
)
_ANY_SUFFIX_PROVIDER = {"hotmail": MICROSOFT, "live": MICROSOFT, "yahoo": YAHOO}


@lru_cache(maxsize=4096)
def provider_of_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    exact = EXACT.get(domain)
    if exact is not None:
        return exact
    match = _ANY_SUFFIX.match(domain)
    if match is not None:
        return _ANY_SUFFIX_PROVIDER[match.group(1)]
    return OTHER


def mailbox_provider(address: str) -> str:
    """The mailbox provider of an email address ("other" when it has no domain)."""
    _, at, domain = (address or "").rpartition("@")
    if not at:
        return OTHER
    return provider_of_domain(domain)


# What erase keeps of an email address (CONTRACT.md: "ids, event types and
# times stay, so metrics do not move"): a domain that says only which mailbox
# provider it was, one of five, so the message's counters by mailbox
# provider (campaigns.deliverability) stay where they are. "other" keeps
# nothing: a company's own domain could name the person.
ERASED_ADDRESS = {
    GMAIL: "@gmail.com",
    MICROSOFT: "@outlook.com",
    YAHOO: "@yahoo.com",
    APPLE: "@icloud.com",
    OTHER: "",
}


def erased_address(address: str) -> str:
    return ERASED_ADDRESS[mailbox_provider(address)]
