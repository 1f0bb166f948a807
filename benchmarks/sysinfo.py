"""How long a full system report takes, next to a bare psutil snapshot.

Run: ``.venv/bin/python benchmarks/sysinfo.py [--reps N]``. Both are measured in
the same run, alternating, and the medians and their ratio are printed; the
target is a full report in at most 0.3 s on the reference machine (2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time


def bare_snapshot() -> None:
    """What psutil alone takes: cpu, memory, disks, net, listening ports, processes."""
    import psutil

    psutil.cpu_count()
    psutil.cpu_freq()
    psutil.virtual_memory()
    psutil.swap_memory()
    for part in psutil.disk_partitions():
        with contextlib.suppress(OSError):
            psutil.disk_usage(part.mountpoint)
    psutil.net_if_addrs()
    psutil.net_if_stats()
    [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN]
    list(psutil.process_iter(["pid", "ppid", "name", "exe", "cmdline", "username"]))


def full_report() -> float:
    from vxassist.sysinfo.report import collect_report

    report = collect_report()
    bad = [n for n, s in report.sections.items() if s.status not in ("ok", "skipped")]
    if bad:
        raise SystemExit(f"sections not ok: {bad}")
    return report.duration_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    os.environ.setdefault("VXASSIST_HOME", tempfile.mkdtemp(prefix="vx-bench-"))
    # first calls pay for imports; do not count them
    bare_snapshot()
    full_report()
    bare: list[float] = []
    full: list[float] = []
    for _ in range(args.reps):
        start = time.perf_counter()
        bare_snapshot()
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        full_report()
        full.append(time.perf_counter() - start)
    b, f = statistics.median(bare), statistics.median(full)
    print(f"repetitions           {args.reps}")
    print(f"bare psutil snapshot  median {b * 1000:7.1f} ms  (min {min(bare) * 1000:.1f})")
    print(f"full sysinfo report   median {f * 1000:7.1f} ms  (min {min(full) * 1000:.1f})")
    print(f"ratio full / bare     {f / b:7.2f}")
    print(f"target full <= 300 ms {'met' if f <= 0.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
