"""The cleaner: the last stage before anything is printed or saved.

Always: secrets in values under secret-sounding keys, command lines, process
environments, config files and log tails are masked. With ``anonymize``: host
names, IP and MAC addresses and user names are replaced by stable aliases everywhere,
manifest included. Every redaction is recorded in the manifest (where and how
many, never what).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from vxassist.redact import (
    MASK,
    Anonymizer,
    is_secret_pair,
    scrub_argv,
    scrub_config,
    scrub_counted,
    scrub_mapping,
)
from vxassist.sysinfo.model import Action, IncludedFile, ManifestEntry, Section

_HOME = re.compile(r"(?i)(?:/home/|\\Users\\|/Users/)([^/\\\s\"']+)")
_SYSTEM_USERS = frozenset(
    {
        "root",
        "system",
        "local service",
        "network service",
        "localservice",
        "networkservice",
        "nobody",
        "daemon",
        "postgres",
        "mysql",
        "www-data",
        "messagebus",
        "public",
        "default",
        "all users",
        "administrator",
        "sshd",
    }
)


class _Walker:
    def __init__(self, anonymizer: Anonymizer | None) -> None:
        self.anonymizer = anonymizer
        self.masked: dict[str, int] = {}

    def _count(self, path: str, n: int) -> None:
        if n:
            self.masked[path] = self.masked.get(path, 0) + n

    def text(self, value: str, path: str, config: bool = False, version: bool = False) -> str:
        value, n = scrub_config(value) if config else scrub_counted(value)
        self._count(path, n)
        return self.anonymizer.apply(value, version=version) if self.anonymizer else value

    def value(self, value: Any, path: str, key: str = "") -> Any:
        if isinstance(value, dict):
            if key == "environment":
                cleaned, n = scrub_mapping({str(k): str(v) for k, v in value.items()})
                self._count(path, n)
                return {k: self.text(v, path) if v != MASK else v for k, v in cleaned.items()}
            out = {}
            for k, v in value.items():
                sub = f"{path}.{k}"
                if is_secret_pair(str(k), str(v)) and not isinstance(v, dict | list):
                    out[k] = MASK
                    self._count(sub, 1)
                else:
                    out[k] = self.value(v, sub, str(k))
            return out
        if isinstance(value, list):
            if key == "cmdline":
                argv, n = scrub_argv([str(a) for a in value])
                self._count(path, n)
                return [self.anonymizer.apply(a) for a in argv] if self.anonymizer else argv
            return [self.value(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return self.text(
                value, path, config=key == "text", version=key.lower().endswith("version")
            )
        return value


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _learn(
    anonymizer: Anonymizer,
    sections: list[Section],
    process_names: set[str],
    hostnames: Iterable[str],
) -> None:
    addresses: set[str] = set()
    for section in sections:
        if section.name == "network":
            for interface in section.data.get("interfaces", []):
                addresses.update(interface.get("addresses", []))
        if section.name == "pbx":
            addresses.update(str(p.get("peer", "")) for p in section.data.get("tcp_peers", []))
    hosts = {h for h in hostnames if h}
    hosts |= {h.split(".")[0] for h in hosts}
    users: set[str] = set()
    for section in sections:
        for text in _strings(section.data):
            users.update(m.group(1) for m in _HOME.finditer(text))
    for section in sections:
        for entry in _dicts(section.data):
            user = entry.get("user")
            if isinstance(user, str) and user:
                domain, _, name = user.rpartition("\\")
                if domain.lower() in ("nt service", "nt authority"):
                    continue
                users.add(name)
                if domain and domain.lower() not in ("nt authority", "nt service"):
                    hosts.add(domain)
    low_procs = [p.lower() for p in process_names]
    users = {
        u
        for u in users
        if u.lower() not in _SYSTEM_USERS
        and not u.lower().startswith(("systemd-", "_"))
        and not any(u.lower() in p for p in low_procs)
    }
    anonymizer.learn("host", sorted(hosts, key=len, reverse=True))
    anonymizer.learn_addresses(addresses)
    anonymizer.learn("user", sorted(users))


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _dicts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _dicts(v)


def clean(
    sections: list[Section],
    manifest: list[ManifestEntry],
    files: list[IncludedFile],
    anonymize: bool,
    hostnames: Iterable[str] = (),
    process_names: Iterable[str] = (),
) -> tuple[list[Section], list[ManifestEntry], list[IncludedFile], Anonymizer | None]:
    """The report's parts with secrets (and on request identities) removed."""
    anonymizer = Anonymizer() if anonymize else None
    if anonymizer:
        _learn(anonymizer, sections, set(process_names), hostnames)
    walker = _Walker(anonymizer)

    cleaned_files: list[IncludedFile] = []
    hashes: dict[str, str] = {}
    file_entries: list[ManifestEntry] = []
    for f in files:
        path = f.name
        text = walker.text(f.text, path, config="/config/" in f.name)
        name = anonymizer.apply(f.name) if anonymizer else f.name
        source = anonymizer.apply(f.source) if anonymizer else f.source
        cleaned = replace(f, text=text, name=name, source=source)
        cleaned_files.append(cleaned)
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        hashes[f.source] = digest
        reason = f"from {source}, read as {f.encoding}" + (", tail only" if f.truncated else "")
        file_entries.append(
            ManifestEntry(f.section, name, Action.COLLECTED, reason, digest, len(data))
        )

    out_sections = []
    for section in sections:
        data = walker.value(section.data, section.name)
        for listing in ("config_files", "log_files"):
            for entry in data.get(listing, []) if isinstance(data, dict) else []:
                for original, digest in hashes.items():
                    shown = anonymizer.apply(original) if anonymizer else original
                    if entry.get("path") == shown:
                        entry["sha256"] = digest
        reason = walker.text(section.reason, section.name) if section.reason else ""
        out_sections.append(replace(section, data=data, reason=reason))

    out_manifest: list[ManifestEntry] = []
    for entry in manifest:
        if anonymizer:
            entry = replace(
                entry, item=anonymizer.apply(entry.item), reason=anonymizer.apply(entry.reason)
            )
        out_manifest.append(
            replace(entry, item=scrub_counted(entry.item)[0], reason=scrub_counted(entry.reason)[0])
        )
    out_manifest += file_entries
    for path, count in sorted(walker.masked.items()):
        shown = anonymizer.apply(path) if anonymizer else path
        where = path.split(".", 1)[0].split("/", 1)[0]
        if "/" in path:
            where = next((f.section for f in files if f.name == path), where)
        out_manifest.append(
            ManifestEntry(
                where,
                shown,
                Action.REDACTED,
                f"{count} secret value{'s' if count > 1 else ''} masked",
            )
        )
    if anonymizer and anonymizer.aliases():
        out_manifest.append(
            ManifestEntry(
                "report",
                "host names, IP addresses, user names",
                Action.ANONYMIZED,
                f"{anonymizer.aliases()} replaced by stable aliases",
            )
        )
    return out_sections, out_manifest, cleaned_files, anonymizer
