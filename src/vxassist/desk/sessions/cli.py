"""``vxassist desk relay-keys | relay-config | ca show | session list|revoke``, ``serve --relay``.

Kept light at import (``vxassist sysinfo`` must not load the desk); ``relay-keys``
in particular loads only the database driver, since sshd runs it at every login.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vxassist.cliutil import Context, add_json_flag, emit
from vxassist.errors import UsageError


def _db_url(ctx: Context, args: argparse.Namespace) -> str:
    if getattr(args, "db", None):
        return str(args.db)
    # the same file as vxassist.desk.db.default_db_url, without importing SQLAlchemy
    return f"sqlite:///{ctx.paths.data_dir / 'desk.sqlite3'}"


def _relay_keys(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk.relay_keys import run

    return run(_db_url(ctx, args), args.user, args.key_type, args.key, args.relay or "")


def _relay_config(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.relay import render

    text = render(
        desk_db_url=_db_url(ctx, args),
        port=args.port,
        listen=args.listen,
        etc=args.etc,
        vxassist=args.vxassist,
        relay=args.relay or "",
    )
    print(text, end="")
    return 0


def _load_config(args: argparse.Namespace) -> Any:
    from vxassist.desk.config import load_desk_config

    path = getattr(args, "config", None)
    return apply_relay_args(load_desk_config(Path(path) if path else None), args)


def _ca(ctx: Context, args: argparse.Namespace) -> Any:
    from vxassist.desk.ca import CertificateAuthority

    cfg = _load_config(args).sessions
    return CertificateAuthority(Path(cfg.ca_dir or ctx.paths.data_dir / "desk-ca"))


def _ca_show(ctx: Context, args: argparse.Namespace) -> int:
    ca = _ca(ctx, args)
    data = {
        "user_ca_public_key": ca.user_ca_public_key,
        "host_ca_public_key": ca.host_ca_public_key,
        "known_hosts_line": "\n".join(
            f"@cert-authority vx-* {line}" for line in ca.host_ca_public_keys.splitlines()
        ),
    }
    emit(
        data,
        args.json,
        lambda d: (
            "# engineers' certificates (relay sshd TrustedUserCAKeys, if wanted)\n"
            f"{d['user_ca_public_key']}\n"
            "# hosts' certificates (engineers' known_hosts)\n"
            f"{d['known_hosts_line']}"
        ),
    )
    return 0


def _ca_rotate(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk.ca import CaError, fingerprint

    ca = _ca(ctx, args)
    try:
        new = ca.rotate(args.kind)
    except CaError as exc:
        raise UsageError(exc.message, exc.detail) from exc
    old = ca.previous(args.kind)
    data = {
        "kind": args.kind,
        "signing": fingerprint(new),
        "still_trusted": fingerprint(old) if old is not None else None,
    }
    emit(
        data,
        args.json,
        lambda d: (
            f"{d['kind']} CA rotated: new certificates are signed by {d['signing']}; "
            f"{d['still_trusted']} stays trusted until `vxassist desk ca retire {d['kind']}`"
        ),
    )
    return 0


def holding_previous(session: Any, ca: Any, kind: str) -> list[str]:
    """Hosts that still need the previous CA of ``kind``: retiring it would cut them off.

    user: hosts told to trust it at enrollment (or enrolled before any rotation);
    host: hosts whose host certificate it signed.
    """
    from sqlalchemy import select

    from vxassist.desk.ca import CaError, fingerprint, inspect_certificate
    from vxassist.desk.sessions.tables import AgentRelay

    old = ca.previous(kind)
    if old is None:
        return []
    rows = session.scalars(select(AgentRelay)).all()
    if kind == "user":
        current = fingerprint(ca.user_ca)
        return sorted(r.agent_id for r in rows if r.user_ca != current)
    old_line = " ".join(old.export_public_key().decode().split()[:2])
    held = []
    for r in rows:
        try:
            signer = inspect_certificate(r.host_certificate).signing_key
        except CaError:
            continue
        if signer == old_line:
            held.append(r.agent_id)
    return sorted(held)


def _ca_retire(ctx: Context, args: argparse.Namespace) -> int:
    from vxassist.desk.ca import fingerprint

    db, rt = _admin(ctx, args)
    try:
        with db.writing() as session:
            held = holding_previous(session, rt.ca, args.kind)
    finally:
        db.dispose()
    if held and not args.force:
        raise UsageError(
            f"{len(held)} enrolled host(s) still depend on the previous {args.kind} CA "
            f"(e.g. {', '.join(held[:3])}); have them enroll again, or retire with --force "
            "to cut them off.",
        )
    retired = rt.ca.retire(args.kind)
    data = {
        "kind": args.kind,
        "retired": fingerprint(retired) if retired is not None else None,
        "hosts_cut_off": held,
    }
    emit(
        data,
        args.json,
        lambda d: (
            f"{d['kind']} CA {d['retired']} retired"
            if d["retired"]
            else f"no previous {d['kind']} CA to retire"
        ),
    )
    return 0


def _admin(ctx: Context, args: argparse.Namespace) -> tuple[Any, Any]:
    from vxassist.desk.db import Database, upgrade
    from vxassist.desk.sessions.store import Runtime

    url = _db_url(ctx, args)
    upgrade(url)
    cfg = _load_config(args).sessions
    return Database(url), Runtime(config=cfg, ca=_ca(ctx, args))


def _session_line(s: dict[str, Any]) -> str:
    until = f" until {s['not_after']}" if s.get("not_after") else ""
    return (
        f"{s['session_id']}  {s['status']:<8}  case {s['case_number']}  {s['engineer']}  "
        f"{', '.join(s['scopes'])}{until}"
    )


def _session_list(ctx: Context, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from vxassist.desk.sessions import store

    db, rt = _admin(ctx, args)
    try:
        with db.writing() as session:
            rows = store.list_for_engineer(session, rt, None, datetime.now(UTC))
    finally:
        db.dispose()
    emit(
        {"sessions": rows},
        args.json,
        lambda d: "\n".join(_session_line(s) for s in d["sessions"]) or "no sessions",
    )
    return 0


def _session_revoke(ctx: Context, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from vxassist.desk.errors import DeskError
    from vxassist.desk.sessions import store

    db, rt = _admin(ctx, args)
    try:
        with db.writing() as session:
            answer = store.revoke(
                session, rt, "admin", None, args.session_id, args.reason, datetime.now(UTC)
            )
    except DeskError as exc:
        raise UsageError(exc.message, exc.detail) from exc
    finally:
        db.dispose()
    emit(answer, args.json, lambda s: "revoked: " + _session_line(s))
    return 0


def apply_relay_args(config: Any, args: argparse.Namespace) -> Any:
    """The desk config with ``--relay HOST:PORT`` / ``--relay-host-key FILE`` applied."""
    relay = getattr(args, "relay", None)
    key_file = getattr(args, "relay_host_key", None)
    if not relay and not key_file:
        return config
    from dataclasses import replace

    from vxassist.desk.sessions.config import with_relay

    cfg = config.sessions
    host, port = cfg.relay.host, cfg.relay.port
    if relay:
        host, sep, port_text = str(relay).rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(
                f"--relay must be HOST:PORT, like relay.example.com:22, not {relay!r}."
            )
        port = int(port_text)
    known = ""
    if key_file:
        try:
            known = Path(key_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(
                f"--relay-host-key {key_file} cannot be read; give the relay's host key .pub file.",
                detail=str(exc),
            ) from exc
    return replace(config, sessions=with_relay(cfg, host.strip("[]"), port, known))


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--relay", metavar="HOST:PORT", help="the relay hosts and engineers use")
    serve.add_argument(
        "--relay-host-key", metavar="FILE", help="the relay's host public key (.pub)"
    )


def register(cmds: argparse._SubParsersAction[Any]) -> None:
    """Add the broker's commands under ``vxassist desk``."""
    serve = cmds.choices.get("serve")
    if serve is not None:
        add_serve_options(serve)

    keys = cmds.add_parser(
        "relay-keys",
        help="AuthorizedKeysCommand for the relay's sshd (USER KEYTYPE KEY)",
        description="Print the authorized_keys line for a relay login, or nothing (refused).",
    )
    keys.add_argument("--db", metavar="URL", help="database URL (default: embedded SQLite)")
    keys.add_argument(
        "--relay", metavar="NAME", help="answer only for hosts placed on this relay ([[relays]])"
    )
    keys.add_argument("user", metavar="USER")
    keys.add_argument("key_type", metavar="KEYTYPE")
    keys.add_argument("key", metavar="KEY")
    keys.set_defaults(func=_relay_keys)

    conf = cmds.add_parser(
        "relay-config",
        help="print the relay's hardened sshd_config for this desk",
        description="Print the relay's sshd configuration (installer/relay/install.sh writes "
        "it to ETC/sshd_config); its AuthorizedKeysCommand asks this desk's database.",
    )
    conf.add_argument("--db", metavar="URL", help="database URL (default: embedded SQLite)")
    conf.add_argument("--port", type=int, default=2222, help="the relay's port (default 2222)")
    conf.add_argument(
        "--relay",
        metavar="NAME",
        help="this relay's name in the desk's [[relays]] (a desk with several relays)",
    )
    conf.add_argument("--listen", default="0.0.0.0", help="its address (default 0.0.0.0)")
    conf.add_argument(
        "--etc", default="/etc/vxassist-relay", help="folder of its host key (default: %(default)s)"
    )
    conf.add_argument(
        "--vxassist",
        default="/usr/local/bin/vxassist",
        metavar="PATH",
        help="the vxassist sshd runs for keys (default: %(default)s)",
    )
    conf.set_defaults(func=_relay_config)

    ca = cmds.add_parser("ca", help="the desk's certificate authorities (show, rotate, retire)")
    ca_cmds = ca.add_subparsers(dest="ca_command", metavar="COMMAND")
    show = ca_cmds.add_parser("show", help="print the user CA and host CA public keys")
    show.add_argument("--config", metavar="FILE", help="desk configuration (TOML)")
    add_json_flag(show)
    show.set_defaults(func=_ca_show)
    rotate = ca_cmds.add_parser(
        "rotate",
        help="a new user or host CA signs from now on; the old one stays trusted",
        description="Make a new CA the signing one and keep the old one trusted beside it "
        "until `ca retire`: enrolled hosts and engineers keep working.",
    )
    retire = ca_cmds.add_parser(
        "retire",
        help="stop trusting the CA a rotation replaced",
        description="Stop trusting the previous CA. Refused while enrolled hosts still depend "
        "on it (they must enroll again), unless --force.",
    )
    for parser in (rotate, retire):
        parser.add_argument("kind", choices=("user", "host"), help="which CA")
        parser.add_argument("--config", metavar="FILE", help="desk configuration (TOML)")
        add_json_flag(parser)
    rotate.set_defaults(func=_ca_rotate)
    retire.add_argument("--db", metavar="URL", help="database URL (default: embedded SQLite)")
    retire.add_argument("--force", action="store_true", help="retire even if hosts depend on it")
    retire.set_defaults(func=_ca_retire)

    sess = cmds.add_parser("session", help="remote sessions brokered by the desk")
    s_cmds = sess.add_subparsers(dest="session_command", metavar="COMMAND")
    slist = s_cmds.add_parser("list", help="recent sessions, newest first")
    revoke = s_cmds.add_parser("revoke", help="end a session now (the host closes it)")
    for parser in (slist, revoke):
        parser.add_argument("--db", metavar="URL", help="database URL (default: embedded SQLite)")
        parser.add_argument("--config", metavar="FILE", help="desk configuration (TOML)")
        add_json_flag(parser)
    slist.set_defaults(func=_session_list)
    revoke.add_argument("session_id", metavar="SESSION")
    revoke.add_argument("--reason", default="revoked by the desk's operator")
    revoke.set_defaults(func=_session_revoke)
