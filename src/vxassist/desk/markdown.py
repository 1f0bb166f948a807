"""Markdown to HTML that is safe to put in a page: the one way the desk renders
text someone wrote (knowledge-base articles, anything else in Markdown).

Two locks, each enough on its own for the common attacks: markdown-it-py parses
with raw HTML off (a ``<script>`` in the text comes out as text) and refuses
``javascript:``/``vbscript:``/``file:``/``data:`` links; nh3 (the Ammonia
sanitiser) then keeps only an allow-list of tags, attributes and URL schemes and
gives every link ``rel="noopener noreferrer"``. markdown-it-py and nh3 enter the
project here and nowhere else.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

#: what Markdown produces, and no more (no forms, frames, style, or event attributes)
_TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "img", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th",
        "thead", "tr", "ul",
    }
)  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # commonmark with raw HTML off; tables and strikethrough as engineers expect
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
        ["table", "strikethrough"]
    )


def render(text: str) -> str:
    """``text`` (Markdown) as sanitised HTML: raw HTML shown as text, only plain
    formatting tags kept, links limited to http(s) and mailto with
    ``rel="noopener noreferrer"``."""
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=set(_TAGS),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        url_schemes=set(_URL_SCHEMES),
        link_rel="noopener noreferrer",
        # table cell alignment is the only style markdown-it writes
        filter_style_properties={"text-align"},
        strip_comments=True,
    )


_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"(\*\*|__|~~|`+|^#{1,6}\s+|(?<=\s)#{1,6}\s+|^>\s?)", re.M)


def plain_passage(fragment: str) -> str:
    """A cut of Markdown (a search passage) as plain words: links and images by
    their text, emphasis, code and heading marks dropped. The cut may split a
    mark in two; what is left of it goes too, so no ``**`` reaches a reader."""
    text = _IMAGE_OR_LINK.sub(r"\1", fragment)
    text = _MARKS.sub("", text)
    return " ".join(text.split())
