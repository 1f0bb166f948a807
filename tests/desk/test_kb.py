"""The knowledge base on SQLite and PostgreSQL: written through the service the CLI
uses, searched and read over HTTP without an account, by the database's own
full-text engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.desk.conftest import Desk
from vxassist.desk import kb

SMDR = kb.ArticleIn(
    title="Calls are not recorded: check the SMDR link",
    body="When the PBX stops sending SMDR records, restart the collector service "
    "and check the serial cable.",
    tags=["smdr", "recording"],
    versions=["9.1", "9.2"],
)
EXPORT = kb.ArticleIn(
    title="Exporting a report to Excel",
    body="Reports export to CSV; when calls are missing from the export, widen the date range.",
    tags=["reports"],
    versions=["9.2"],
)


def _add(desk: Desk, new: kb.ArticleIn) -> dict[str, Any]:
    with desk.db.writing() as session:
        return kb.add_article(session, new, desk.clock())


def _search(desk: Desk, q: str, **params: Any) -> list[dict[str, Any]]:
    answer = desk.client.get("/api/v1/kb/search", params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["articles"])


def test_search_finds_by_title_and_body_ranked_without_an_account(desk: Desk) -> None:
    smdr = _add(desk, SMDR)
    export = _add(desk, EXPORT)
    # a title word outranks a body word
    found = _search(desk, "calls")
    assert [a["id"] for a in found] == [smdr["id"], export["id"]]
    assert found[0]["tags"] == ["smdr", "recording"]
    assert found[0]["url"] == f"/api/v1/kb/articles/{smdr['id']}"
    assert found[0]["page"] == f"/kb/{smdr['id']}"
    assert "collector" in _search(desk, "collector")[0]["snippet"]
    # body only
    assert [a["id"] for a in _search(desk, "serial cable")] == [smdr["id"]]
    # more of the words first
    assert _search(desk, "excel export")[0]["id"] == export["id"]
    assert _search(desk, "nothing-like-this zzzz") == []
    assert len(_search(desk, "calls", limit=1)) == 1


def test_stemming_and_prefixes_find_other_forms(desk: Desk) -> None:
    smdr = _add(desk, SMDR)
    assert [a["id"] for a in _search(desk, "recording")] == [smdr["id"]]  # "recorded"
    assert [a["id"] for a in _search(desk, "restarting")] == [smdr["id"]]  # "restart"
    assert [a["id"] for a in _search(desk, "colle")] == [smdr["id"]]  # prefix of "collector"
    assert [a["id"] for a in _search(desk, "col")] == [smdr["id"]]
    # one or two letters match only as themselves: as a prefix they would match half
    # the vocabulary and make every search rank thousands of articles
    assert _search(desk, "co") == []


def test_the_edited_text_is_what_is_found(desk: Desk) -> None:
    smdr = _add(desk, SMDR)
    with desk.db.writing() as session:
        kb.edit_article(
            session, smdr["id"], kb.ArticleIn(body="Reseat the fibre transceiver."), desk.clock()
        )
    assert _search(desk, "serial") == []
    assert [a["id"] for a in _search(desk, "transceiver")] == [smdr["id"]]
    assert [a["id"] for a in _search(desk, "SMDR")] == [smdr["id"]]  # the title stays
    one = desk.client.get(f"/api/v1/kb/articles/{smdr['id']}")
    assert one.status_code == 200
    assert one.json()["body"] == "Reseat the fibre transceiver."
    assert one.json()["versions"] == ["9.1", "9.2"]


def test_bad_input_is_a_sentence(desk: Desk) -> None:
    empty = desk.client.get("/api/v1/kb/search", params={"q": ""})
    assert empty.status_code == 422
    assert ["query", "q"] in [e["loc"] for e in empty.json()["detail"]]
    missing = desk.client.get("/api/v1/kb/search")
    assert missing.status_code == 422 and "q" in json.dumps(missing.json())
    assert desk.client.get("/api/v1/kb/search", params={"q": "x", "limit": 0}).status_code == 422
    # operators of the engines are plain words here, never a syntax error
    assert _search(desk, 'AND OR NOT " * ( ) : & | !') == []
    assert _search(desk, "_ __ a_b 123 é NEAR the") == []
    gone = desk.client.get("/api/v1/kb/articles/999")
    assert gone.status_code == 404
    assert gone.json()["detail"]["message"].endswith(".")
    assert desk.client.get("/api/v1/kb/articles/0").status_code == 422
    with desk.db.writing() as session, pytest.raises(kb.KbInputError, match="title"):
        kb.add_article(session, kb.ArticleIn(title=" ", body="x"), desk.clock())
    with desk.db.writing() as session:
        assert kb.edit_article(session, 12345, kb.ArticleIn(title="x"), desk.clock()) is None


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    from vxassist import cli

    code = cli.main(list(argv))
    out = capsys.readouterr()
    data = json.loads(out.out) if "--json" in argv and code == 0 else out.out
    return code, data, out.err


def test_cli_add_edit_list_and_the_desk_finds_it(
    desk: Desk, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    body = tmp_path / "article.md"
    body.write_text("# Licence\n\nThe licence server refuses **expired** keys.\n", "utf-8")
    code, added, err = _cli(
        capsys,
        *("desk", "kb", "add", "--db", desk.url, "--json", "--title", "Licence errors"),
        *("--body-file", str(body), "--tags", "licence, keys", "--versions", "9.1"),
    )
    assert code == 0, err
    assert added["tags"] == ["licence", "keys"] and added["body"].startswith("# Licence")
    assert [a["id"] for a in _search(desk, "expire")] == [added["id"]]
    code, edited, err = _cli(
        capsys,
        *("desk", "kb", "edit", str(added["id"]), "--db", desk.url, "--json"),
        *("--body", "Renew the maintenance token.", "--versions", "9.1,9.2"),
    )
    assert code == 0, err
    assert edited["title"] == "Licence errors" and edited["versions"] == ["9.1", "9.2"]
    assert _search(desk, "expired") == []
    assert [a["id"] for a in _search(desk, "renewing token")] == [added["id"]]
    code, listed, _ = _cli(capsys, "desk", "kb", "list", "--db", desk.url, "--json")
    assert [a["title"] for a in listed["articles"]] == ["Licence errors"]
    code, text, _ = _cli(capsys, "desk", "kb", "list", "--db", desk.url)
    assert "Licence errors" in text and "9.1, 9.2" in text


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (["add", "--title", "T"], "needs a body"),
        (["add", "--title", " ", "--body", "x"], "title must not be empty"),
        (["add", "--title", "T", "--body-file", "/no/such/file.md"], "Cannot read --body-file"),
        (["edit", "4242", "--title", "T"], "no article 4242"),
    ],
)
def test_cli_mistakes_are_sentences(
    desk: Desk, capsys: pytest.CaptureFixture[str], argv: list[str], sentence: str
) -> None:
    code, _, err = _cli(capsys, "desk", "kb", *argv, "--db", desk.url)
    assert code != 0
    assert sentence in err and "Traceback" not in err


def _suggest(desk: Desk, q: str) -> list[dict[str, Any]]:
    answer = desk.client.get("/api/v1/kb/suggest", params={"q": q})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["articles"])


def test_suggestions_for_a_brief_being_typed_are_short_and_link_the_page(desk: Desk) -> None:
    smdr = _add(desk, SMDR)
    for n in range(5):
        filler = "Administrators reconfiguring telecommunications " * 40
        _add(desk, kb.ArticleIn(title=f"Calls report {n}", body=filler))
    found = _suggest(desk, "calls not recor")
    assert len(found) == kb.SUGGEST_LIMIT
    assert smdr["id"] in [hit["id"] for hit in found]
    for hit in found:
        assert set(hit) == {"id", "title", "snippet", "url"}
        assert hit["url"] == f"/kb/{hit['id']}"
        assert len(hit["snippet"]) <= kb.SUGGEST_SNIPPET_MAX
    assert any(hit["snippet"].endswith("…") for hit in found[1:])
    # nothing typed yet, or nothing but signs: no suggestion and no error
    assert _suggest(desk, "") == []
    assert _suggest(desk, "  ?! ") == []
    assert desk.client.get("/api/v1/kb/suggest").json() == {"articles": []}
    too_long = desk.client.get("/api/v1/kb/suggest", params={"q": "x" * 501})
    assert too_long.status_code == 422


def test_suggest_search_and_list_are_in_the_document(desk: Desk) -> None:
    paths = desk.client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/kb/suggest", "/api/v1/kb/search", "/api/v1/kb/articles"):
        assert "get" in paths[path], path
        assert "security" not in paths[path]["get"], path  # readable without an account
    assert "tag" in [p["name"] for p in paths["/api/v1/kb/search"]["get"]["parameters"]]


def test_tags_filter_search_and_list(desk: Desk) -> None:
    smdr = _add(desk, SMDR)
    export = _add(desk, EXPORT)
    assert [a["id"] for a in _search(desk, "calls", tag="reports")] == [export["id"]]
    assert [a["id"] for a in _search(desk, "calls", tag="SMDR")] == [smdr["id"]]
    assert _search(desk, "calls", tag="nosuchtag") == []
    listed = desk.client.get("/api/v1/kb/articles", params={"tag": "Recording"})
    assert [a["id"] for a in listed.json()["articles"]] == [smdr["id"]]
    everything = desk.client.get("/api/v1/kb/articles").json()["articles"]
    assert [a["id"] for a in everything] == [smdr["id"], export["id"]]
    assert "body" not in everything[0]
    with desk.db.reading() as session:
        assert kb.tags_in_use(session) == [("recording", 1), ("reports", 1), ("smdr", 1)]
        assert kb.list_articles(session, "a\x00b") == []
    # a tag with quotes or JSON-looking text is only a word to compare
    assert _search(desk, "calls", tag='"] OR 1=1 --') == []


def test_a_removed_article_is_no_longer_found(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    smdr = _add(desk, SMDR)
    export = _add(desk, EXPORT)
    code, gone, err = _cli(
        capsys, "desk", "kb", "remove", str(smdr["id"]), "--db", desk.url, "--json"
    )
    assert code == 0, err
    assert gone["id"] == smdr["id"] and gone["title"] == SMDR.title
    assert [a["id"] for a in _search(desk, "calls")] == [export["id"]]
    assert _suggest(desk, "SMDR serial") == []
    assert desk.client.get(f"/api/v1/kb/articles/{smdr['id']}").status_code == 404
    code, _, err = _cli(capsys, "desk", "kb", "remove", str(smdr["id"]), "--db", desk.url)
    assert code != 0 and f"no article {smdr['id']}" in err and "Traceback" not in err
