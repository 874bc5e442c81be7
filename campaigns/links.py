"""Which links of an action's body are tracked (CONTRACT.md): the ``href`` of
``<a>`` tags in HTML bodies; in bodies that are not HTML, bare http(s) URLs
ending at whitespace, a quote, ``<`` or ``>``.

Pure functions, no database: the API and the send pipeline (which rewrites the
same links to tracked URLs) must agree on the list.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_URL_LENGTH = 2000  # Link.url's column

# A body is HTML when it holds at least one tag (an element, or a closing or
# self-closing one); "a < b > c" in plain text is not a tag.
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(\s[^<>]*)?/?>")
_BARE_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)
_HTTP = re.compile(r"^https?://[^\s/?#]+", re.IGNORECASE)


def is_html(body: str) -> bool:
    return _TAG.search(body) is not None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        # convert_charrefs: "&amp;" in an href becomes "&", as a browser reads it.
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        for name, value in attrs:
            if name == "href" and value:
                self.hrefs.append(value.strip())
                return

    handle_startendtag = handle_starttag


def links_from_body(body: str) -> list[str]:
    """Distinct tracked URLs in order of first appearance. Only absolute
    http(s) URLs: mailto:, tel:, anchors and relative paths cannot be
    redirected through a click-tracking URL."""
    if is_html(body):
        parser = _Anchors()
        parser.feed(body)
        parser.close()
        candidates = [href for href in parser.hrefs if _HTTP.match(href)]
    else:
        candidates = _BARE_URL.findall(body)
    return [
        url for url in dict.fromkeys(candidates) if len(url) <= MAX_URL_LENGTH and _HTTP.match(url)
    ]
