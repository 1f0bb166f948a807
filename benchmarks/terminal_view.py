"""The live terminal view under a flood: the GUI thread's longest stall, side by side.

Feeds a TerminalView (120x40, coloured lines) from a timer on the GUI thread, as
the bridge delivers ``terminal_output`` events, until ``--megabytes`` have been
fed, and measures the gaps of a 1 ms probe timer on the same thread. The
baseline is the same probe and feeding timer with nothing drawn (the bytes are
dropped). Target: the longest gap <= 16 ms while the view is open.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/terminal_view.py [--megabytes 50]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from vxassist.ui.qt import QTimer, QtWidgets
from vxassist.ui.terminal_view import TerminalView

CHUNK = b"".join(
    b"\x1b[32mline %06d\x1b[0m of the output with some text to parse and draw\r\n" % i
    for i in range(1000)
)


def run(
    app: QtWidgets.QApplication, megabytes: float, view: TerminalView | None
) -> dict[str, float]:
    gaps: list[float] = []
    last = [time.perf_counter()]
    sent = [0]

    def probe() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    def pump() -> None:
        for _ in range(8):
            if view is not None:
                view.feed(CHUNK)
            sent[0] += len(CHUNK)
        if sent[0] >= megabytes * 1e6:
            app.quit()

    probe_timer, pump_timer = QTimer(), QTimer()
    probe_timer.setInterval(1)
    probe_timer.timeout.connect(probe)
    pump_timer.setInterval(5)
    pump_timer.timeout.connect(pump)
    started = time.perf_counter()
    probe_timer.start()
    pump_timer.start()
    app.exec()
    probe_timer.stop()
    pump_timer.stop()
    gaps.sort()
    return {
        "seconds": time.perf_counter() - started,
        "max_ms": gaps[-1] * 1000,
        "p99_ms": gaps[int(len(gaps) * 0.99)] * 1000,
        "skipped_mb": (view.skipped_bytes if view else 0) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=50.0)
    args = parser.parse_args()
    app = QtWidgets.QApplication([])
    base = run(app, args.megabytes, None)
    view = TerminalView(120, 40)
    view.resize(view.sizeHint())
    view.show()
    live = run(app, args.megabytes, view)
    for name, r in (("baseline (nothing drawn)", base), ("live terminal view", live)):
        print(
            f"{name:26} {args.megabytes:.0f} MB in {r['seconds']:.1f} s  longest stall "
            f"{r['max_ms']:5.1f} ms  p99 {r['p99_ms']:4.1f} ms  left out {r['skipped_mb']:.1f} MB"
        )
    ratio = live["max_ms"] / base["max_ms"] if base["max_ms"] else float("inf")
    verdict = "ok" if live["max_ms"] <= 16 else "OVER the 16 ms target"
    print(f"longest stall ratio {ratio:.2f}x the baseline; {verdict}")


if __name__ == "__main__":
    main()
