"""The knowledge base, readable without an account: the support website is the
customer's first source of help, before any case."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from vxassist.desk import kb
from vxassist.desk.auth import DatabaseDep
from vxassist.desk.errors import DeskError
from vxassist.desk.idempotency import dump
from vxassist.desk.routes.common import errors, json_response
from vxassist.desk.schemas import KbArticleOut, KbListOut, KbSearchOut, KbSuggestOut

router = APIRouter(prefix="/api/v1/kb", tags=["kb"])

#: an article id fits the databases' integer column
ArticleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the article's number")]
Tag = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=kb.TAG_MAX,
        pattern=r"\S",
        description="only articles carrying this tag (any letter case)",
    ),
]


@router.get("/search", response_model=KbSearchOut)
def search(
    db: DatabaseDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            pattern=r"\S",
            description=(
                "words about the problem: articles with every word first; the last word "
                "also matches as a word's beginning"
            ),
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=50, description="at most this many articles")] = 10,
    tag: Tag = None,
) -> Response:
    """Articles for the words in ``q``, the best match first, each with the passage that
    matched; only those with ``tag`` when one is given. No account needed."""
    with db.reading() as session:
        found = kb.search(session, q, limit, tag)
    return json_response(200, dump({"articles": found}))


@router.get("/suggest", response_model=KbSuggestOut)
def suggest(
    db: DatabaseDep,
    q: Annotated[
        str,
        Query(max_length=500, description="the text being typed (e.g. a case's brief)"),
    ] = "",
) -> Response:
    """Up to three articles for text still being typed: number, title, a short passage
    and the link to the article's page. Text without a word finds nothing. No account
    needed."""
    with db.reading() as session:
        found = kb.suggest(session, q)
    return json_response(200, dump({"articles": found}))


@router.get("/articles", response_model=KbListOut)
def articles(db: DatabaseDep, tag: Tag = None) -> Response:
    """Every article without its body, in order of number; only those with ``tag``
    when one is given. No account needed."""
    with db.reading() as session:
        found = kb.list_articles(session, tag)
    return json_response(200, dump({"articles": found}))


@router.get("/articles/{article_id}", response_model=KbArticleOut, responses=errors(404))
def article(article_id: ArticleId, db: DatabaseDep) -> Response:
    """One article with its Markdown body. No account needed."""
    with db.reading() as session:
        found = kb.get_article(session, article_id)
    if found is None:
        raise DeskError(
            404, "article_not_found", f"There is no article {article_id}; search again."
        )
    return json_response(200, dump(found))
