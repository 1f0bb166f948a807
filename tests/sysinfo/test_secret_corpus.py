"""Every planted secret through every output: JSON, text, --anonymize, the zip bundle.

The corpus (``tests/sysinfo/secret_corpus.py``, files in ``tests/data/secrets/``)
plants each form the report reads; nothing of it may come out, and the things
that only look like secrets must come out unchanged.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.sysinfo.secret_corpus import (
    HOSTS,
    KEPT,
    SECRETS,
    corpus_probe,
    json_documents,
    placed,
)
from vxassist.cli import main
from vxassist.sysinfo.model import Report
from vxassist.sysinfo.render import summary
from vxassist.sysinfo.report import collect_report, write_bundle


def _zip_texts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name).decode("utf-8") for name in zf.namelist()}


def _outputs(report: Report, tmp_path: Path) -> dict[str, str]:
    bundle = write_bundle(report, tmp_path / f"case-{report.anonymized}.zip")
    out = {
        "json": json.dumps(report.to_dict(), ensure_ascii=False),
        "json-ascii": json.dumps(report.to_dict()),
        "text": summary(report),
    }
    out |= {f"file {f.name}": f.text for f in report.files}
    out |= {f"zip {name}": text for name, text in _zip_texts(bundle).items()}
    return out


def _leaks(outputs: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (secret, where) for where, text in outputs.items() for secret in SECRETS if secret in text
    ]


@pytest.mark.parametrize("host", HOSTS)
def test_the_corpus_reaches_the_report(host: str) -> None:
    """The planted files and processes are read (else the scan below proves nothing)."""
    report = collect_report(probe=corpus_probe(host))
    names = {f.source for f in report.files}
    paths, cut_key_log = placed(host)
    for path in paths:
        if not path.endswith(".jks"):
            assert path in names, path
    assert cut_key_log in names
    cut = next(f for f in report.files if f.source == cut_key_log)
    assert cut.truncated and "BEGIN RSA PRIVATE KEY" not in cut.text
    pids = {p["pid"] for p in report.data("vxtracker")["processes"]}
    assert {1300, 1301, 1302, 1303} <= pids


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("anonymize", [False, True], ids=["plain", "anonymized"])
def test_no_planted_secret_in_any_output(host: str, anonymize: bool, tmp_path: Path) -> None:
    report = collect_report(probe=corpus_probe(host), anonymize=anonymize)
    assert _leaks(_outputs(report, tmp_path)) == []


def test_no_planted_secret_through_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vxassist.sysinfo import live

    monkeypatch.setattr(live, "LiveProbe", lambda detail=None: corpus_probe())
    outputs: dict[str, str] = {}
    for n, argv in enumerate(
        (["sysinfo"], ["sysinfo", "--json"], ["sysinfo", "--anonymize", "--json"])
    ):
        bundle = tmp_path / f"cli-{n}.zip"
        assert main([*argv, "--out", str(bundle)]) == 0
        captured = capsys.readouterr()
        outputs[f"{argv} stdout"] = captured.out
        outputs[f"{argv} stderr"] = captured.err
        outputs |= {f"{argv} zip {k}": v for k, v in _zip_texts(bundle).items()}
    assert _leaks(outputs) == []


@pytest.mark.parametrize("host", HOSTS)
def test_what_only_looks_secret_is_kept(host: str, tmp_path: Path) -> None:
    report = collect_report(probe=corpus_probe(host))
    everything = "\n".join(_outputs(report, tmp_path).values())
    missing = [kept for kept in KEPT if kept not in everything]
    assert missing == []
    collector = next(p for p in report.data("vxtracker")["processes"] if p["pid"] == 1300)
    assert collector["environment"]["PWD"] == "/opt/vxtracker"
    assert collector["environment"]["OLDPWD"] == "/home/vxtracker"
    assert collector["environment"]["LANG"] == "C.UTF-8"


@pytest.mark.parametrize("host", HOSTS)
def test_masking_keeps_json_valid(host: str, tmp_path: Path) -> None:
    report = collect_report(probe=corpus_probe(host))
    texts = _zip_texts(write_bundle(report, tmp_path / "case.zip"))
    settings = json.loads(texts["files/vxtracker/config/appsettings.json"])
    assert settings["Smtp"]["Host"] == "mail.example.com"
    assert settings["Smtp"]["Port"] == 587
    assert settings["Logging"]["LogLevel"]["Default"] == "Information"
    assert settings["proxy"] == {"auth": None, "Enabled": False}
    payloads = json_documents(texts["files/vxtracker/logs/corpus.log"])
    assert [p.get("user") for p in payloads] == ["vx", "vx", None]
    assert payloads[0]["count"] == 3 and payloads[1]["retry"] is None
    assert payloads[2]["ok"] is True and payloads[2]["auth"] is None


@pytest.mark.parametrize("host", HOSTS)
def test_a_binary_keystore_is_left_out_with_a_reason(host: str, tmp_path: Path) -> None:
    report = collect_report(probe=corpus_probe(host))
    assert not [f for f in report.files if f.source.endswith(".jks")]
    names = _zip_texts(write_bundle(report, tmp_path / "case.zip"))
    assert not [n for n in names if "keystore" in n]
    skipped = [m for m in report.manifest if m.item.endswith("keystore.jks")]
    assert skipped and skipped[0].action == "skipped"
    assert "binary" in skipped[0].reason
