"""The client address of a tracking hit. ``X-Forwarded-For`` is read only
when the direct peer (REMOTE_ADDR) is a proxy TIDINGS_TRUSTED_PROXIES lists
(addresses or CIDR ranges); then the address is the right-most hop that is
not itself a trusted proxy. Anyone else could write any address there."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"TIDINGS_TRUSTED_PROXIES: {entry!r} is not an address or CIDR range"
            ) from None
    return tuple(networks)


def trusted_networks() -> tuple:
    return _networks(tuple(getattr(settings, "TIDINGS_TRUSTED_PROXIES", ()) or ()))


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    networks = trusted_networks()
    if remote is None or not _trusted(remote, networks):
        return str(remote) if remote is not None else None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for hop in reversed([part for part in forwarded.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            break  # a malformed hop: nothing to its left can be trusted
        client = address
        if not _trusted(address, networks):
            break
    return str(client)
