"""The knowledge base: articles engineers write, anyone may search and read.

One service layer for the API and ``vxassist desk kb ...``. Search runs in the
database's own full-text engine (migration 0005): SQLite FTS5 with porter
stemming, ranked by BM25; PostgreSQL's ``tsvector`` with English stemming, ranked
by ``ts_rank``; the title weighs more than the body in both. A search reads as
people type: articles with every word first, then (only when those are too few)
articles with some of the words; the last word, still being typed, also matches
as a beginning ("recor" finds "recording"), the words before it as themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vxassist.desk.markdown import plain_passage
from vxassist.desk.models import KbArticle

TITLE_MAX = 200
BODY_MAX = 200_000
#: at most this many words of a query are searched (the rest are ignored)
QUERY_WORDS_MAX = 16
#: the word being typed (a query's last), this long or longer, also matches as the
#: beginning of a longer word; shorter, it would match a good part of the vocabulary
PREFIX_MIN = 3
#: the word being typed also matches as itself without its last 1..this many letters ...
TYPED_PAST_STEM = 3
#: ... as long as this many letters remain
STEM_MIN = 4
ARTICLE_PATH = "/api/v1/kb/articles/{id}"
#: the article as a page a person reads (the public knowledge base)
PAGE_PATH = "/kb/{id}"
#: the suggestions the tray shows while the customer types the brief
SUGGEST_LIMIT = 3
#: a suggestion's passage is cut to this many characters
SUGGEST_SNIPPET_MAX = 160
TAG_MAX = 64

_WORD = re.compile(r"\w+", re.UNICODE)
#: words too common to tell articles apart: PostgreSQL's English list, which its search
#: ignores; they are left out on SQLite too, so both engines find the same (and a brief
#: typed into the tray does not rank every article for its "the" and "not")
_STOP_LIST = """i me my myself we our ours ourselves you your yours yourself yourselves he him
    his himself she her hers herself it its itself they them their theirs themselves
    what which who whom this that these those am is are was were be been being have has
    had having do does did doing a an the and but if or because as until while of at by
    for with about against between into through during before after above below to from
    up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so
    than too very s t can will just don should now"""
STOP_WORDS = frozenset(_STOP_LIST.split())


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
        if len(item) > TAG_MAX:
            raise KbInputError(
                f"Each of {flag} must be at most {TAG_MAX} characters; shorten {item!r}."
            )
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


def delete_article(session: Session, article_id: int) -> dict[str, Any] | None:
    """Remove an article (the index follows in the same transaction); the article as
    it was, or None when there is no such article."""
    article = session.get(KbArticle, article_id)
    if article is None:
        return None
    gone = article_json(article, with_body=False)
    session.delete(article)
    session.flush()
    return gone


def get_article(session: Session, article_id: int) -> dict[str, Any] | None:
    article = session.get(KbArticle, article_id)
    return None if article is None else article_json(article)


def _has_tag(dialect: str, article: str = "a") -> str:
    """SQL true when the article row ``article`` carries the tag ``:tag`` (any case)."""
    if dialect == "sqlite":
        return (
            f"EXISTS (SELECT 1 FROM json_each({article}.tags) t WHERE lower(t.value) = lower(:tag))"
        )
    return (
        f"EXISTS (SELECT 1 FROM json_array_elements_text({article}.tags) t(value) "
        "WHERE lower(t.value) = lower(:tag))"
    )


def list_articles(
    session: Session, tag: str | None = None, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Every article (without its body) in order of number; only those carrying
    ``tag`` when one is given; ``limit`` of them from ``offset`` on, for a page."""
    statement = select(KbArticle).order_by(KbArticle.id)
    if tag is not None and "\x00" in tag:
        return []  # no tag holds one (PostgreSQL text cannot)
    if tag is not None:
        dialect = session.get_bind().dialect.name
        has_tag = text(_has_tag(dialect, KbArticle.__tablename__)).bindparams(tag=tag.strip())
        statement = statement.where(has_tag)
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    rows = session.scalars(statement)
    return [article_json(a, with_body=False) for a in rows]


def tags_in_use(session: Session) -> list[tuple[str, int]]:
    """Each tag with the number of articles carrying it, the most used first."""
    counts: dict[str, int] = {}
    for tags in session.scalars(select(KbArticle.tags)):
        for tag in _tags(tags):
            counts[tag] = counts.get(tag, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0].lower()))


def _all_words(query: str) -> list[str]:
    words: list[str] = []
    for word in _WORD.findall(query.lower()):
        if word in STOP_WORDS:
            continue
        if word in words:
            words.remove(word)  # kept where it was typed last: it may be the word being typed
        words.append(word)
    return words


def query_words(query: str) -> list[str]:
    """The words of a query, as the engines are given them (no operators can get in):
    lower case, each once, no ``STOP_WORDS``, the first ``QUERY_WORDS_MAX``."""
    return _all_words(query)[:QUERY_WORDS_MAX]


def _word_terms(word: str, typing: bool, dialect: str) -> str:
    """One query word as the engine's expression. A finished word matches itself (its
    stem: "recording" finds "recorded"); the word being typed matches as a beginning
    too, and, since the engines store stems, also as itself with its last one to
    ``TYPED_PAST_STEM`` letters dropped: "recordi" is on its way to "recording", whose
    stem "record" it has already passed."""
    forms = [word]
    if typing and word.isalpha():
        for cut in range(1, TYPED_PAST_STEM + 1):
            if len(word) - cut >= STEM_MIN:
                forms.append(word[:-cut])
    prefix = typing and len(word) >= PREFIX_MIN
    if dialect == "sqlite":
        quoted = [f'"{form}"' for form in forms]
        if prefix:
            quoted[0] += "*"
        return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"
    if prefix:
        forms[0] += ":*"
    return forms[0] if len(forms) == 1 else "(" + " | ".join(forms) + ")"


