"""The layer rules of ``docs/architecture.md``, checked on every import of every module.

Every ``import`` and ``from ... import`` is walked, at module level, inside functions
and under ``if TYPE_CHECKING:`` alike (a lazy import is still a dependency), and
checked against what its package may import:

* ``LAYERS``: the first-party packages and third-party distributions each top-level
  package may use (the standard library is always allowed). Adding a dependency to a
  layer is a decision: it is made here, visibly.
* ``engine/`` is pure compute: no environment, no clock, no I/O, no logging set-up
  (``ENGINE_BANNED`` names the calls and attributes refused).
* Only the entry points configure logging (``LOGGING_CONFIGURED_IN``).

``ruff`` (configured in ``pyproject.toml`` and each package's ``ruff.toml``) refuses the
same imports while editing; this test is the complete check and runs in ``make test``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("engine", "storage", "jobs", "cluster", "api")

#: what each package may import besides the standard library
LAYERS: dict[str, set[str]] = {
    "engine": {"engine", "numpy", "pyarrow", "jsonschema", "highspy",
               "numba"},    # engine/kernels: compiled passes (compute only, imported on first use)
    "storage": {"storage", "engine", "numpy", "pyarrow", "deltalake", "boto3", "botocore", "minio",
                "yaml"},   # minio: download links and the bucket's lifecycle (storage/bucket.py)
    "jobs": {"jobs", "storage", "engine", "numpy", "pyarrow", "pydantic", "yaml",
             "psycopg"},    # psycopg: the PostgreSQL catalog (jobs/db.py), loaded only for it
    "cluster": {"cluster", "jobs", "storage", "engine", "ray", "pydantic", "numpy", "pyarrow",
                "psutil"},     # psutil: the processes of a local or embedded Ray node
    "api": {"api", "cluster", "jobs", "storage", "engine", "fastapi", "starlette", "uvicorn",
            "httpx", "pydantic", "prometheus_client", "pyarrow", "numpy", "yaml",
            "jinja2", "weasyprint"},   # the console's templates; invoice PDFs
}

#: fully qualified names engine/ may not touch: environment, clock, I/O, logging set-up
ENGINE_BANNED = {
    "os.environ", "os.getenv", "os.putenv", "os.system", "os.popen",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "datetime.date.today", "time.time", "time.time_ns", "time.monotonic", "time.perf_counter",
    "time.sleep", "logging.basicConfig", "logging.config", "builtins.open", "builtins.print",
    "socket", "subprocess", "urllib.request", "http.client", "shutil", "tempfile",
}
#: the only modules that configure logging (process entry points)
LOGGING_CONFIGURED_IN = {"api/cli/main.py", "api/cli/serve.py"}
LOGGING_CONFIG = {"logging.basicConfig", "logging.config.dictConfig", "logging.config.fileConfig"}

STDLIB = set(sys.stdlib_module_names)


def _modules() -> list[Path]:
    return sorted(p for pkg in FIRST_PARTY for p in (ROOT / pkg).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imports(tree: ast.Module, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    if path.name == "__init__.py":
        package = path.relative_to(ROOT).parts[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            out.append((node.lineno, module))
    return out


def _qualified_names(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, fully qualified name) of every name and attribute chain used, through
    the file's import aliases (``from datetime import datetime`` + ``datetime.now()``
    -> ``datetime.datetime.now``); builtins as ``builtins.<name>``."""
    alias: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for a in node.names:
                alias[a.asname or a.name] = f"{node.module}.{a.name}"
    out = []
    for node in ast.walk(tree):
        chain: list[str] = []
        cur: ast.AST = node
        while isinstance(cur, ast.Attribute):
            chain.insert(0, cur.attr)
            cur = cur.value
        if isinstance(cur, ast.Name) and (chain or isinstance(node, ast.Name)):
            base = alias.get(cur.id, f"builtins.{cur.id}" if cur.id in ("open", "print") else None)
            if base is not None:
                out.append((node.lineno, ".".join([base, *chain])))
    return out


def _banned(name: str, banned: set[str]) -> str | None:
    return next((b for b in banned if name == b or name.startswith(b + ".")), None)


def layer_violations(paths: list[Path] | None = None) -> list[str]:
    problems = []
    for path in paths or _modules():
        rel = _rel(path)
        layer = rel.split("/")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for line, module in _imports(tree, path):
            top = module.split(".")[0]
            if top and top not in STDLIB and top not in LAYERS[layer]:
                problems.append(f"{rel}:{line}: {layer}/ may not import {module} "
                                f"(allowed: {', '.join(sorted(LAYERS[layer]))})")
        names = _qualified_names(tree) + [(ln, m) for ln, m in _imports(tree, path)]
        for line, name in names:
            if layer == "engine" and (b := _banned(name, ENGINE_BANNED)):
                problems.append(f"{rel}:{line}: engine/ is pure compute: {b} is not allowed")
            if rel not in LOGGING_CONFIGURED_IN and (b := _banned(name, LOGGING_CONFIG)):
                problems.append(f"{rel}:{line}: only the entry points configure logging ({b})")
    return sorted(set(problems))


def test_every_import_respects_the_layers():
    problems = layer_violations()
    assert not problems, "layer violations:\n" + "\n".join(problems)


def test_the_walk_sees_imports_inside_functions_and_type_checking():
    tree = ast.parse("import os\nif TYPE_CHECKING:\n    import ray\ndef f():\n    from fastapi import X\n"
                     "    return os.environ['A']\n")
    path = ROOT / "engine" / "example.py"
    assert [m for _, m in _imports(tree, path)] == ["os", "ray", "fastapi"]
    assert "os.environ" in [n for _, n in _qualified_names(tree)]


@pytest.mark.parametrize("source, expected", [
    ("import ray\n", "engine/ may not import ray"),
    ("def f():\n    from storage.objectstore import ObjectStore\n", "engine/ may not import storage"),
    ("import os\nx = os.environ.get('M2C_HOME')\n", "os.environ is not allowed"),
    ("from datetime import datetime\nnow = datetime.now()\n", "datetime.datetime.now is not allowed"),
    ("import logging\nlogging.basicConfig()\n", "only the entry points configure logging"),
    ("def f(p):\n    return open(p).read()\n", "builtins.open is not allowed"),
])
def test_a_violation_is_caught(tmp_path, monkeypatch, source, expected):
    fake_root = tmp_path
    (fake_root / "engine").mkdir()
    bad = fake_root / "engine" / "bad.py"
    bad.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake_root)
    problems = layer_violations([bad])
    assert any(expected in p for p in problems), problems
