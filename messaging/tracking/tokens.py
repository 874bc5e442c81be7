"""Signed tokens for the open pixel, tracked links and one-click unsubscribe.

A token names a message and, for a click, one of its action's links. It is
signed with the deployment's SECRET_KEY (salt "tidings.tracking") and carries
no timestamp, so the same message and link always give the same URL: the
rendered message, the API's `tracking` block and the tracking endpoints all
agree without storing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core import signing

SALT = "tidings.tracking"
# "." keeps the token URL-safe and unambiguous (the value holds digits and
# "-", the signature is URL-safe base64).
_SEP = "."


class InvalidToken(ValueError):
    """A token that was not made here (tampered, truncated, another key)."""


@dataclass(frozen=True, slots=True)
class TrackingToken:
    message_id: int
    link_id: int | None


def _signer() -> signing.Signer:
    return _signer_for(SALT)


def _signer_for(salt: str) -> signing.Signer:
    # A reporting batch signs URLs for a thousand messages: one Signer per
    # salt and key (a rotated or overridden SECRET_KEY makes another).
    return _cached_signer(salt, settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS))


@lru_cache(maxsize=16)
def _cached_signer(salt: str, key: str, fallbacks: tuple[str, ...]) -> signing.Signer:
    return signing.Signer(key=key, fallback_keys=list(fallbacks), salt=salt, sep=_SEP)


def make_token(*, message_id: int, link_id: int | None = None) -> str:
    value = str(message_id) if link_id is None else f"{message_id}-{link_id}"
    return _signer().sign(value)


def read_token(token: str) -> TrackingToken:
    try:
        value = _signer().unsign(token)
    except signing.BadSignature as exc:
        raise InvalidToken("bad tracking token") from exc
    message_part, _, link_part = value.partition("-")
    try:
        message_id = int(message_part)
        link_id = int(link_part) if link_part else None
    except ValueError as exc:  # signed by us, so only a format change gets here
        raise InvalidToken("malformed tracking token") from exc
    return TrackingToken(message_id=message_id, link_id=link_id)


# One-click unsubscribe (RFC 8058): its own salt, so a pixel or click token
# can never be replayed as an unsubscribe, and bound to one message.
UNSUBSCRIBE_SALT = "tidings.unsubscribe"


def _unsubscribe_signer() -> signing.Signer:
    return _signer_for(UNSUBSCRIBE_SALT)


def make_unsubscribe_token(message_id: int) -> str:
    return _unsubscribe_signer().sign(str(message_id))


def read_unsubscribe_token(token: str) -> int:
    """The message id an unsubscribe token names."""
    try:
        value = _unsubscribe_signer().unsign(token)
    except signing.BadSignature as exc:
        raise InvalidToken("bad unsubscribe token") from exc
    if not value.isdigit():
        raise InvalidToken("malformed unsubscribe token")
    return int(value)


def unsubscribe_url(message_id: int) -> str:
    return f"{settings.TIDINGS_PUBLIC_URL}/u/{make_unsubscribe_token(message_id)}"


def open_pixel_url(message_id: int) -> str:
    return f"{settings.TIDINGS_PUBLIC_URL}/t/o/{make_token(message_id=message_id)}.gif"


def click_url(message_id: int, link_id: int) -> str:
    return f"{settings.TIDINGS_PUBLIC_URL}/t/c/{make_token(message_id=message_id, link_id=link_id)}"
