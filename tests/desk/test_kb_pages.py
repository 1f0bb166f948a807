"""The knowledge base as pages: public list, search, tags and article without an
account; the engineers' editor in the console (signed in, CSRF-checked); hostile
Markdown and titles shown inert; the update-request answer form. SQLite and
PostgreSQL, driven as a browser without JavaScript would."""

from __future__ import annotations

import re
from typing import Any

from tests.console.conftest import Console, add_engineer
from tests.desk.conftest import Desk
from vxassist.desk import kb

HOSTILE_TITLE = "<script>alert('t')</script> Licence <img src=x onerror=alert(1)>"
HOSTILE_BODY = (
    "# Licence keys\n\n<script>alert('b')</script>\n\n"
    "[renew](javascript:alert(1)) and [the guide](https://example.com/guide)\n\n"
    '<img src="x" onerror="alert(2)">\n'
)


def _add(desk: Desk, title: str, body: str, tags: list[str]) -> dict[str, Any]:
    with desk.db.writing() as session:
        return kb.add_article(
            session, kb.ArticleIn(title=title, body=body, tags=tags, versions=["9.1"]), desk.clock()
        )


def _inert(html: str) -> None:
    assert "<script>alert" not in html
    assert not re.search(r"<img[^>]*onerror", html, re.I)
    assert 'href="javascript:' not in html.lower()


def test_the_public_pages_list_search_filter_and_show_without_an_account(desk: Desk) -> None:
    smdr = _add(desk, "Calls are not recorded", "Check the **SMDR** link.", ["smdr", "calls"])
    export = _add(desk, "Exporting reports", "Reports export to CSV.", ["reports"])
    hostile = _add(desk, HOSTILE_TITLE, HOSTILE_BODY, ["<b>x</b>"])
    listing = desk.client.get("/kb")
    assert listing.status_code == 200
    for a in (smdr, export, hostile):
        assert f'href="/kb/{a["id"]}"' in listing.text
    _inert(listing.text)
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt; Licence" in listing.text
    assert "&lt;b&gt;x&lt;/b&gt;" in listing.text  # the tag, as text
    found = desk.client.get("/kb", params={"q": "recorded"})
    assert f'href="/kb/{smdr["id"]}"' in found.text
    assert f'href="/kb/{export["id"]}"' not in found.text
    tagged = desk.client.get("/kb", params={"tag": "reports"})
    assert f'href="/kb/{export["id"]}"' in tagged.text
    assert f'href="/kb/{smdr["id"]}"' not in tagged.text
    none = desk.client.get("/kb", params={"q": "zzzz nothing"})
    assert none.status_code == 200 and "No article matches" in none.text
    page = desk.client.get(f"/kb/{smdr['id']}")
    assert page.status_code == 200
    assert "<strong>SMDR</strong>" in page.text  # the Markdown, rendered
    assert "Calls are not recorded" in page.text
    for bad in ("999999", "0", "x", "1e3", "-1", "99999999999999999999"):
        gone = desk.client.get(f"/kb/{bad}")
        assert gone.status_code == 404, bad
        assert "search the knowledge base again" in gone.text


def test_hostile_markdown_is_inert_on_the_article_page(desk: Desk) -> None:
    hostile = _add(desk, HOSTILE_TITLE, HOSTILE_BODY, [])
    page = desk.client.get(f"/kb/{hostile['id']}")
    assert page.status_code == 200
    _inert(page.text)
    assert "&lt;script&gt;alert('b')&lt;/script&gt;" in page.text
    assert (
        '<a href="https://example.com/guide" rel="noopener noreferrer">the guide</a>' in page.text
    )
    assert "script-src 'none'" in page.headers["Content-Security-Policy"]


