"""Benchmark: how long the ``m2c`` command line takes, cold, as a user runs it.

Every figure is the wall time of a fresh ``m2c`` process (``subprocess``, the real
entry point), measured from its start to its exit, plus the time to its first line
of output (stdout or stderr), which is what a user waits for before knowing anything
happens. Sections (targets of issue 12, point 7):

1. ``m2c --help`` and ``m2c settle --help``: under 0.5 s.
2. read-only commands on the demo store: ``jobs list``, ``invoices list``,
   ``contracts list``, ``sites list``: under 0.5 s.
3. a month-end of the demo (``m2c settle --period 2026-10``: 3 sites, 5 contracts, a
   5-minute month) from a cold CLI with no Ray running (an embedded Ray is started and
   stopped by the command): under 10 s;
4. the same month-end with a local cluster already running (``m2c cluster start``):
   under 3 s.

Each month-end run uses a fresh job catalog (``M2C_DB``) on the same store, so every
run settles (the catalog would otherwise return the finished job). The demo is built
once in ``--home`` (default: a temporary folder) with ``m2c demo``; the local cluster
is stopped at the end.

    .venv/bin/python bench/cli.py [--home DIR] [--repeat 5] [--settle-repeat 3]

Figures are medians (min..max) of the runs, with the CPU seconds of the ``m2c`` process
(and the children it reaped): on a busy shared machine the wall time moves with the
load average printed beside it, the CPU time much less (Ray's own processes, started
by the command or running in the cluster, are not in it).
"""
from __future__ import annotations

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the installed entry point (what a user runs), else the module
M2C = ([str(Path(sys.executable).with_name("m2c"))] if Path(sys.executable).with_name("m2c").exists()
       else [sys.executable, "-m", "api.cli.main"])
PERIOD = "2026-10"


def run_timed(argv: list[str], env: dict[str, str], cwd: Path
              ) -> tuple[float, float, float, int, str]:
    """(seconds to exit, seconds to the first output, CPU seconds of the m2c process and
    its reaped children, exit code, stderr tail)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = None
    err = b""
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    open_streams = 2
    while open_streams:
        for key, _ in sel.select():
            chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            if first is None:
                first = time.perf_counter() - started
            if key.fileobj is proc.stderr:
                err = (err + chunk)[-2000:]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    total = time.perf_counter() - started
    return (total, first if first is not None else total, usage.ru_utime + usage.ru_stime,
            proc.returncode, err.decode(errors="replace"))


def load() -> str:
    try:
        return "load %.1f" % os.getloadavg()[0]
    except OSError:
        return "load ?"


def measure(label: str, argv: list[str], env: dict[str, str], cwd: Path, repeat: int,
            target_s: float, fresh_env=None) -> dict:
    totals, firsts, cpus = [], [], []
    for i in range(repeat):
        run_env = fresh_env(i) if fresh_env else env
        total, first, cpu, code, err = run_timed(argv, run_env, cwd)
        if code != 0:
            raise SystemExit(f"{label}: exit {code}\n{err}")
        totals.append(total)
        firsts.append(first)
        cpus.append(cpu)
    med = statistics.median(totals)
    verdict = "ok" if med < target_s else "OVER"
    print(f"{label:<40} {med:6.2f} s  ({min(totals):.2f}..{max(totals):.2f}; first output "
          f"{statistics.median(firsts):.2f} s; CPU {statistics.median(cpus):.2f} s)  "
          f"target < {target_s:g} s: {verdict}  [{load()}]", flush=True)
    return {"label": label, "median_s": med, "min_s": min(totals), "max_s": max(totals),
            "first_line_s": statistics.median(firsts), "cpu_s": statistics.median(cpus),
            "target_s": target_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, default=None, help="M2C_HOME with (or for) the demo")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each fast command")
    ap.add_argument("--settle-repeat", type=int, default=3, help="runs of each month-end")
    args = ap.parse_args()

    home = (args.home or Path(tempfile.mkdtemp(prefix="m2c-bench-cli-")) / "home").resolve()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("M2C_") and k not in ("RAY_ADDRESS",)}
    env.update({"M2C_HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0",
                "PYTHONPATH": str(ROOT)})
    cwd = home.parent
    cwd.mkdir(parents=True, exist_ok=True)
    print(f"m2c command-line timings; M2C_HOME={home}; {os.cpu_count()} CPUs; {load()}")

    if not (home / "store" / "invoices").exists():
        print("building the demo once (m2c demo) ...", flush=True)
        done = subprocess.run([*M2C, "demo"], env=env, cwd=cwd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"m2c demo failed:\n{done.stderr[-3000:]}")
    subprocess.run([*M2C, "cluster", "stop"], env=env, cwd=cwd, capture_output=True)

    print("\n-- start-up (target < 0.5 s)")
    measure("m2c --help", [*M2C, "--help"], env, cwd, args.repeat, 0.5)
    measure("m2c settle --help", [*M2C, "settle", "--help"], env, cwd, args.repeat, 0.5)
    print("\n-- read-only commands on the demo store (target < 0.5 s)")
    for cmd in (["jobs", "list"], ["invoices", "list"], ["contracts", "list"], ["sites", "list"]):
        measure(f"m2c {' '.join(cmd)}", [*M2C, *cmd], env, cwd, args.repeat, 0.5)

    catalogs = Path(tempfile.mkdtemp(prefix="m2c-bench-catalogs-"))

    def fresh(tag: str):
        return lambda i: {**env, "M2C_DB": f"sqlite:///{catalogs / f'{tag}-{i}.db'}"}

    settle = [*M2C, "settle", "--period", PERIOD]
    print(f"\n-- month-end of the demo ({PERIOD}: 3 sites, 5 contracts, 5-minute data)")
    cold = measure("cold CLI, no Ray running (embedded)", settle, env, cwd, args.settle_repeat,
                   10.0, fresh("cold"))
    t0 = time.perf_counter()
    done = subprocess.run([*M2C, "cluster", "start"], env=env, cwd=cwd, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"m2c cluster start failed:\n{done.stderr[-3000:]}")
    print(f"{'(m2c cluster start, once)':<44} {time.perf_counter() - t0:6.2f} s")
    try:
        warm = measure("local cluster already running", settle, env, cwd, args.settle_repeat, 3.0,
                       fresh("warm"))
    finally:
        subprocess.run([*M2C, "cluster", "stop"], env=env, cwd=cwd, capture_output=True)
    print(f"\nmonth-end: cold {cold['median_s']:.2f} s -> with a running local cluster "
          f"{warm['median_s']:.2f} s ({cold['median_s'] / warm['median_s']:.1f}x)")


if __name__ == "__main__":
    main()
