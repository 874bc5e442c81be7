"""Machine traffic on tracking URLs (DESIGN.md "Machine traffic"): a HEAD
request, a user agent that the maintained crawler-user-agents list
recognises, or (for the open pixel) a fetch from Apple Mail Privacy
Protection's proxies (DESIGN.md "Deliverability"). Nothing else: no timing
heuristics. (Provider flags such as SendGrid's sg_machine_open are read by
the provider parsers.)"""

from __future__ import annotations

from functools import lru_cache

import crawleruseragents
from django.http import HttpRequest

# Long user agents are cut before matching: the list's patterns are short
# and a pathological header should not cost a regex scan of kilobytes.
MAX_USER_AGENT = 512


@lru_cache(maxsize=4096)
def is_bot_user_agent(user_agent: str) -> bool:
    # The package's own matcher: its patterns joined into a few compiled
    # regexes, case-sensitive as the list is written. Cached because the
    # same few user agents repeat (about 0.2 ms per miss).
    if not user_agent:
        return False
    return crawleruseragents.is_crawler(user_agent[:MAX_USER_AGENT])


def is_machine_request(request: HttpRequest) -> bool:
    return request.method == "HEAD" or is_bot_user_agent(request.headers.get("User-Agent", ""))


# Why a hit is machine traffic (the event's detail "machine_reason").
HEAD_REQUEST = "head_request"
BOT_USER_AGENT = "bot_user_agent"
APPLE_MPP = "apple_mpp"


def machine_reason(request: HttpRequest, *, open_pixel: bool = False) -> str | None:
    """Why this hit is machine traffic, or None for a person. Apple's proxies
    prefetch images, so they make an open a machine's, never a click."""
    if request.method == "HEAD":
        return HEAD_REQUEST
    if is_bot_user_agent(request.headers.get("User-Agent", "")):
        return BOT_USER_AGENT
    if open_pixel:
        from messaging.tracking import apple_mpp, clientip

        if apple_mpp.is_apple_proxy(clientip.client_ip(request)):
            return APPLE_MPP
    return None
