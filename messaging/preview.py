"""A message as its recipient sees it, for the message page.

Email HTML goes into a sandboxed ``<iframe srcdoc>`` (the template sets the
sandbox: no scripts, no same-origin, no top navigation). Before that the
preview takes out what would record something: the open pixel is removed, so
previewing never counts an open, and our tracked click URLs point straight at
their destinations, so following a link from the preview records no click.
Other channels are shown as their channel presents them: an SMS bubble with
its characters and segments, a push card, a Slack post, the webhook's JSON.
Bodies that are not HTML are shown as text, never as links.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from campaigns.links import is_html
from campaigns.vocabulary import Channel
from messaging.tracking.tokens import InvalidToken, read_token

# Our open pixel (messaging.sending.rendering) on whichever public URL the
# message was rendered with: /t/o/<token>.gif.
_PIXEL = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']?[^"'\s>]*/t/o/[^"'\s>]+\.gif[^>]*>""", re.I)
# A tracked click URL in an href: /t/c/<token>.
_TRACKED_HREF = re.compile(
    r"""(<a\b[^>]*?\bhref\s*=\s*)(["']?)([^"'\s>]*/t/c/([^"'\s>/?#]+))\2""", re.I
)
# Opens the preview's links in a new browsing context (the sandbox allows
# popups, not top navigation), so the page itself never navigates away.
_PREVIEW_HEAD = '<base target="_blank">'

# GSM 03.38: the basic set counts one septet, the extension set two; any
# other character makes the whole SMS UCS-2 (UTF-16 code units).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    characters: int  # as the encoding counts them (an extension character is 2)
    segments: int
    per_segment: int  # characters a segment holds at this length


def sms_length(text: str) -> SmsLength:
    """Characters and segments of an SMS body as carriers bill it: 160 GSM-7
    characters in one segment, 153 per segment when concatenated (the rest
    is the reassembly header); 70 and 67 in UCS-2."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text):
        encoding, single, multi = "GSM-7", 160, 153
        units = sum(2 if char in _GSM_EXTENDED else 1 for char in text)
    else:
        encoding, single, multi = "UCS-2", 70, 67
        units = len(text.encode("utf-16-le")) // 2
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0, single)
    return SmsLength(encoding, units, -(-units // multi), multi)


def email_srcdoc(body: str, *, message_id: int, links: dict[int, str]) -> str:
    """The email's HTML for the preview frame: no open pixel, and tracked
    links of this message replaced by their destination (``links``: link id
    -> URL); a tracked URL we cannot read leads nowhere."""
    body = _PIXEL.sub("", body)

    def untrack(match: re.Match) -> str:
        try:
            token = read_token(html.unescape(match.group(4)))
        except InvalidToken:
            token = None
        url = "#"
        if token is not None and token.message_id == message_id and token.link_id in links:
            url = links[token.link_id]
        return f'{match.group(1)}"{html.escape(url)}"'

    return _PREVIEW_HEAD + _TRACKED_HREF.sub(untrack, body)


def _pretty_json(body: str) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def message_preview(message: Any, links: Iterable[Any] = ()) -> dict[str, Any]:
    """What the message page's content card shows; ``links`` are the
    action's Link rows."""
    body = message.body or ""
    channel = message.channel
    preview: dict[str, Any] = {"kind": channel, "subject": message.subject, "body": body}
    if channel == Channel.EMAIL:
        if is_html(body):
            preview["kind"] = "email_html"
            preview["srcdoc"] = email_srcdoc(
                body, message_id=message.id, links={link.id: link.url for link in links}
            )
        else:
            preview["kind"] = "email_text"
    elif channel == Channel.SMS:
        preview["length"] = sms_length(body)
    elif channel == Channel.WEBHOOK:
        preview["json"] = _pretty_json(body)
    return preview
