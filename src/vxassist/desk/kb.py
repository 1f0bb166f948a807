"""The knowledge base: articles engineers write, anyone may search and read.

One service layer for the API and ``vxassist desk kb ...``. Search runs in the
database's own full-text engine (migration 0005): SQLite FTS5 with porter
stemming, ranked by BM25 with the title weighted above the body; PostgreSQL's
``tsvector`` with English stemming, ranked by ``ts_rank_cd``. Every word of the
query also matches as a prefix ("recor" finds "recording"), and an article
matching any word is found, those matching more and rarer words first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vxassist.desk.models import KbArticle

TITLE_MAX = 200
BODY_MAX = 200_000
#: at most this many words of a query are searched (the rest are ignored)
QUERY_WORDS_MAX = 16
ARTICLE_PATH = "/api/v1/kb/articles/{id}"

_WORD = re.compile(r"\w+", re.UNICODE)


class KbInputError(ValueError):
    """An article's fields are not acceptable; the message says which and what to do."""


@dataclass(frozen=True)
class ArticleIn:
    """An article's fields as written; ``None`` on an edit means "keep as it is"."""

    title: str | None = None
    body: str | None = None
    tags: list[str] | None = None
    versions: list[str] | None = None


def _clean_list(values: list[str], flag: str) -> list[str]:
    out: list[str] = []
    for value in values:
        item = value.strip()
        if not item:
            continue
        if len(item) > 64:
            raise KbInputError(f"Each of {flag} must be at most 64 characters; shorten {item!r}.")
        if item not in out:
            out.append(item)
    return out


def _checked(new: ArticleIn) -> dict[str, Any]:
    """The fields to store, validated; KbInputError names the first bad one."""
    values: dict[str, Any] = {}
    if new.title is not None:
        title = new.title.strip()
        if not title:
            raise KbInputError("The title must not be empty; give the article a title.")
        if len(title) > TITLE_MAX:
            raise KbInputError(f"The title must be at most {TITLE_MAX} characters; shorten it.")
        values["title"] = title
    if new.body is not None:
        if not new.body.strip():
            raise KbInputError("The body must not be empty; write the article's text.")
        if len(new.body) > BODY_MAX:
            raise KbInputError(f"The body must be at most {BODY_MAX} characters; split it.")
        values["body"] = new.body
    if new.tags is not None:
        values["tags"] = _clean_list(new.tags, "the tags")
    if new.versions is not None:
        values["versions"] = _clean_list(new.versions, "the versions")
    return values


def article_json(article: KbArticle, with_body: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": article.id,
        "title": article.title,
        "tags": list(article.tags),
        "versions": list(article.versions),
        "created_at": article.created_at.isoformat(),
        "updated_at": article.updated_at.isoformat(),
        "url": ARTICLE_PATH.format(id=article.id),
    }
    if with_body:
        data["body"] = article.body
    return data


def add_article(session: Session, new: ArticleIn, now: datetime) -> dict[str, Any]:
    values = _checked(new)
    for name in ("title", "body"):
        if name not in values:
            raise KbInputError(f"An article needs a {name}; give one and try again.")
    article = KbArticle(
        title=values["title"],
        body=values["body"],
        tags=values.get("tags", []),
        versions=values.get("versions", []),
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    session.flush()
    return article_json(article)


def edit_article(
    session: Session, article_id: int, change: ArticleIn, now: datetime
) -> dict[str, Any] | None:
    """The article after the change; None when there is no such article."""
    values = _checked(change)
    article = session.get(KbArticle, article_id)
    if article is None:
        return None
    if values:
        for name, value in values.items():
            setattr(article, name, value)
        article.updated_at = now
        session.flush()
    return article_json(article)


def get_article(session: Session, article_id: int) -> dict[str, Any] | None:
    article = session.get(KbArticle, article_id)
    return None if article is None else article_json(article)


def list_articles(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(KbArticle).order_by(KbArticle.id))
    return [article_json(a, with_body=False) for a in rows]


def query_words(query: str) -> list[str]:
    """The words of a query, as the engines are given them (no operators can get in)."""
    return _WORD.findall(query.lower())[:QUERY_WORDS_MAX]


_SQLITE_SEARCH = text(
    "SELECT a.id, a.title, a.tags, "
    "snippet(kb_articles_fts, 1, '', '', '…', 24) AS snippet, "
    "bm25(kb_articles_fts, 5.0, 1.0) AS rank "
    "FROM kb_articles_fts JOIN kb_articles a ON a.id = kb_articles_fts.rowid "
    "WHERE kb_articles_fts MATCH :match ORDER BY rank, a.id LIMIT :limit"
)

_POSTGRES_SEARCH = text(
    "SELECT a.id, a.title, a.tags, "
    "ts_headline('english', a.body, q, "
    '\'StartSel="", StopSel="", MaxWords=30, MinWords=12, ShortWord=2\') AS snippet, '
    "ts_rank_cd(a.search, q) AS rank "
    "FROM kb_articles a, to_tsquery('english', :match) q "
    "WHERE a.search @@ q ORDER BY rank DESC, a.id LIMIT :limit"
)


def search(session: Session, query: str, limit: int) -> list[dict[str, Any]]:
    """Articles matching ``query``, best first: ``id``, ``title``, ``snippet``, ``tags``,
    ``url``. A query without any word finds nothing."""
    words = query_words(query)
    if not words:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        match = " OR ".join(f'"{w}"*' for w in words)
        statement = _SQLITE_SEARCH
    else:
        match = " | ".join(f"{w}:*" for w in words)
        statement = _POSTGRES_SEARCH
    rows = session.execute(statement, {"match": match, "limit": limit}).all()
    return [
        {
            "id": row.id,
            "title": row.title,
            "snippet": " ".join(str(row.snippet or "").split()),
            "tags": _tags(row.tags),
            "url": ARTICLE_PATH.format(id=row.id),
        }
        for row in rows
    ]


def _tags(raw: Any) -> list[str]:
    if isinstance(raw, str):
        import json

        raw = json.loads(raw)
    return [str(t) for t in raw or []]
