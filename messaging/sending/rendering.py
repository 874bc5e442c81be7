"""The content snapshot of a message: its action's subject and body with the
person's attributes filled in, tracked links rewritten to our click URL and,
for HTML email that tracks opens, an open pixel.

Placeholders are ``{{ name }}`` or ``{{ name|fallback }}``; a name is one of
the person's attributes or ``external_id``, ``email``, ``phone``. A missing
value renders the fallback (or nothing). Values are HTML-escaped in HTML
bodies.

Links are found as campaigns.links finds them when the action is created
(the ``href`` of ``<a>`` tags in HTML bodies, bare ``http(s)://`` URLs in
others); every occurrence of a tracked URL is rewritten to its Link's click
URL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from campaigns import channels
from campaigns.links import is_html
from campaigns.models import Action, Link
from campaigns.vocabulary import Channel
from messaging.tracking.tokens import click_url, open_pixel_url, unsubscribe_url

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*(?:\|([^}]*))?\}\}")
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""", re.I)
_BARE_URL = re.compile(r"""https?://[^\s"'<>]+""", re.I)
_BODY_END = re.compile(r"</body\s*>", re.I)


@dataclass(frozen=True, slots=True)
class Template:
    """An action prepared once for rendering many messages."""

    action: Action
    links: tuple[Link, ...]
    html: bool
    track_links: bool
    track_opens: bool


def template_for(action: Action, links: Sequence[Link] | None = None) -> Template:
    if links is None:
        links = list(Link.objects.filter(action=action).order_by("position"))
    return Template(
        action=action,
        links=tuple(sorted(links, key=lambda link: link.position)),
        html=is_html(action.body),
        track_links=action.track_links and channels.link_tracking_applies(action.channel),
        track_opens=action.track_opens and action.channel == Channel.EMAIL,
    )


def person_values(person: Any) -> dict[str, str]:
    values = {
        str(key): "" if value is None else str(value)
        for key, value in (person.attributes or {}).items()
    }
    values.update(external_id=person.external_id, email=person.email, phone=person.phone)
    return values


def _personalise(text: str, values: dict[str, str], *, escape: bool) -> str:
    if "{{" not in text:
        return text

    def fill(match: re.Match) -> str:
        value = values.get(match.group(1)) or (match.group(2) or "").strip()
        return html.escape(value) if escape else value

    return _PLACEHOLDER.sub(fill, text)


def _rewrite_links(template: Template, body: str, message_id: int) -> str:
    by_url = {}
    for link in template.links:
        by_url.setdefault(link.url, link)

    if template.html:

        def replace_href(match: re.Match) -> str:
            raw = next(g for g in match.groups()[1:] if g is not None)
            # campaigns.links reads hrefs as a browser does ("&amp;" is "&").
            link = by_url.get(html.unescape(raw).strip())
            if link is None:
                return match.group(0)
            return f'{match.group(1)}"{click_url(message_id, link.id)}"'

        return _HREF.sub(replace_href, body)

    def replace_bare(match: re.Match) -> str:
        link = by_url.get(match.group(0))
        return click_url(message_id, link.id) if link is not None else match.group(0)

    return _BARE_URL.sub(replace_bare, body)


def render(template: Template, *, person: Any, message_id: int) -> tuple[str, str]:
    """(subject, body) of one message."""
    values = person_values(person)
    body = template.action.body
    if template.track_opens and not template.html:
        return _personalise(template.action.subject, values, escape=False), _as_html(
            template, values, message_id
        )
    if template.track_links and template.links:
        # Links first, so a placeholder inside a URL cannot break the match
        # with the stored Link.url.
        body = _rewrite_links(template, body, message_id)
    body = _personalise(body, values, escape=template.html)
    if template.track_opens and template.html:
        pixel = f'<img src="{open_pixel_url(message_id)}" width="1" height="1" alt="">'
        body, found = _BODY_END.subn(pixel + "</body>", body, count=1)
        if not found:
            body += pixel
    subject = _personalise(template.action.subject, values, escape=False)
    return subject, body


def _as_html(template: Template, values: dict[str, str], message_id: int) -> str:
    """A plain-text email that tracks opens goes out as HTML (an open pixel
    needs an HTML part, as with any ESP's open tracking): the text escaped,
    line breaks kept, its URLs made links (tracked ones to our click URL)."""
    by_url = {}
    if template.track_links:
        for link in template.links:
            by_url.setdefault(link.url, link)
    parts = []
    text = template.action.body
    position = 0
    for match in _BARE_URL.finditer(text):
        parts.append(_personalise(html.escape(text[position : match.start()]), values, escape=True))
        url = match.group(0)
        link = by_url.get(url)
        href = click_url(message_id, link.id) if link is not None else url
        parts.append(f'<a href="{html.escape(href)}">{html.escape(url)}</a>')
        position = match.end()
    parts.append(_personalise(html.escape(text[position:]), values, escape=True))
    content = "".join(parts).replace("\r\n", "\n").replace("\n", "<br>\n")
    pixel = f'<img src="{open_pixel_url(message_id)}" width="1" height="1" alt="">'
    return f"<html><body>\n<p>{content}</p>\n{pixel}</body></html>"


def email_headers(message_id: int, unsubscribe: str | None = None) -> dict[str, str]:
    """The headers every email carries: one-click unsubscribe (RFC 8058, and
    RFC 2369's List-Unsubscribe), bound to the message by a signed token
    (``unsubscribe``: its URL when already made)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe or unsubscribe_url(message_id)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def message_headers(message: Any, tracking: dict[str, Any] | None = None) -> dict[str, str]:
    """The headers the message is sent with (CONTRACT.md `headers`); pass its
    message_tracking block when at hand, so the URL is not signed twice."""
    if message.channel != Channel.EMAIL:
        return {}
    return email_headers(message.id, tracking["unsubscribe_url"] if tracking else None)


def links_by_action(action_ids: Iterable[int]) -> dict[int, list[Link]]:
    """Each action's links in position order, for many actions in one read
    (an action without links is absent)."""
    found: dict[int, list[Link]] = {}
    action_ids = set(action_ids)
    if action_ids:
        for link in Link.objects.filter(action_id__in=action_ids).order_by("action_id", "position"):
            found.setdefault(link.action_id, []).append(link)
    return found


def message_tracking(message: Any, links: Sequence[Link] | None = None) -> dict[str, Any]:
    """CONTRACT.md's `tracking` block: the URLs the rendered message carries.
    ``message`` needs ``id``, ``channel``, ``action_id`` and ``body``; pass
    its action's links (links_by_action) when rendering many."""
    if links is None:
        links = links_by_action([message.action_id]).get(message.action_id, [])
    # Every tracking URL starts with our public URL: a body without it (text
    # sent untracked) carries none, and nothing need be signed to say so.
    ours = settings.TIDINGS_PUBLIC_URL in message.body
    pixel = open_pixel_url(message.id) if ours else None
    tracked = [(link, click_url(message.id, link.id)) for link in links] if ours else []
    return {
        "open_pixel": pixel if pixel is not None and pixel in message.body else None,
        "unsubscribe_url": (
            unsubscribe_url(message.id) if message.channel == Channel.EMAIL else None
        ),
        "links": [
            {"link": link.id, "url": link.url, "tracked_url": url}
            for link, url in tracked
            if url in message.body
        ],
    }
