"""Markdown rendered for a page: hostile text comes out inert, ordinary Markdown
comes out as the engineer meant it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from vxassist.desk.markdown import render


class _Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def _elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


ALLOWED = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "img", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title", "rel"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}

HOSTILE = [
    "<script>alert(1)</script>",
    "Hello <script>alert(1)</script> world",
    '<img src="x" onerror="alert(1)">',
    '<a href="https://example.com" onclick="alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    '<div onmouseover="alert(1)">\n\n*hi*\n\n</div>',
    "<iframe src=https://example.com></iframe>",
    "<svg><script>alert(1)</script></svg>",
    "<style>body{display:none}</style>",
    "<form action=https://evil><input name=x></form>",
    "<<script>script>alert(1)<</script>/script>",
    "<scr<script>ipt>alert(1)</script>",
    '[x](https://example.com "a\\" onmouseover=\\"alert(1)")',
    '![x](https://example.com/a.png "b\\" onerror=\\"alert(1)")',
    "<!-- <script>alert(1)</script> -->",
    "```html\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "> <script>alert(1)</script>\n> [x](javascript:alert(1))",
    "| a | b |\n|---|---|\n| <script>x</script> | [y](javascript:alert(1)) |",
    "[x]: javascript:alert(1)\n\n[link][x]",
    "<javascript:alert(1)>",
    "<a href='javascript:alert(1)'>raw</a>",
    "<meta http-equiv=refresh content='0;url=https://evil'>",
    "<object data=x></object><embed src=x>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_is_inert(text: str) -> None:
    html = render(text)
    for tag, attrs in _elements(html):
        assert tag in ALLOWED, html
        # no event attribute, no script-capable URL
        assert set(attrs) <= ATTRIBUTES.get(tag, set()), html
        for name in ("href", "src"):
            if name in attrs:
                url = attrs[name].strip()
                assert re.match(r"^(https?:|mailto:|/|#|[^:]*$)", url, re.I), (url, html)
        if tag == "a":
            assert attrs.get("rel") == "noopener noreferrer", html
    assert "<script" not in html.lower()
    assert "<iframe" not in html.lower()
    assert "<style" not in html.lower()


def test_raw_html_shows_as_text() -> None:
    html = render("Hello <script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_code_keeps_its_text_escaped() -> None:
    html = render("```\n<img src=x onerror=alert(1)>\n```")
    assert html == "<pre><code>&lt;img src=x onerror=alert(1)&gt;\n</code></pre>\n"


def test_javascript_link_keeps_its_words_not_its_target() -> None:
    html = render("[click me](javascript:alert(1))")
    assert "javascript" not in html.split("click me")[0].lower()
    assert "<a" not in html or 'href="javascript' not in html.lower()


def test_ordinary_markdown_renders() -> None:
    html = render(
        "# Restart the collector\n\n"
        "Run **as administrator**, then *wait*. See [the guide](https://example.com/guide) "
        "or [mail us](mailto:support@example.com).\n\n"
        "1. one\n2. two\n\n"
        "- a\n- b\n\n"
        "`code` and ~~old~~\n\n"
        "| col | n |\n|:---|--:|\n| x | 1 |\n"
    )
    assert "<h1>Restart the collector</h1>" in html
    assert "<strong>as administrator</strong>" in html
    assert "<em>wait</em>" in html
    assert '<a href="https://example.com/guide" rel="noopener noreferrer">the guide</a>' in html
    assert 'href="mailto:support@example.com"' in html
    assert "<ol>" in html and "<ul>" in html
    assert "<code>code</code>" in html and "<s>old</s>" in html
    assert "<table>" in html and 'style="text-align:right"' in html


def test_every_link_gets_noopener_even_a_title_one() -> None:
    html = render('[a](https://example.com "t") and [b](/kb/2)')
    assert html.count('rel="noopener noreferrer"') == 2
    assert 'href="/kb/2"' in html


def test_a_search_passage_reads_as_plain_words() -> None:
    from vxassist.desk.markdown import plain_passage

    cut = (
        "restart. 1. Stop the **collector**. 2. Delete `smdr.pos` in "
        "[its folder](https://x/y). 3. Restart the **VXTracker…"
    )
    assert plain_passage(cut) == (
        "restart. 1. Stop the collector. 2. Delete smdr.pos in its folder. "
        "3. Restart the VXTracker…"
    )
    assert plain_passage("## Heading\n> quoted ~~old~~ text") == "Heading quoted old text"
