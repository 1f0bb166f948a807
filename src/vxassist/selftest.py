"""``vxassist self-test``: does this installation work here, one line per part.

Each check is a small function over what it reads (paths, settings, an
enrollment) that returns a status and one sentence a support engineer can act
on. The checks run at the same time, each with its own time bound: one that
fails, raises or hangs is reported as failed and never stops the others (as the
sysinfo collectors do). Heavy libraries are imported inside the checks, through
the modules that own them, so a check that cannot import its library fails alone.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from vxassist import __version__
from vxassist.cliutil import Context, add_json_flag
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.settings import Settings

#: how long one check may take before it is reported as hanging
DEFAULT_BOUND_S = 20.0
#: the Qt child process and the network checks are bounded below the check itself
QT_TIMEOUT_S = 15.0
NET_TIMEOUT_S = 5.0

NOT_ENROLLED = (
    "not enrolled: this host has no desk yet; `vxassist enroll --desk URL --code CODE` connects it"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Outcome:
    """What one check found: a status and one sentence."""

    status: Status
    sentence: str


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    sentence: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": str(self.status), "sentence": self.sentence}


@dataclass(frozen=True)
class Check:
    """One named check and how long it may run."""

    name: str
    run: Callable[[], Outcome]
    bound_s: float = DEFAULT_BOUND_S


def ok(sentence: str) -> Outcome:
    return Outcome(Status.OK, sentence)


def warn(sentence: str) -> Outcome:
    return Outcome(Status.WARN, sentence)


def fail(sentence: str) -> Outcome:
    return Outcome(Status.FAIL, sentence)


# -- running them ---------------------------------------------------------------


def _guarded(check: Check) -> Outcome:
    try:
        return check.run()
    except VxError as exc:
        return fail(exc.message)
    except Exception as exc:  # one check's defect is its own failure, not the run's
        return fail(
            f"the check stopped with an unexpected error ({type(exc).__name__}: {exc}); "
            "send this output to support."
        )


def run_checks(checks: Sequence[Check]) -> list[CheckResult]:
    """Run ``checks`` at the same time; results in the order given.

    Each check runs on a daemon thread: one that outlives its bound is reported
    as failed and left behind, so it can neither block the others nor the exit.
    """
    slots: list[Outcome | None] = [None] * len(checks)
    done = [threading.Event() for _ in checks]

    def work(index: int, check: Check) -> None:
        slots[index] = _guarded(check)
        done[index].set()

    started = time.monotonic()
    for index, check in enumerate(checks):
        threading.Thread(
            target=work, args=(index, check), name=f"self-test {check.name}", daemon=True
        ).start()
    results = []
    for index, check in enumerate(checks):
        # each bound counts from the common start, not from the end of the last wait
        done[index].wait(max(0.0, started + check.bound_s - time.monotonic()))
        outcome = slots[index] or fail(
            f"the check did not finish within {check.bound_s:g} s; something it waits for hangs."
        )
        results.append(CheckResult(check.name, outcome.status, outcome.sentence))
    return results


def passed(results: Sequence[CheckResult]) -> bool:
    return all(r.status != Status.FAIL for r in results)


def to_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {
        "checks": [r.to_dict() for r in results],
        "ok": passed(results),
        "version": __version__,
    }


def render(results: Sequence[CheckResult]) -> str:
    width = max((len(r.name) for r in results), default=0)
    lines = [f"{r.status!s:<4}  {r.name:<{width}}  {r.sentence}" for r in results]
    failed = sum(r.status == Status.FAIL for r in results)
    if failed:
        lines.append(f"vxassist {__version__}: {failed} of {len(results)} checks failed.")
    else:
        lines.append(f"vxassist {__version__}: all {len(results)} checks passed.")
    return "\n".join(lines)


# -- the checks -------------------------------------------------------------------

# One line, so it reads as a string here, not as an import of this module.
_QT_PROBE = (
    "import sys; from PySide6.QtGui import QGuiApplication; "
    "app = QGuiApplication(sys.argv[:1]); print(app.platformName())"
)


def has_display(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt has somewhere to draw: a display, or a platform chosen explicitly."""
    if env.get("QT_QPA_PLATFORM"):
        return True
    if platform in ("win32", "darwin"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def check_qt(
    env: Mapping[str, str],
    python: str = sys.executable,
    timeout_s: float = QT_TIMEOUT_S,
    platform_name: str = sys.platform,
) -> Outcome:
    """The Qt platform plugin loads, tried in a child so a Qt abort stays there."""
    if not has_display(env, platform_name):
        return ok("no display: the headless agent will be used.")
    try:
        child = subprocess.run(
            [python, "-c", _QT_PROBE],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return fail(
            f"the Qt platform plugin did not start within {timeout_s:g} s; start the "
            "headless agent (`vxassist agent`) or check the display."
        )
    except OSError as exc:
        return fail(f"Python could not be started to try Qt ({exc}).")
    if child.returncode == 0:
        return ok(f"the Qt platform plugin '{child.stdout.strip()}' loads.")
    text = child.stderr.strip()
    if "No module named 'PySide6'" in text:
        return warn("Qt is not installed: the tray cannot start, the headless agent will be used.")
    last = text.splitlines()[-1] if text else f"exit status {child.returncode}"
    return fail(
        f"the Qt platform plugin does not load ({last}); install the libraries it names "
        "or use the headless agent."
    )


def check_secrets(paths: Paths, backend: str) -> Outcome:
    """The secret store the settings choose can keep and give back a secret."""
    from vxassist.secrets import open_secret_store

    store = open_secret_store(paths, backend)
    if backend == "file":
        store.get("self-test")  # the file, when there is one, must be readable
        return ok(
            f'secrets_backend = "file": secrets are kept in {paths.data_dir / "secrets.json"}, '
            "readable by this account only."
        )
    probe = f"self-test-{os.getpid()}"
    store.set(probe, "probe")
    try:
        if store.get(probe) != "probe":
            return fail(
                "the keyring does not give back what was stored; unlock or repair it, or "
                f'set secrets_backend = "file" in {paths.settings_file}.'
            )
    finally:
        store.delete(probe)
    return ok("the OS keyring keeps and gives back secrets.")


def check_system() -> Outcome:
    """psutil can read this machine (through the sysinfo probe)."""
    from vxassist.sysinfo.live import LiveProbe

    probe = LiveProbe()
    cpu = probe.cpu()
    memory = probe.memory()
    probe.boot_time()
    return ok(f"the system can be read ({cpu.logical} CPUs, {memory.total // 2**20} MiB memory).")


def check_outbox(paths: Paths) -> Outcome:
    """The outbox's SQLite store opens and its schema is in place."""
    from vxassist.cases.outbox import OutboxStore

    store = OutboxStore(paths.outbox_dir)
    items = store.items()
    return ok(f"the outbox {store.file} opens ({len(items)} items).")


def check_audit(paths: Paths) -> Outcome:
    """The audit log's chain is intact and its folder can take new lines."""
    from vxassist.remote.audit import AuditLog

    audit = AuditLog.for_paths(paths)
    intact, line, why = audit.verify()
    if not intact:
        return fail(
            f"the audit log {audit.path} is damaged at line {line} ({why}); keep it for "
            "support and tell them."
        )
    folder = _existing_parent(audit.path.parent)
    if not os.access(folder, os.W_OK | os.X_OK):
        return fail(f"the audit folder {folder} is not writable by this account; fix its owner.")
    return ok(f"the audit log verifies ({why}).")


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_drafts(paths: Paths) -> Outcome:
    """The drafts folder takes a file."""
    from vxassist.cases.draft import DraftStore

    folder = DraftStore.for_data_dir(paths.data_dir).folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".self-test-"):
            pass
    except OSError as exc:
        return fail(f"the drafts folder {folder} is not writable ({exc.strerror}); fix its owner.")
    return ok(f"the drafts folder {folder} is writable.")


def _key_paths(root: Path) -> Paths:
    return Paths(root, root, root, root, root / "policy.toml")


def check_ssh_crypto(now: datetime) -> Outcome:
    """A key pair, a user certificate from a throwaway CA, and its verification.

    The agent's own calls: its host key is made by ``ensure_host_key``, and a
    certificate is read by ``load_host_certificate`` (which checks the CA's
    signature) and accepted only from the pinned CA's key.
    """
    from vxassist.remote.hostkey import (
        CERT_NAME,
        ensure_host_key,
        load_host_certificate,
        load_host_key,
    )

    principal = "vxassist-self-test"
    with tempfile.TemporaryDirectory(prefix="vxassist-self-test-") as tmp:
        ca_paths, user_paths = _key_paths(Path(tmp, "ca")), _key_paths(Path(tmp, "user"))
        ensure_host_key(ca_paths)
        ensure_host_key(user_paths)
        ca, user = load_host_key(ca_paths), load_host_key(user_paths)
        cert = ca.generate_user_certificate(
            user,
            principal,
            principals=[principal],
            valid_after=int((now - timedelta(seconds=30)).timestamp()),
            valid_before=int((now + timedelta(minutes=5)).timestamp()),
        )
        cert_file = user_paths.keys_dir / CERT_NAME
        cert_file.write_bytes(cert.export_certificate())
        # Any: asyncssh's certificate type hides the fields the agent's checks use
        loaded: Any = load_host_certificate(user_paths)
        if loaded is None:
            return fail("a certificate just written could not be read back.")
        if loaded.signing_key.public_data != ca.public_data:
            return fail("a certificate does not name the CA that signed it.")
        if loaded.key.public_data != user.public_data:
            return fail("a certificate does not carry the key it was signed for.")
        loaded.validate(1, principal)  # 1: a user certificate (asyncssh CERT_TYPE_USER)
        # a verification that never says no proves nothing: a forged signature must fail
        kind, blob, *_ = cert_file.read_text(encoding="ascii").split()
        raw = bytearray(base64.b64decode(blob))
        raw[-1] ^= 0x01
        cert_file.write_text(f"{kind} {base64.b64encode(raw).decode()}\n", encoding="ascii")
        try:
            load_host_certificate(user_paths)
        except VxError:
            pass
        else:
            return fail(
                "a certificate with a forged signature was accepted; this build's SSH "
                "crypto is broken, tell support."
            )
    return ok("SSH keys are made, and a user certificate is signed and verified.")


def check_policy(path: Path) -> Outcome:
    """The machine policy is readable, and only an administrator can have written it."""
    from vxassist.settings import policy_file_trusted

    try:
        present = path.exists()
    except OSError as exc:
        return fail(f"the machine policy {path} cannot be looked at ({exc.strerror}).")
    if not present:
        return ok(f"no machine policy: defaults apply ({path}).")
    trusted, why = policy_file_trusted(path)
    if not trusted:
        remedy = (
            "run the vxassist installer again, which makes it owned by Administrators and "
            "changeable only by Administrators and SYSTEM"
            if os.name == "nt"
            else "make it owned by root and mode 0644"
        )
        return fail(
            f"the machine policy {path} can be changed by others than administrators ({why}), "
            f"so remote access stays off; an administrator should {remedy}."
        )
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except OSError as exc:
        return fail(
            f"the machine policy {path} cannot be read by this account ({exc.strerror}); an "
            "administrator should make it readable by all (mode 0644)."
        )
    except tomllib.TOMLDecodeError as exc:
        return fail(
            f"the machine policy {path} is not valid TOML ({exc}); an administrator should fix it."
        )
    return ok(f"the machine policy {path} is readable and only administrators can change it.")


def check_desk(
    desk_url: str, enrollment: Mapping[str, Any], token: str | None, timeout_s: float
) -> Outcome:
    """The desk answers its health check and knows this host's token."""
    if not enrollment or not desk_url:
        return ok(NOT_ENROLLED + ".")
    from vxassist.deskclient import DeskClient

    with DeskClient(desk_url, token, timeout=timeout_s) as client:
        client.healthz()
        who = client.whoami()
    name = who.get("company") or who.get("agent_id") or who.get("name") or "this host"
    return ok(f"the desk at {client.base_url} answers and knows this host as {name}.")


def check_version(paths: Paths, settings: Settings, timeout_s: float) -> Outcome:
    """Information, never a failure: this version and whether the desk knows a newer one."""
    from vxassist.version import ask_desk

    report = ask_desk(paths, settings, timeout_s=timeout_s)
    return ok(f"vxassist {report.version}; {report.sentence}")


def check_relay(enrollment: Mapping[str, Any], timeout_s: float) -> Outcome:
    """The relay named at enrollment accepts a TCP connection."""
    if not enrollment:
        return ok(NOT_ENROLLED + ".")
    relay = enrollment.get("relay")
    if not isinstance(relay, Mapping):
        return ok("the enrollment names no relay: this desk offers no remote sessions.")
    try:
        host, port = str(relay["host"]), int(relay["port"])
    except (KeyError, TypeError, ValueError):
        return fail("the enrollment's relay entry is unusable; enroll this host again.")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return fail(
            f"the relay at {host}:{port} does not answer ({reason}); check the network "
            "or ask support whether the relay is up."
        )
    return ok(f"the relay at {host}:{port} answers.")


# -- wiring them to this installation ---------------------------------------------


def _read_enrollment(paths: Paths) -> dict[str, Any]:
    from vxassist.cases.enroll import read_enrollment

    return read_enrollment(paths)


def _desk_token(paths: Paths, settings: Settings) -> str | None:
    from vxassist.cases.intake import TOKEN_SECRET
    from vxassist.secrets import open_secret_store

    return open_secret_store(paths, settings.secrets_backend).get(TOKEN_SECRET)


def default_checks(
    paths: Paths,
    settings_loader: Callable[[], Settings],
    env: Mapping[str, str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Check]:
    """The checks of this installation, in the order they are shown."""

    settings = settings_loader  # a broken settings file fails the checks that read it

    def desk() -> Outcome:
        s = settings()
        enrollment = _read_enrollment(paths)
        token = _desk_token(paths, s) if enrollment and s.desk_url else None
        return check_desk(s.desk_url, enrollment, token, NET_TIMEOUT_S)

    return [
        Check("qt", lambda: check_qt(env), QT_TIMEOUT_S + 5),
        Check("secrets", lambda: check_secrets(paths, settings().secrets_backend)),
        Check("system", check_system),
        Check("outbox", lambda: check_outbox(paths)),
        Check("audit", lambda: check_audit(paths)),
        Check("drafts", lambda: check_drafts(paths)),
        Check("ssh", lambda: check_ssh_crypto(clock())),
        Check("policy", lambda: check_policy(paths.policy_file)),
        Check("desk", desk, 3 * NET_TIMEOUT_S + 5),
        Check(
            "version", lambda: check_version(paths, settings(), NET_TIMEOUT_S), 2 * NET_TIMEOUT_S
        ),
        Check("relay", lambda: check_relay(_read_enrollment(paths), NET_TIMEOUT_S)),
    ]


# -- the command ----------------------------------------------------------------


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``vxassist self-test``."""
    parser = sub.add_parser(
        "self-test",
        help="check that this installation works here, one line per part",
        description="Check Qt, the secret store, the system probe, the local stores, SSH "
        "crypto, the machine policy, and (when enrolled) the desk and the relay. Exits "
        "non-zero when a check fails; --json output can be attached to a case.",
    )
    add_json_flag(parser)
    parser.set_defaults(func=run_self_test)


def run_self_test(ctx: Context, args: argparse.Namespace) -> int:
    results = run_checks(default_checks(ctx.paths, lambda: ctx.settings, os.environ))
    if args.json:
        json.dump(to_json(results), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(render(results))
    return 0 if passed(results) else 1
