"""The outbound address guard: every URL this app will make an HTTP request
to passes ``outbound_url_check`` first (a webhook action's target when it is
saved, the SNS signing certificate and subscription URLs, the reporting
webhooks when saved and when sent), so no one can point the server at
itself, the private network or a cloud metadata service (SSRF).

The host is resolved and every address it resolves to must be public: not
loopback, private, link-local (169.254.169.254 is the metadata service of
AWS, GCP and Azure), shared (100.64/10), multicast, reserved or unspecified,
including such IPv4 addresses inside IPv6 (::ffff:…, 6to4, Teredo).
``TIDINGS_OUTBOUND_ALLOW_PRIVATE=true`` turns the guard off (a private
deployment whose own services are the targets).

A name that does not resolve passes: it reaches nothing, and the request
that follows fails on its own. A check alone cannot stop a name that
resolves publicly for the check and privately for the connection (DNS
rebinding): the HTTP clients of ``guarded_pool_manager`` resolve a name
once per connection, check every address, and connect to the address they
checked.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


# IETF protocol assignments (RFC 6890): never a public destination, and home
# of Oracle Cloud's metadata service (192.0.0.192), although Python's
# ipaddress (before 3.12.4) reads most of it as global.
_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")


class OutboundRefused(ValueError):
    """The URL is not one this server may send a request to."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (empty when it does not resolve).
    Tests replace this: the test machine has no DNS."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip.teredo:
            return ip.teredo[1]
    return None


def address_refusal(address: str) -> str:
    """Why this address is not a public destination ("" when it is)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    inner = _embedded_ipv4(ip)
    if inner is not None and address_refusal(str(inner)):
        return f"{address} embeds {address_refusal(str(inner))}"
    for flag, what in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local (cloud metadata)"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_reserved", "a reserved"),
        ("is_private", "a private"),
    ):
        if getattr(ip, flag):
            return f"{ip} is {what} address"
    if ip in _PROTOCOL_ASSIGNMENTS:
        return f"{ip} is an IETF protocol assignment (cloud metadata) address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return ""


def outbound_url_check(url: str) -> None:
    """Raises OutboundRefused unless ``url`` is an http(s) URL whose host
    resolves only to public addresses (or the guard is off)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError) as exc:
        raise OutboundRefused(f"not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused("only http and https URLs are allowed")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise OutboundRefused("credentials in the URL are not allowed")
    if getattr(settings, "TIDINGS_OUTBOUND_ALLOW_PRIVATE", False):
        return
    checked_addresses(host, port or (443 if parts.scheme == "https" else 80))


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (itself when it is one), every one
    public; raises OutboundRefused naming the first that is not."""
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        if host.rstrip(".").endswith(".localhost") or host.rstrip(".") == "localhost":
            raise OutboundRefused(f"{host} is this machine") from None
        addresses = resolve(host, port)
    for address in addresses:
        reason = address_refusal(address)
        if reason:
            raise OutboundRefused(f"{host} resolves to {address}: {reason}")
    return addresses


class _GuardedConnection:
    """A urllib3 connection that opens its socket to an address it has
    checked: the host resolved once, every address public (else refused),
    and connected to as resolved — not resolved a second time."""

    # (host, port) → allowed whatever its address (set per pool manager).
    exempt: Callable[[str, int], bool]

    def _new_conn(self):
        host, port = self.host, self.port
        if getattr(settings, "TIDINGS_OUTBOUND_ALLOW_PRIVATE", False) or self.exempt(host, port):
            return super()._new_conn()
        try:
            addresses = checked_addresses(host, port)
        except OutboundRefused as exc:
            refusal = f"refused by the outbound address guard: {exc}"
            raise NewConnectionError(self, refusal) from None
        if not addresses:
            raise NewConnectionError(self, f"{host} does not resolve")
        failure: OSError | None = None
        for address in addresses:
            try:
                return create_connection(
                    (address, port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                failure = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}")


def guarded_pool_manager(
    exempt: Callable[[str, int], bool] = lambda host, port: False, **options
) -> urllib3.PoolManager:
    """A urllib3 PoolManager (``options`` as PoolManager's) whose every new
    connection applies the guard to the address it connects to (DNS
    rebinding cannot slip past the check made before the request);
    ``exempt(host, port)`` names destinations the caller allows anyway."""
    hook = {"exempt": staticmethod(exempt)}
    http = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), hook)
    https = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), hook)
    manager = urllib3.PoolManager(**options)
    manager.pool_classes_by_scheme = {
        "http": type("GuardedHTTPPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("GuardedHTTPSPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
    }
    return manager
