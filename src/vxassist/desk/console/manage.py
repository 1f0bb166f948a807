"""Contracts and engineers in the console: every engineer reads, managers change.

Every change goes through ``vxassist.desk.admin``, the functions behind
``vxassist desk contract|engineer ...``: one copy of each rule.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vxassist.desk import admin
from vxassist.desk.console import auth
from vxassist.desk.console.render import page, redirect
from vxassist.desk.db import Database
from vxassist.desk.errors import DeskAdminError

router = APIRouter(prefix="/console", include_in_schema=False)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _contracts_page(request: Request, status_code: int = 200, **extra: object) -> Response:
    now = request.app.state.clock()
    contracts = admin.list_contracts(_db(request), now, request.app.state.config)
    extra.setdefault("form", {})
    return page(request, "contracts.html", status_code=status_code, contracts=contracts, **extra)


@router.get("/contracts")
def contracts(request: Request, me: auth.Me) -> Response:
    return _contracts_page(request)


@router.post("/contracts")
def add_contract(request: Request, me: auth.Manager, form: auth.Form) -> Response:
    now = request.app.state.clock()
    try:
        try:
            expires = date.fromisoformat(form.get("expires", "").strip())
        except ValueError as exc:
            raise DeskAdminError("The end date must be a date like 2027-06-30.") from exc
        new = admin.NewContract(
            contract_id=form.get("contract_id", "")[:64],
            company=form.get("company", "")[:200],
            expires=expires,
            contact_name=form.get("contact_name", "")[:200],
            contact_phone=form.get("contact_phone", "")[:64],
            contact_email=form.get("contact_email", "")[:254],
            manager_email=form.get("manager_email") or None,
            sales_manager_email=form.get("sales_manager_email") or None,
        )
        added = admin.add_contract(_db(request), new, now, request.app.state.config)
    except DeskAdminError as exc:
        # the form comes back filled in, with the sentence (flag names read as field names)
        return _contracts_page(request, 422, problem=_plain(exc.message), form=form)
    return redirect(request, "/console/contracts", done=f"Contract {added['contract_id']} added.")


def _plain(sentence: str) -> str:
    """An admin sentence names command-line flags; on a page they are fields."""
    for flag, field in (
        ("--contract-id", "The contract id"),
        ("--company", "The company"),
        ("--contact-name", "The contact's name"),
        ("--contact-phone", "The contact's phone"),
        ("--contact-email", "The contact's e-mail"),
        ("--manager-email", "The manager's e-mail"),
        ("--sales-manager-email", "The sales manager's e-mail"),
    ):
        sentence = sentence.replace(flag, field)
    return sentence


@router.post("/contracts/{contract_id}/expire")
def expire_contract(
    contract_id: str, request: Request, me: auth.Manager, form: auth.Form
) -> Response:
    now = request.app.state.clock()
    try:
        done = admin.expire_contract(_db(request), contract_id, now, request.app.state.config)
    except DeskAdminError as exc:
        return redirect(request, "/console/contracts", problem=exc.message)
    return redirect(
        request,
        "/console/contracts",
        done=f"Contract {done['contract_id']} ended on {done['expires']}: no new case numbers.",
    )


@router.post("/contracts/{contract_id}/managers")
def contract_managers(
    contract_id: str, request: Request, me: auth.Manager, form: auth.Form
) -> Response:
    now = request.app.state.clock()
    try:
        admin.set_contract_managers(
            _db(request),
            contract_id,
            form.get("manager_email"),
            form.get("sales_manager_email"),
            now,
            request.app.state.config,
        )
    except DeskAdminError as exc:
        return redirect(request, "/console/contracts", problem=exc.message)
    return redirect(
        request, "/console/contracts", done=f"Managers to notify for {contract_id} saved."
    )


# -- engineers (managers only) ---------------------------------------------------


def _engineers_page(request: Request, status_code: int = 200, **extra: object) -> Response:
    engineers = admin.list_engineers(_db(request))
    extra.setdefault("form", {})
    extra.setdefault("token", None)
    return page(request, "engineers.html", status_code=status_code, engineers=engineers, **extra)


@router.get("/engineers")
def engineers(request: Request, me: auth.Manager) -> Response:
    return _engineers_page(request)


@router.post("/engineers")
def add_engineer(request: Request, me: auth.Manager, form: auth.Form) -> Response:
    now = request.app.state.clock()
    password = form.get("password", "")
    try:
        added = admin.add_engineer(
            _db(request),
            form.get("name", "")[:200],
            now,
            password=password or None,
            manager=form.get("manager") == "1",
        )
    except DeskAdminError as exc:
        return _engineers_page(request, 422, problem=exc.message, form=form)
    # the API token is shown once, on this answer only (no redirect: nothing keeps it)
    return _engineers_page(request, token=added, flash=f"Engineer {added['name']} added.")


@router.post("/engineers/password")
def set_password(request: Request, me: auth.Manager, form: auth.Form) -> Response:
    name = form.get("name", "")
    now = request.app.state.clock()
    try:
        admin.set_password(_db(request), name, form.get("password", ""), now)
    except DeskAdminError as exc:
        return redirect(request, "/console/engineers", problem=exc.message)
    if name == me.name:
        return redirect(request, "/console/signin", done="Password changed; sign in again.")
    return redirect(request, "/console/engineers", done=f"{name} has a new console password.")


@router.post("/engineers/remove")
def remove_engineer(request: Request, me: auth.Manager, form: auth.Form) -> Response:
    name = form.get("name", "")
    now = request.app.state.clock()
    try:
        gone = admin.remove_engineer(_db(request), name, now, request.app.state.sessions)
    except DeskAdminError as exc:
        return redirect(request, "/console/engineers", problem=exc.message)
    revoked = gone["revoked_sessions"]
    tail = f"; remote sessions revoked: {', '.join(revoked)}" if revoked else ""
    return redirect(request, "/console/engineers", done=f"Engineer {gone['name']} removed{tail}.")
