"""The outbound address guard as reporting webhooks apply it: when a webhook
is saved and again before each request (config.outbound)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from config.outbound import outbound_url_check

DEV_INBOX_PATH = "/dev/webhook-inbox/"


def dev_inbox_url() -> str:
    return settings.TIDINGS_PUBLIC_URL.rstrip("/") + DEV_INBOX_PATH


def reporting_url_check(url: str) -> None:
    """Raises OutboundRefused for a URL this server may not post to. With
    DEBUG on, this deployment's own demo receiver (/dev/webhook-inbox/) is
    the one private URL allowed, so `make run` shows data flowing out
    without opening the guard to every private address."""
    if settings.DEBUG and url == dev_inbox_url():
        return
    outbound_url_check(url)


def connection_exempt(host: str, port: int) -> bool:
    """The one destination reporting_url_check lets through whatever its
    address, as delivery's connections see it (config.outbound)."""
    if not settings.DEBUG:
        return False
    inbox = urlsplit(dev_inbox_url())
    default = 443 if inbox.scheme == "https" else 80
    return (host, port) == (inbox.hostname, inbox.port or default)
