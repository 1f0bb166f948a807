"""``vxassist desk ...``: run the desk and administer it.

Every admin command takes ``--db URL`` (default: the embedded SQLite file under
the data folder) and ``--json``. Heavy modules load inside the handlers.
"""

from __future__ import annotations

import argparse
import contextlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError


def _db_url(ctx: Context, args: argparse.Namespace) -> str:
    if args.db:
        return str(args.db)
    from vxassist.desk.db import default_db_url

    return default_db_url(ctx.paths)


def _open(ctx: Context, args: argparse.Namespace) -> Any:
    """Upgrade (idempotent) and open the database the command names."""
    from vxassist.desk.db import Database, upgrade

    url = _db_url(ctx, args)
    upgrade(url)
    return Database(url)


def _config(args: argparse.Namespace) -> Any:
    from vxassist.desk.config import load_desk_config
    from vxassist.desk.sessions.cli import apply_relay_args

    path = getattr(args, "config", None)
    return apply_relay_args(load_desk_config(Path(path) if path else None), args)


def _now() -> datetime:
    return datetime.now(UTC)


def _common(parser: argparse.ArgumentParser, config: bool = False) -> None:
    parser.add_argument("--db", metavar="URL", help="database URL (default: embedded SQLite)")
    if config:
        parser.add_argument("--config", metavar="FILE", help="desk configuration (TOML)")
    add_json_flag(parser)