def _search_sql(dialect: str, tagged: bool, skipping: bool) -> str:
    """The best ``:limit`` articles for ``:match`` with a passage cut from each; only
    those with ``:tag`` when ``tagged``; none of the numbers in ``:skip`` when ``skipping``.

    SQLite: FTS5 sorts by ``rank`` itself (BM25, the title weighted five times the
    body) and hands rows over in that order, so the passage is cut only from the rows
    taken, in one statement. PostgreSQL: the best are found first by ``ts_rank`` of the
    stored vector (kept in the row, migration 0012), then the passage, the costly
    part, is cut from those few. The query is made in a CTE the planner cannot look
    into: told how many articles a broad query matches, it would read and test every
    row's vector instead of taking the matches from the GIN index, which costs twice
    as much."""
    where = f" AND {_has_tag(dialect)}" if tagged else ""
    if dialect == "sqlite":
        if skipping:
            where += " AND a.id NOT IN (SELECT value FROM json_each(:skip))"
        return (
            "SELECT a.id, a.title, a.tags, "
            "snippet(kb_articles_fts, 1, '', '', '…', 24) AS snippet "
            "FROM kb_articles_fts JOIN kb_articles a ON a.id = kb_articles_fts.rowid "
            f"WHERE kb_articles_fts MATCH :match AND rank MATCH 'bm25(5.0, 1.0)'{where} "
            "ORDER BY rank LIMIT :limit"
        )
    if skipping:
        where += " AND a.id <> ALL(:skip)"
    return (
        "WITH q AS MATERIALIZED (SELECT to_tsquery('english', :match) AS q), "
        "top AS (SELECT a.id, ts_rank(a.search, q.q) AS rank FROM kb_articles a, q "
        f"WHERE a.search @@ q.q{where} ORDER BY rank DESC, a.id LIMIT :limit) "
        "SELECT a.id, a.title, a.tags, ts_headline('english', a.body, q.q, "
        '\'StartSel="", StopSel="", MaxWords=30, MinWords=12, ShortWord=2\') AS snippet '
        "FROM top JOIN kb_articles a ON a.id = top.id, q ORDER BY top.rank DESC, top.id"
    )


_STATEMENTS = {
    (dialect, tagged, skipping): text(_search_sql(dialect, tagged, skipping))
    for dialect in ("sqlite", "postgresql")
    for tagged in (False, True)
    for skipping in (False, True)
}


def search(
    session: Session, query: str, limit: int, tag: str | None = None
) -> list[dict[str, Any]]:
    """Articles matching ``query``, best first: ``id``, ``title``, ``snippet``, ``tags``,
    ``url`` (its JSON) and ``page`` (its readable page); only those carrying ``tag``
    when one is given. A query without any word finds nothing.

    Articles with every word come first; only when there are fewer than ``limit`` of
    them do articles with some of the words follow (those with more and rarer words
    first). The last word is the one being typed: it also matches as a beginning."""
    every = _all_words(query)
    words = every[:QUERY_WORDS_MAX]
    if not words or (tag is not None and "\x00" in tag):
        return []
    dialect = "sqlite" if session.get_bind().dialect.name == "sqlite" else "postgresql"
    last = len(every) - 1  # the word being typed; not searched when past the most words
    terms = [_word_terms(w, i == last, dialect) for i, w in enumerate(words)]
    both, either = (" AND ", " OR ") if dialect == "sqlite" else (" & ", " | ")
    tagged = tag is not None
    params: dict[str, Any] = {"match": both.join(terms), "limit": limit}
    if tag is not None:
        params["tag"] = tag.strip()
    rows = list(session.execute(_STATEMENTS[(dialect, tagged, False)], params).all())
    if len(terms) > 1 and len(rows) < limit:
        # too few with every word: then those with some of the words
        found = [row.id for row in rows]
        params.update(
            match=either.join(terms),
            limit=limit - len(rows),
            skip=json.dumps(found) if dialect == "sqlite" else found,
        )
        rows += session.execute(_STATEMENTS[(dialect, tagged, True)], params).all()
    return [
        {
            "id": row.id,
            "title": row.title,
            "snippet": plain_passage(str(row.snippet or "")),
            "tags": _tags(row.tags),
            "url": ARTICLE_PATH.format(id=row.id),
            "page": PAGE_PATH.format(id=row.id),
        }
        for row in rows
    ]


def suggest(session: Session, query: str, limit: int = SUGGEST_LIMIT) -> list[dict[str, Any]]:
    """A few articles for text being typed (a case's brief): ``id``, ``title``, a
    short ``snippet`` and ``url``, the article's readable page."""
    found = search(session, query, limit)
    return [
        {
            "id": hit["id"],
            "title": hit["title"],
            "snippet": _shorten(hit["snippet"], SUGGEST_SNIPPET_MAX),
            "url": PAGE_PATH.format(id=hit["id"]),
        }
        for hit in found
    ]


def _shorten(passage: str, most: int) -> str:
    if len(passage) <= most:
        return passage
    cut = passage[: most - 1]
    space = cut.rfind(" ")
    if space > most // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:…") + "…"


def _tags(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return [str(t) for t in raw or []]
