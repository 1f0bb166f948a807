"""The kernel's serial console is not a PBX link, whatever the kernel calls its driver."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN
from vxassist.sysinfo.live import serial_ports_in
from vxassist.sysinfo.probe import SerialPort
from vxassist.sysinfo.report import collect_report


def _tty(sys: Path, name: str, driver: str, port: str | None) -> None:
    device = sys / "devices" / name
    (sys / "bus" / "drivers" / driver).mkdir(parents=True, exist_ok=True)
    device.mkdir(parents=True)
    os.symlink(sys / "bus" / "drivers" / driver, device / "driver")
    tty = sys / "class" / "tty" / name
    tty.mkdir(parents=True)
    os.symlink(device, tty / "device")
    if port is not None:
        (tty / "port").write_text(port + "\n")


def test_the_console_and_absent_uarts_are_left_out_on_new_and_old_kernels(tmp_path: Path) -> None:
    _tty(tmp_path, "ttyS0", "port", "0x3F8")  # kernel >= 6.5: the serial core's "port"
    _tty(tmp_path, "ttyS1", "port", "0x0")  # listed by the kernel, no UART behind it
    _tty(tmp_path, "ttyS2", "serial8250", "0x0")  # the same before 6.5
    _tty(tmp_path, "ttyS3", "port", "0x2F8")  # a real UART, not the console
    _tty(tmp_path, "ttyUSB0", "ftdi_sio", None)
    (tmp_path / "class" / "tty" / "console").mkdir()
    (tmp_path / "class" / "tty" / "console" / "active").write_text("tty0 ttyS0\n")
    assert serial_ports_in(str(tmp_path)) == [
        SerialPort("/dev/ttyS0", "port", "kernel console"),
        SerialPort("/dev/ttyS3", "port"),
        SerialPort("/dev/ttyUSB0", "ftdi_sio"),
    ]


def test_the_pbx_section_does_not_offer_the_console_as_a_link() -> None:
    ports = [
        {"name": "/dev/ttyS0", "device": "port", "description": "kernel console"},
        {"name": "/dev/ttyUSB0", "device": "ftdi_sio"},
    ]
    report = collect_report(probe=RecordedProbe(DEBIAN, overrides={"serial_ports": ports}))
    assert report.data("pbx")["serial_ports"] == [{"name": "/dev/ttyUSB0", "device": "ftdi_sio"}]
    left = [m for m in report.manifest if m.item == "/dev/ttyS0"]
    assert left and left[0].action == "skipped" and "kernel console" in left[0].reason
