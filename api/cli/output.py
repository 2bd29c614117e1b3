"""How every ``m2c`` command prints: one ``--format`` option, one JSON style, one table.

* :func:`add_format` declares ``--format`` (``table`` for people by default, ``json``
  for programs; some commands add ``html``, ``yaml`` or ``text``). With ``json`` a
  command prints exactly one JSON document on stdout (:func:`print_json`: indented,
  sorted keys), so ``m2c ... --format json | jq`` always works.
* :func:`emit` prints a document as JSON or as the text the command rendered.
* :func:`table` lays out rows in aligned columns.
* :class:`ProgressLine` redraws one progress line on a terminal's stderr.
* :func:`error_doc` is the one JSON document printed for a refused command under
  ``--format json`` (``{"error": {"type", "message", "file", "line", "field", ...}}``).
* :func:`stdout_for_this_thread` keeps other threads (Ray's error listener prints
  "A worker died ..." to ``sys.stdout``) off stdout: it is for the command's output;
  under ``--format json`` :func:`json_mode` sends everything but :func:`print_json` to
  stderr.

Stdlib only, so ``m2c --help`` stays fast (nothing heavy is imported here).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, Sequence, TextIO

__all__ = ["add_format", "wants_json", "print_json", "emit", "table", "ProgressLine",
           "error_doc", "json_mode", "stdout_for_this_thread"]

#: where :func:`print_json` writes while :func:`json_mode` holds stdout for it
_json_stream: TextIO | None = None

_HELP = {"table": "table for people", "text": "text for people", "json": "one JSON document on stdout",
         "html": "a printable HTML page", "yaml": "YAML", "csv": "CSV"}
BAR_WIDTH = 30


def add_format(p: argparse.ArgumentParser, choices: Sequence[str] = ("table", "json"),
               default: str | None = None) -> None:
    """Declare ``--format`` with ``choices``; the first is the default."""
    default = default or choices[0]
    p.add_argument("--format", choices=list(choices), default=default,
                   help="; ".join(f"{c}: {_HELP.get(c, c)}" for c in choices) + f" (default {default})")


def wants_json(args: argparse.Namespace) -> bool:
    """Did the user ask for one JSON document (``--format json``, or ``--output json``
    where ``--format`` names an input format)?"""
    return getattr(args, "format", None) == "json" or getattr(args, "output", None) == "json"


def print_json(doc: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, default=str),
          file=stream or _json_stream or sys.stdout)


def error_doc(exc: BaseException, exit_code: int) -> dict:
    """The JSON document of a refused command: the error's class, message and, when
    it has them, the file, line, field and further problems it names."""
    err: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for attr in ("file", "line", "field"):
        value = getattr(exc, attr, None)
        if value is not None:
            err[attr] = value
    problems = getattr(exc, "problems", None)
    if problems:
        err["problems"] = list(problems)
    return {"error": err, "exit_code": exit_code}


@contextlib.contextmanager
def json_mode() -> Iterator[None]:
    """While held, stdout carries only what :func:`print_json` writes; anything else
    printed (by this or any thread: a library, Ray) goes to stderr."""
    global _json_stream
    saved, saved_json = sys.stdout, _json_stream
    _json_stream, sys.stdout = saved, sys.stderr
    try:
        yield
    finally:
        sys.stdout, _json_stream = saved, saved_json


class _ThreadRouted:
    """A ``sys.stdout`` that writes for its owner thread and sends every other
    thread's writes to stderr."""

    def __init__(self, out: TextIO, err: TextIO, owner: threading.Thread):
        self._out, self._err, self._owner = out, err, owner

    def _target(self) -> TextIO:
        return self._out if threading.current_thread() is self._owner else self._err

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._out.flush()
        self._err.flush()

    def __getattr__(self, name: str) -> Any:          # fileno, isatty, encoding, ...
        return getattr(self._out, name)


@contextlib.contextmanager
def stdout_for_this_thread() -> Iterator[None]:
    """While held, only the calling thread writes to stdout; other threads' prints
    (Ray's driver-side error listener) go to stderr."""
    saved = sys.stdout
    sys.stdout = _ThreadRouted(saved, sys.stderr, threading.current_thread())  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = saved


def emit(args: argparse.Namespace, doc: Any, text: str | Callable[[], str]) -> None:
    """Print ``doc`` as JSON if asked for, else ``text`` (or what it renders)."""
    if wants_json(args):
        print_json(doc)
    else:
        print(text() if callable(text) else text)


def table(rows: Sequence[Sequence[Any]], right: set[int] | frozenset[int] = frozenset()) -> str:
    """Rows (the first is the header) in aligned columns; columns in ``right`` are
    right-aligned (amounts, counts)."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


class ProgressLine:
    """One stderr line redrawn in place: ``[#####.....] 12/40  running  0:12``. No-op
    unless ``stream`` is a terminal, so pipes and logs stay clean."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.started = time.monotonic()
        self._width = 0

    def update(self, job: dict) -> None:
        if not self.enabled:
            return
        p = job.get("progress") or {}
        done, total = int(p.get("done") or 0), int(p.get("total") or 0)
        filled = int(BAR_WIDTH * done / total) if total else 0
        elapsed = int(time.monotonic() - self.started)
        line = (f"{job['id']}  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                f"{done}/{total or '?'}  {job['state']}  {elapsed // 60}:{elapsed % 60:02d}")
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


def data_versions_text(versions: dict) -> str:
    """``meter 3, prices 1, ...``: the input versions a result read, in name order; an
    input it did not read (None: e.g. grid factors of an untraced site) is left out."""
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v is not None)
