"""Recognition rules for VXTracker and database servers, as data.

Defaults ship in ``rules.toml`` inside the package; the machine policy can
replace any key of ``[vxtracker]`` (policy ``[sysinfo.vxtracker]``) and add or
change engines (policy ``[sysinfo.databases.NAME]``). A policy value of the
wrong type is ignored with a reason the manifest shows, never a crash.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from importlib import resources
from typing import Any

from vxassist.errors import ConfigError


@dataclass(frozen=True)
class VxTrackerRules:
    service_names: tuple[str, ...] = ()
    process_names: tuple[str, ...] = ()
    install_paths: tuple[str, ...] = ()
    registry_keys: tuple[str, ...] = ()
    registry_install_values: tuple[str, ...] = ()
    registry_version_values: tuple[str, ...] = ()
    config_globs: tuple[str, ...] = ()
    log_globs: tuple[str, ...] = ()
    version_files: tuple[str, ...] = ()
    cdr_globs: tuple[str, ...] = ()
    pbx_manufacturer_keys: tuple[str, ...] = ()
    pbx_model_keys: tuple[str, ...] = ()
    cdr_link_keys: tuple[str, ...] = ()
    database_keys: tuple[str, ...] = ()
    log_tail_bytes: int = 16384
    config_max_bytes: int = 262144
    max_files: int = 40
    max_total_bytes: int = 1048576


@dataclass(frozen=True)
class EngineRule:
    key: str
    label: str
    service_names: tuple[str, ...] = ()
    process_names: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class Rules:
    vxtracker: VxTrackerRules
    engines: tuple[EngineRule, ...]
    #: policy values that were ignored, and why
    problems: tuple[str, ...] = ()

    @property
    def subject_process_names(self) -> tuple[str, ...]:
        """Name patterns of the processes a report is about: VXTracker's (and so
        its PBX link) and every database engine's."""
        names = list(self.vxtracker.process_names)
        for engine in self.engines:
            names += engine.process_names
        return tuple(names)

    def is_subject_process(self, name: str) -> bool:
        """Whether a process called ``name`` is one the report is about."""
        return matches(name, self.subject_process_names)


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether ``name`` matches one of the glob ``patterns``, ignoring case."""
    low = name.lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def _coerce(name: str, default: Any, value: Any) -> Any:
    if isinstance(default, tuple):
        if isinstance(value, str) or not isinstance(value, list):
            raise TypeError(f"{name} must be a list")
        if (default and isinstance(default[0], int)) or name == "ports":
            return tuple(int(v) for v in value)
        return tuple(str(v) for v in value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TypeError(f"{name} must be a positive whole number")
        return value
    return str(value)


def _vxtracker(
    data: Mapping[str, Any], base: VxTrackerRules, where: str
) -> tuple[VxTrackerRules, list[str]]:
    problems: list[str] = []
    changes: dict[str, Any] = {}
    known = {f.name: getattr(base, f.name) for f in fields(VxTrackerRules)}
    for key, value in data.items():
        if key not in known:
            problems.append(f"{where}: unknown key {key!r} ignored")
            continue
        try:
            changes[key] = _coerce(key, known[key], value)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {key} ignored ({exc})")
    return replace(base, **changes), problems


def _engine(
    key: str, data: Mapping[str, Any], base: EngineRule | None, where: str
) -> tuple[EngineRule | None, list[str]]:
    current = base or EngineRule(key=key, label=str(data.get("label", key)))
    problems: list[str] = []
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name not in {"label", "service_names", "process_names", "ports"}:
            problems.append(f"{where}.{key}: unknown key {name!r} ignored")
            continue
        try:
            changes[name] = _coerce(name, getattr(current, name), value)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}.{key}: {name} ignored ({exc})")
    return replace(current, **changes), problems


def default_rules_text() -> str:
    return resources.files("vxassist.sysinfo").joinpath("rules.toml").read_text("utf-8")


def load_rules(policy_extra: Mapping[str, Any] | None = None) -> Rules:
    """The shipped rules, with the machine policy's ``[sysinfo]`` section applied."""
    try:
        shipped = tomllib.loads(default_rules_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            "The built-in sysinfo rules are damaged; reinstall vxassist.", detail=repr(exc)
        ) from exc
    vx, _ = _vxtracker(shipped.get("vxtracker", {}), VxTrackerRules(), "rules.toml")
    engines: dict[str, EngineRule] = {}
    for key, data in shipped.get("databases", {}).items():
        rule, _ = _engine(key, data, None, "rules.toml")
        if rule is not None:
            engines[key] = rule

    problems: list[str] = []
    section = (policy_extra or {}).get("sysinfo", {})
    if not isinstance(section, Mapping):
        problems.append("policy [sysinfo] is not a table; ignored")
        section = {}
    policy_vx = section.get("vxtracker", {})
    if isinstance(policy_vx, Mapping):
        vx, found = _vxtracker(policy_vx, vx, "policy [sysinfo.vxtracker]")
        problems += found
    else:
        problems.append("policy [sysinfo.vxtracker] is not a table; ignored")
    policy_db = section.get("databases", {})
    if isinstance(policy_db, Mapping):
        for key, data in policy_db.items():
            if not isinstance(data, Mapping):
                problems.append(f"policy [sysinfo.databases.{key}] is not a table; ignored")
                continue
            rule, found = _engine(key, data, engines.get(key), "policy [sysinfo.databases]")
            problems += found
            if rule is not None:
                engines[key] = rule
    return Rules(vxtracker=vx, engines=tuple(engines.values()), problems=tuple(problems))