def test_engineers_write_edit_and_delete_in_the_console(desk: Desk) -> None:
    add_engineer(desk, "jdoe")
    browser = Console(desk)
    # not signed in: the editor is the sign-in page, and a POST does nothing
    assert (
        "/console/signin" in browser.get("/console/kb", follow_redirects=False).headers["location"]
    )
    refused = browser.client.post(
        "/console/kb/new", data={"csrf": "x", "title": "T", "body": "B"}, follow_redirects=False
    )
    assert refused.status_code == 303 and "/console/signin" in refused.headers["location"]
    browser.sign_in("jdoe")
    added = browser.post_form(
        "/console/kb/new",
        "/console/kb/new",
        {"title": HOSTILE_TITLE, "body": HOSTILE_BODY, "tags": "keys, licence", "versions": ""},
    )
    assert added.status_code == 200 and "added" in added.text
    _inert(added.text)
    with desk.db.reading() as session:
        [article] = kb.list_articles(session)
    assert article["tags"] == ["keys", "licence"]
    number = article["id"]
    edit = browser.get(f"/console/kb/{number}/edit")
    assert edit.status_code == 200
    _inert(edit.text)
    saved = browser.post_form(
        f"/console/kb/{number}/edit",
        f"/console/kb/{number}/edit",
        {"title": "Licence keys", "body": "Renew the **token**.", "tags": "licence"},
    )
    assert saved.status_code == 200 and "saved" in saved.text
    found = desk.client.get("/api/v1/kb/search", params={"q": "token"}).json()["articles"]
    assert [a["id"] for a in found] == [number]
    # a bad field comes back as a sentence with the form kept
    empty = browser.post_form(
        f"/console/kb/{number}/edit", f"/console/kb/{number}/edit", {"title": " ", "body": "x"}
    )
    assert empty.status_code == 422 and "title must not be empty" in empty.text
    # a forged form (no CSRF token) is refused and changes nothing
    forged = browser.client.post(f"/console/kb/{number}/delete", data={})
    assert forged.status_code in (400, 403)
    assert desk.client.get(f"/api/v1/kb/articles/{number}").status_code == 200
    gone = browser.post_form("/console/kb", f"/console/kb/{number}/delete", {})
    assert gone.status_code == 200 and f"Article {number} removed" in gone.text
    assert desk.client.get(f"/api/v1/kb/articles/{number}").status_code == 404
    assert desk.client.get(f"/kb/{number}").status_code == 404


def test_update_requests_are_answered_from_the_console(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    asked = desk.client.post(
        "/api/v1/update-requests",
        json={
            "kind": "upgrade",
            "product_version": "9.1",
            "target_version": "9.2",
            "description": "<script>alert(1)</script> new driver",
            "contact_name": "Bob <b>Other</b>",
            "contact_email": "bob@acme.example",
        },
        headers=host,
    ).json()
    assert asked["status"] == "refused"
    add_engineer(desk, "jdoe")
    browser = Console(desk)
    browser.sign_in("jdoe")
    listing = browser.get("/console/update-requests")
    assert listing.status_code == 200
    assert "technical contact named in your agreement, Ann Example" in listing.text
    assert "<script>alert(1)" not in listing.text and "Bob &lt;b&gt;Other" in listing.text
    bad = browser.post_form(
        "/console/update-requests",
        f"/console/update-requests/{asked['id']}/answer",
        {"answer": "Here.", "download_url": "javascript:alert(1)"},
    )
    assert "http:// or https://" in bad.text
    done = browser.post_form(
        "/console/update-requests",
        f"/console/update-requests/{asked['id']}/answer",
        {
            "answer": "Ann has asked for it now; here it is.",
            "download_url": "https://dl.example/9.2",
        },
    )
    assert done.status_code == 200 and f"Update request {asked['id']} answered" in done.text
    read = desk.client.get(f"/api/v1/update-requests/{asked['id']}", headers=host).json()
    assert read["answer"].startswith("Ann has asked") and read["answered_by"] == "jdoe"
    assert read["download_url"] == "https://dl.example/9.2"


def test_the_public_list_comes_in_pages(desk: Desk) -> None:
    from vxassist.desk.console.kb import PAGE_RESULTS

    with desk.db.writing() as session:
        made = [
            kb.add_article(
                session, kb.ArticleIn(title=f"Note {n}", body="text", tags=["t"]), desk.clock()
            )["id"]
            for n in range(PAGE_RESULTS + 1)
        ]
    first = desk.client.get("/kb")
    assert f'href="/kb/{made[0]}"' in first.text and f'href="/kb/{made[-1]}"' not in first.text
    assert "page=2" in first.text and "Next page" in first.text
    second = desk.client.get("/kb", params={"page": "2", "tag": "T"})
    assert f'href="/kb/{made[-1]}"' in second.text and f'href="/kb/{made[0]}"' not in second.text
    assert "Next page" not in second.text and "page=1" in second.text
    for odd in ("0", "-3", "x", "9" * 40):
        assert desk.client.get("/kb", params={"page": odd}).status_code == 200
