"""Apple Mail Privacy Protection (DESIGN.md "Deliverability"): an open pixel
fetched from one of Apple's published proxy egress ranges is Apple
prefetching every image of the message, not a person reading it, so it is a
machine open (machine_reason "apple_mpp").

The ranges are data the app ships (data/apple_mpp_ranges.csv, Apple's CSV
format: the prefix is the first column) and ``refresh_apple_proxy_ranges``
replaces from a copy of Apple's file; TIDINGS_APPLE_PROXY_RANGES_FILE points
elsewhere. Lookups are a binary search over the merged ranges, reloaded
when the file changes.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

SHIPPED = Path(__file__).resolve().parent / "data" / "apple_mpp_ranges.csv"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangesError(ValueError):
    """A ranges file line that is not an IP prefix."""


def ranges_path() -> Path:
    configured = getattr(settings, "TIDINGS_APPLE_PROXY_RANGES_FILE", "")
    return Path(configured) if configured else SHIPPED


def parse_ranges(lines: Iterable[str]) -> list[Network]:
    """The prefixes of a ranges file (Apple's egress-ip-ranges.csv or ours):
    the first comma-separated column of each line; blank lines and # comments
    skipped. A line whose first column is not a prefix raises RangesError."""
    networks = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        prefix = text.split(",", 1)[0].strip()
        try:
            networks.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            raise RangesError(f"line {number}: {prefix!r} is not an IP prefix") from None
    return networks


class _Table:
    """Merged [start, end] integer ranges per IP version, sorted."""

    def __init__(self, networks: Iterable[Network]):
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for network in networks:
            spans[network.version].append(
                (int(network.network_address), int(network.broadcast_address))
            )
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}
        for version, items in spans.items():
            merged: list[list[int]] = []
            for start, end in sorted(items):
                if merged and start <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            self.starts[version] = [start for start, _ in merged]
            self.ends[version] = [end for _, end in merged]

    def __contains__(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        starts = self.starts[address.version]
        value = int(address)
        i = bisect_right(starts, value) - 1
        return i >= 0 and value <= self.ends[address.version][i]


_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], _Table]] = {}


def _table() -> _Table:
    path = ranges_path()
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(str(path))
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _lock:
        with path.open(encoding="utf-8") as handle:
            table = _Table(parse_ranges(handle))
        _cache[str(path)] = (stamp, table)
    return table


def is_apple_proxy(ip: str | None) -> bool:
    """Whether the client address is in Apple's proxy egress ranges."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return address in _table()


def write_ranges(networks: list[Network], path: Path, *, source: str) -> None:
    """Writes the ranges file atomically (a reader never sees half a file)."""
    lines = [
        "# Apple Mail Privacy Protection proxy egress ranges.",
        f"# Refreshed by refresh_apple_proxy_ranges from {source}.",
        *(f"{network}" for network in networks),
    ]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temporary, path)
