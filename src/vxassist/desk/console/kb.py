"""The knowledge base as web pages: the public list, search and article (no account,
as the policy says: the support website is the first source of help), and the
engineers' editor in the console (new, edit, delete; signed in, CSRF-checked).

Every read and change goes through ``vxassist.desk.kb``, the service behind the API
and ``vxassist desk kb ...``; an article's Markdown reaches a page only through
``vxassist.desk.markdown.render`` (the templates' ``markdown`` filter).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vxassist.desk import kb
from vxassist.desk.console import auth
from vxassist.desk.console.render import page, redirect
from vxassist.desk.db import Database

router = APIRouter(include_in_schema=False)

#: at most this many articles answer a search on the public page
PAGE_RESULTS = 50
#: a query or tag longer than this is cut (the page's own inputs say so too)
QUERY_MAX = 500


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _article_id(raw: str) -> int | None:
    """A path's article number, or None for anything that is not one."""
    if not raw.isdecimal() or len(raw) > 10:
        return None
    number = int(raw)
    return number if 0 < number < 2**31 else None


def _stored_article(request: Request, raw_id: str) -> dict[str, Any] | None:
    """The article a path names, or None when it names none."""
    article_id = _article_id(raw_id)
    if article_id is None:
        return None
    with _db(request).reading() as session:
        return kb.get_article(session, article_id)


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdecimal() and 0 < len(raw) <= 6 and int(raw) > 0 else 1


def _one_page(session: Any, tag: str | None, number: int) -> tuple[list[dict[str, Any]], bool]:
    """The articles of page ``number`` and whether a further page follows."""
    found = kb.list_articles(session, tag, PAGE_RESULTS + 1, (number - 1) * PAGE_RESULTS)
    return found[:PAGE_RESULTS], len(found) > PAGE_RESULTS


def _not_found(request: Request, raw: str, back: str) -> Response:
    return page(
        request,
        "message.html",
        status_code=404,
        heading="No such article",
        sentence=f"There is no article {raw[:20]}; search the knowledge base again.",
        back=back,
    )


# -- public pages -----------------------------------------------------------------------


@router.get("/kb")
def public_index(request: Request) -> Response:
    """Every article, or those matching ``q``; ``tag`` narrows either."""
    q = request.query_params.get("q", "")[:QUERY_MAX].strip()
    tag = request.query_params.get("tag", "")[: kb.TAG_MAX].strip() or None
    number = 1 if q else _page_number(request)
    more = False
    with _db(request).reading() as session:
        if q:
            articles = kb.search(session, q, PAGE_RESULTS, tag)
        else:
            articles, more = _one_page(session, tag, number)
        tags = kb.tags_in_use(session)
    return page(
        request,
        "kb/index.html",
        articles=articles,
        tags=tags,
        q=q,
        tag=tag,
        searched=bool(q),
        number=number,
        more=more,
        me=None,
    )


@router.get("/kb/{raw_id}")
def public_article(raw_id: str, request: Request) -> Response:
    found = _stored_article(request, raw_id)
    if found is None:
        return _not_found(request, raw_id, "/kb")
    return page(request, "kb/article.html", article=found, me=None)


# -- the engineers' editor --------------------------------------------------------------


def _form_fields(form: dict[str, str]) -> kb.ArticleIn:
    def split(value: str) -> list[str]:
        return value.split(",")

    return kb.ArticleIn(
        title=form.get("title", ""),
        body=form.get("body", "").replace("\r\n", "\n"),
        tags=split(form.get("tags", "")),
        versions=split(form.get("versions", "")),
    )


def _editor(
    request: Request, article: dict[str, Any] | None, form: dict[str, str], **extra: Any
) -> Response:
    return page(
        request,
        "kb/edit.html",
        article=article,
        form=form,
        status_code=extra.pop("status_code", 200),
        **extra,
    )


@router.get("/console/kb")
def editor_index(request: Request, me: auth.Me) -> Response:
    tag = request.query_params.get("tag", "")[: kb.TAG_MAX].strip() or None
    number = _page_number(request)
    with _db(request).reading() as session:
        articles, more = _one_page(session, tag, number)
        tags = kb.tags_in_use(session)
    return page(
        request,
        "kb/editor.html",
        articles=articles,
        tags=tags,
        tag=tag,
        number=number,
        more=more,
    )


@router.get("/console/kb/new")
def new_form(request: Request, me: auth.Me) -> Response:
    return _editor(request, None, {})


@router.post("/console/kb/new")
def create(request: Request, me: auth.Me, form: auth.Form) -> Response:
    now = request.app.state.clock()
    try:
        with _db(request).writing() as session:
            added = kb.add_article(session, _form_fields(form), now)
    except kb.KbInputError as exc:
        return _editor(request, None, form, problem=str(exc), status_code=422)
    return redirect(request, "/console/kb", done=f"Article {added['id']} added: {added['title']}.")


@router.get("/console/kb/{raw_id}/edit")
def edit_form(raw_id: str, request: Request, me: auth.Me) -> Response:
    found = _stored_article(request, raw_id)
    if found is None:
        return _not_found(request, raw_id, "/console/kb")
    form = {
        "title": found["title"],
        "body": found["body"],
        "tags": ", ".join(found["tags"]),
        "versions": ", ".join(found["versions"]),
    }
    return _editor(request, found, form)


@router.post("/console/kb/{raw_id}/edit")
def save(raw_id: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    article_id = _article_id(raw_id)
    if article_id is None:
        return _not_found(request, raw_id, "/console/kb")
    now = request.app.state.clock()
    try:
        with _db(request).writing() as session:
            edited = kb.edit_article(session, article_id, _form_fields(form), now)
    except kb.KbInputError as exc:
        with _db(request).reading() as session:
            found = kb.get_article(session, article_id)
        if found is None:
            return _not_found(request, raw_id, "/console/kb")
        return _editor(request, found, form, problem=str(exc), status_code=422)
    if edited is None:
        return _not_found(request, raw_id, "/console/kb")
    return redirect(
        request, "/console/kb", done=f"Article {edited['id']} saved: {edited['title']}."
    )


@router.post("/console/kb/{raw_id}/delete")
def delete(raw_id: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    article_id = _article_id(raw_id)
    gone = None
    if article_id is not None:
        with _db(request).writing() as session:
            gone = kb.delete_article(session, article_id)
    if gone is None:
        return redirect(
            request, "/console/kb", problem=f"There is no article {raw_id[:20]}; it may be gone."
        )
    return redirect(request, "/console/kb", done=f"Article {gone['id']} removed: {gone['title']}.")