def _serve(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist import eventloop
    from vxassist.desk.server import serve

    config = _config(args)
    if args.workers < 1:
        raise UsageError("--workers must be 1 or more.")
    if args.workers > 1:
        from vxassist.desk.db import upgrade
        from vxassist.desk.server import serve_workers

        url = _db_url(ctx, args)
        if url.startswith("sqlite"):
            # a change wakes the waiting polls of its own process only (DESIGN.md)
            raise UsageError(
                "Several workers need PostgreSQL (--db postgresql+psycopg://...); "
                "with SQLite run one worker."
            )
        upgrade(url)  # once, before the workers start (each would also check)
        serve_workers(
            url,
            args.host,
            args.port,
            args.workers,
            config_path=getattr(args, "config", None),
            relay=getattr(args, "relay", None),
            relay_host_key=getattr(args, "relay_host_key", None),
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        eventloop.run(
            serve(
                _db_url(ctx, args),
                args.host,
                args.port,
                config,
                forwarded_allow_ips=args.forwarded_allow_ips,
            )
        )
    return 0


def _migrate(ctx: Context, args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from vxassist.desk.db import upgrade

    url = _db_url(ctx, args)
    upgrade(url)
    shown = make_url(url).render_as_string(hide_password=True)
    emit({"database": shown, "schema": "head"}, args.json, lambda d: f"{d['database']}: up to date")
    return 0


def _expires(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"--expires must be a date like 2027-06-30, not {text!r}.") from exc


def _contract_line(c: dict[str, Any]) -> str:
    state = "active" if c["active"] else "EXPIRED"
    return (
        f"{c['contract_id']}  {c['company']}  expires {c['expires']} ({state})  "
        f"{c['contact_name']} <{c['contact_email']}> {c['contact_phone']}"
    )


def _contract_add(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    new = admin.NewContract(
        contract_id=args.contract_id,
        company=args.company,
        expires=_expires(args.expires),
        contact_name=args.contact_name,
        contact_phone=args.contact_phone,
        contact_email=args.contact_email,
    )
    data = admin.add_contract(_open(ctx, args), new, _now(), _config(args))
    emit(data, args.json, lambda c: "added " + _contract_line(c))
    return 0


def _contract_list(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    rows = admin.list_contracts(_open(ctx, args), _now(), _config(args))
    emit(
        {"contracts": rows},
        args.json,
        lambda d: "\n".join(_contract_line(c) for c in d["contracts"]) or "no contracts",
    )
    return 0


def _contract_expire(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    data = admin.expire_contract(_open(ctx, args), args.contract_id, _now(), _config(args))
    emit(data, args.json, lambda c: "expired " + _contract_line(c))
    return 0


def _enroll_code(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    data = admin.new_code(_open(ctx, args), args.contract_id, _now(), _config(args), args.days)
    emit(
        data,
        args.json,
        lambda d: (
            f"{d['code']}\n(one use, for contract {d['contract_id']}, "
            f"valid until {d['expires_at']})"
        ),
    )
    return 0


def _engineer_add(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    password = _read_password(args, args.name) if args.password_stdin else None
    data = admin.add_engineer(
        _open(ctx, args), args.name, _now(), password=password, manager=args.manager
    )
    emit(
        data,
        args.json,
        lambda d: (
            f"{d['token']}\n(the token of engineer {d['name']}; it is shown only once"
            + ("; they can sign in to the web console" if d["console"] else "")
            + ")"
        ),
    )
    return 0


def _read_password(args: argparse.Namespace, name: str) -> str:
    """The new password: one line on stdin with --password-stdin, else asked twice."""
    import sys

    if getattr(args, "password_stdin", False):
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("No terminal to ask for the password; pipe it in with --password-stdin.")
    first = getpass.getpass(f"Console password for {name}: ")
    if getpass.getpass("Again: ") != first:
        raise UsageError("The two passwords differ; run the command again.")
    return first


def _engineer_set_password(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    password = _read_password(args, args.name)
    manager = True if args.manager else (False if args.no_manager else None)
    data = admin.set_password(_open(ctx, args), args.name, password, _now(), manager=manager)
    emit(
        data,
        args.json,
        lambda d: (
            f"engineer {d['name']} can sign in to the web console"
            + (" (manager)" if d["manager"] else "")
            + "; their earlier console sessions ended"
        ),
    )
    return 0


def _engineer_list(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    rows = admin.list_engineers(_open(ctx, args))
    emit(
        {"engineers": rows},
        args.json,
        lambda d: (
            "\n".join(
                f"{e['name']}  since {e['created_at']}"
                + ("  manager" if e.get("manager") else "")
                + ("" if e.get("console") else "  (no console password)")
                for e in d["engineers"]
            )
            or "no engineers"
        ),
    )
    return 0


def _sessions_runtime(ctx: Context, args: argparse.Namespace) -> Any:
    """What revoking a remote session needs (the broker's configuration and CA)."""
    from vxassist.desk.ca import CertificateAuthority
    from vxassist.desk.sessions.store import Runtime

    cfg = _config(args).sessions
    return Runtime(
        config=cfg, ca=CertificateAuthority(Path(cfg.ca_dir or ctx.paths.data_dir / "desk-ca"))
    )


def _revoked_text(what: str, ids: list[str]) -> str:
    if not ids:
        return f"{what}; no live remote sessions to revoke"
    return f"{what}; remote sessions revoked: {', '.join(ids)}"


def _engineer_remove(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    db = _open(ctx, args)
    try:
        data = admin.remove_engineer(db, args.name, _now(), _sessions_runtime(ctx, args))
    finally:
        db.dispose()
    emit(
        data,
        args.json,
        lambda d: _revoked_text(f"engineer {d['name']} removed", d["revoked_sessions"]),
    )
    return 0


def _host_list(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    rows = admin.list_hosts(_open(ctx, args))
    emit(
        {"hosts": rows},
        args.json,
        lambda d: (
            "\n".join(
                f"{h['agent_id']}  {h['hostname']}  contract {h['contract_id']}  "
                f"enrolled {h['enrolled_at']}"
                for h in d["hosts"]
            )
            or "no hosts"
        ),
    )
    return 0


def _host_revoke(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import admin

    db = _open(ctx, args)
    try:
        data = admin.revoke_host(db, args.agent_id, _now(), _sessions_runtime(ctx, args))
    finally:
        db.dispose()
    emit(
        data,
        args.json,
        lambda d: _revoked_text(
            f"host {d['agent_id']} ({d['hostname']}) revoked: its token no longer works, "
            "it must enroll again with a new code",
            d["revoked_sessions"],
        ),
    )
    return 0


def _kb_fields(args: argparse.Namespace) -> Any:
    from vxassist.desk import kb

    body = args.body
    if args.body_file is not None:
        try:
            body = Path(args.body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"Cannot read --body-file {args.body_file}: {exc}; give a UTF-8 text file."
            ) from exc

    def split(value: str | None) -> list[str] | None:
        return None if value is None else value.split(",")

    return kb.ArticleIn(
        title=args.title, body=body, tags=split(args.tags), versions=split(args.versions)
    )


def _kb_line(a: dict[str, Any]) -> str:
    tags = ", ".join(a["tags"]) or "no tags"
    versions = ", ".join(a["versions"]) or "any version"
    return f"{a['id']}  {a['title']}  [{tags}]  ({versions})  updated {a['updated_at']}"


def _kb_write(ctx: Context, args: argparse.Namespace, article_id: int | None) -> int:
    from vxassist.desk import kb

    db = _open(ctx, args)
    data: dict[str, Any] | None
    try:
        with db.writing() as session:
            if article_id is None:
                data = kb.add_article(session, _kb_fields(args), _now())
            else:
                data = kb.edit_article(session, article_id, _kb_fields(args), _now())
    except kb.KbInputError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        db.dispose()
    if data is None:
        raise UsageError(f"There is no article {article_id}; see vxassist desk kb list.")
    emit(data, args.json, lambda a: ("added " if article_id is None else "edited ") + _kb_line(a))
    return 0


def _kb_add(ctx: Context, args: argparse.Namespace) -> int:
    if args.body is None and args.body_file is None:
        raise UsageError("An article needs a body; give --body TEXT or --body-file FILE.")
    return _kb_write(ctx, args, None)


def _kb_edit(ctx: Context, args: argparse.Namespace) -> int:
    return _kb_write(ctx, args, args.article_id)


def _kb_list(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import kb

    db = _open(ctx, args)
    try:
        with db.reading() as session:
            rows = kb.list_articles(session, args.tag)
    finally:
        db.dispose()
    emit(
        {"articles": rows},
        args.json,
        lambda d: "\n".join(_kb_line(a) for a in d["articles"]) or "no articles",
    )
    return 0


def _kb_remove(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk import kb

    db = _open(ctx, args)
    try:
        with db.writing() as session:
            gone = kb.delete_article(session, args.article_id)
    finally:
        db.dispose()
    if gone is None:
        raise UsageError(f"There is no article {args.article_id}; see vxassist desk kb list.")
    emit(gone, args.json, lambda a: f"removed {a['id']}  {a['title']}")
    return 0


def _kb_article_args(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--title", required=required, help="the article's title")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--body", help="the article's text (Markdown)")
    body.add_argument("--body-file", metavar="FILE", help="read the text (Markdown) from FILE")
    parser.add_argument("--tags", metavar="A,B", help="comma-separated tags")
    parser.add_argument("--versions", metavar="9.1,9.2", help="product versions it applies to")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``vxassist desk ...``."""
    desk = sub.add_parser("desk", help="run and administer the desk service")
    cmds = desk.add_subparsers(dest="desk_command", metavar="COMMAND")

    serve = cmds.add_parser("serve", help="run the desk (HTTP API)")
    _common(serve, config=True)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8740, help="port (0 = any free port)")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (default 1; PostgreSQL for more)"
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        metavar="ADDRS",
        help="proxies whose X-Forwarded-For is believed (comma-separated; default: %(default)s)",
    )
    serve.set_defaults(func=_serve)

    migrate = cmds.add_parser("migrate", help="upgrade the database to the newest schema")
    _common(migrate)
    migrate.set_defaults(func=_migrate)

    contract = cmds.add_parser("contract", help="maintenance contracts")
    ccmds = contract.add_subparsers(dest="contract_command", metavar="COMMAND")
    add = ccmds.add_parser("add", help="add a customer's maintenance contract")
    _common(add, config=True)
    add.add_argument("--company", required=True)
    add.add_argument("--contract-id", required=True)
    add.add_argument("--expires", required=True, metavar="YYYY-MM-DD")
    add.add_argument("--contact-name", required=True)
    add.add_argument("--contact-phone", required=True)
    add.add_argument("--contact-email", required=True)
    add.set_defaults(func=_contract_add)
    clist = ccmds.add_parser("list", help="list contracts")
    _common(clist, config=True)
    clist.set_defaults(func=_contract_list)
    expire = ccmds.add_parser("expire", help="end a contract (no more case numbers)")
    _common(expire, config=True)
    expire.add_argument("contract_id", metavar="CONTRACT_ID")
    expire.set_defaults(func=_contract_expire)

    code = cmds.add_parser("enroll-code", help="print a one-time enrollment code")
    _common(code, config=True)
    code.add_argument("contract_id", metavar="CONTRACT_ID")
    code.add_argument("--days", type=int, default=None, help="days the code stays valid")
    code.set_defaults(func=_enroll_code)

    eng = cmds.add_parser("engineer", help="support engineers")
    ecmds = eng.add_subparsers(dest="engineer_command", metavar="COMMAND")
    eadd = ecmds.add_parser("add", help="add an engineer and print their token once")
    _common(eadd)
    eadd.add_argument("name", metavar="NAME")
    eadd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a web-console password from the first line of stdin",
    )
    eadd.add_argument("--manager", action="store_true", help="may edit contracts and engineers")
    eadd.set_defaults(func=_engineer_add)
    epass = ecmds.add_parser(
        "set-password", help="set an engineer's web-console password (asked, or --password-stdin)"
    )
    _common(epass)
    epass.add_argument("name", metavar="NAME")
    epass.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    role = epass.add_mutually_exclusive_group()
    role.add_argument("--manager", action="store_true", help="make them a manager too")
    role.add_argument("--no-manager", action="store_true", help="no longer a manager")
    epass.set_defaults(func=_engineer_set_password)
    elist = ecmds.add_parser("list", help="list engineers")
    _common(elist)
    elist.set_defaults(func=_engineer_list)
    eremove = ecmds.add_parser(
        "remove", help="remove an engineer: the token stops working, live sessions are revoked"
    )
    _common(eremove, config=True)
    eremove.add_argument("name", metavar="NAME")
    eremove.set_defaults(func=_engineer_remove)

    host = cmds.add_parser("host", help="enrolled hosts")
    hcmds = host.add_subparsers(dest="host_command", metavar="COMMAND")
    hlist = hcmds.add_parser("list", help="list enrolled hosts")
    _common(hlist)
    hlist.set_defaults(func=_host_list)
    hrevoke = hcmds.add_parser(
        "revoke", help="end a host's token and revoke its live remote sessions"
    )
    _common(hrevoke, config=True)
    hrevoke.add_argument("agent_id", metavar="AGENT_ID")
    hrevoke.set_defaults(func=_host_revoke)

    kbp = cmds.add_parser("kb", help="knowledge-base articles (searchable without an account)")
    kcmds = kbp.add_subparsers(dest="kb_command", metavar="COMMAND")
    kadd = kcmds.add_parser("add", help="add an article")
    _common(kadd)
    _kb_article_args(kadd, required=True)
    kadd.set_defaults(func=_kb_add)
    kedit = kcmds.add_parser("edit", help="change an article's title, text, tags or versions")
    _common(kedit)
    kedit.add_argument("article_id", metavar="ID", type=int)
    _kb_article_args(kedit, required=False)
    kedit.set_defaults(func=_kb_edit)
    klist = kcmds.add_parser("list", help="list articles")
    _common(klist)
    klist.add_argument("--tag", help="only articles carrying this tag")
    klist.set_defaults(func=_kb_list)
    kremove = kcmds.add_parser("remove", help="remove an article (it is no longer found)")
    _common(kremove)
    kremove.add_argument("article_id", metavar="ID", type=int)
    kremove.set_defaults(func=_kb_remove)

    from vxassist.desk.sessions.cli import register as register_sessions

    register_sessions(cmds)
