"""``m2c scenarios schema | run FILE.yaml [--wait] | list | show ID``: what-if scenarios.

``run`` reads the scenario document (YAML or JSON), checks it (the schema, every op's
parameters, a battery's feasibility, the variant limit, then every contract, term,
site, channel, index and curve it names against the store: exit 2 naming the variant
and field, before anything runs), ingests each ``price_curve`` ``file:`` as its own
version of the prices table (iso ``CURVE``, node = the curve's name; local runs
only), submits the ``scenario`` job and, with ``--wait`` (always with the embedded
local Ray), follows it. ``show`` prints a result: per-variant totals (``table``), the
summary document (``json``), the result table (``csv``: variant x contract x period x
line) or the printable report (``html``). With ``m2c --api URL`` every command goes
through the API (``POST /v1/jobs``, ``GET /v1/scenarios``).
"""
from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.errors import InputError, ValidationError

from ..settings import Settings
from .output import add_format, emit, print_json, table
from .submit import add_job_options, print_job, submit_and_follow

#: the largest scenario document read
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("scenarios", help="what-if scenarios: variants re-settled by the billing engine")
    sub = p.add_subparsers(dest="scenarios_command", required=True)
    sc = sub.add_parser("schema", help="print the scenario document's JSON Schema")
    sc.set_defaults(handler=cmd_schema)
    run = sub.add_parser("run", help="check a scenario document and run it")
    run.add_argument("file", metavar="FILE.yaml", help="the scenario document (YAML or JSON)")
    add_job_options(run)
    run.set_defaults(handler=cmd_run)
    ls = sub.add_parser("list", help="stored scenario results")
    add_format(ls)
    ls.set_defaults(handler=cmd_list)
    show = sub.add_parser("show", help="one scenario result")
    show.add_argument("result_id", metavar="ID", help="the result id (the job id)")
    add_format(show, ("table", "json", "csv", "html"))
    show.set_defaults(handler=cmd_show)


# ---------------------------------------------------------------- the document
def read_document(path: Path) -> dict:
    """The scenario document of ``path`` (YAML or JSON), through the one YAML reader
    (``storage.readers.yaml_doc``: UTF-8, no aliases, no key twice, plain data), at
    most ``MAX_DOCUMENT_BYTES``."""
    from storage.readers.yaml_doc import read_yaml_file
    return dict(read_yaml_file(path, max_bytes=MAX_DOCUMENT_BYTES, what="scenario document"))


def _curve_files(doc: dict, base_dir: Path) -> list[tuple[str, Path, str]]:
    """(curve name, file, field path) of every ``price_curve`` with a ``file:``."""
    out = []
    groups = [(f"variants[{i}]", v.get("transforms") or []) for i, v in enumerate(doc.get("variants") or [])]
    if isinstance(doc.get("sweep"), dict):
        groups.append(("sweep", doc["sweep"].get("transforms") or []))
    for where, transforms in groups:
        for j, t in enumerate(transforms):
            if isinstance(t, dict) and t.get("op") == "price_curve" and t.get("file"):
                out.append((str(t.get("curve")), (base_dir / str(t["file"])).resolve(),
                            f"{where}.transforms[{j}].file"))
    return out


def _without_files(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for v in (doc.get("variants") or []) + ([doc["sweep"]] if isinstance(doc.get("sweep"), dict) else []):
        for t in v.get("transforms") or []:
            if isinstance(t, dict) and t.get("op") == "price_curve":
                t.pop("file", None)
    return doc


def ingest_curve(store: Any, name: str, path: Path, where: str) -> int:
    """Ingest a price curve file as prices under iso ``CURVE``, node ``name``: its
    ``interval_start``, ``interval_minutes`` and ``lmp_usd_per_mwh`` columns (others
    ignored), through the prices ingest (validation, idempotency by content). Returns
    the prices version it is in."""
    from engine.scenario.prices import CURVE_ISO, CURVE_RUN
    from storage.ingest import ingest_prices
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read curve file {path}: {exc}", field=where) from None
    rows = list(csv.DictReader(io.StringIO(text)))
    need = ("interval_start", "interval_minutes", "lmp_usd_per_mwh")
    if not rows or any(k not in rows[0] for k in need):
        raise ValidationError(f"a curve file has the columns {', '.join(need)}", file=str(path), field=where)
    with tempfile.TemporaryDirectory(prefix="m2c-curve-") as tmp:
        out = Path(tmp) / f"curve-{name}.csv"
        with out.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(("iso", "node", "market_run", *need))
            for r in rows:
                w.writerow((CURVE_ISO, name, CURVE_RUN, *(r[k] for k in need)))
        report = ingest_prices(store, [out], now_utc=datetime.now(timezone.utc))
    return int(report.version) if report.version is not None else -1


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    from engine.scenario import scenario_schema
    print_json(scenario_schema())
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from engine.scenario import parse_scenario
    path = Path(args.file)
    doc = read_document(path)
    parse_scenario(_without_files(doc), source=str(path))
    curves = _curve_files(doc, path.parent)
    if curves and settings.api_url:
        raise InputError(f"{curves[0][2]}: a curve file is ingested by a local m2c; ingest it there "
                         f"(m2c scenarios run without --api) and name it by curve: here")
    doc = _without_files(doc)
    if not settings.api_url:
        from jobs.scenario import check
        from jobs.specs import ScenarioSpec
        from storage.objectstore import ObjectStore
        store = ObjectStore.from_config(settings.storage_config())
        for name, file, where in curves:
            version = ingest_curve(store, name, file, where)
            print(f"curve {name}: {file.name} in prices version {version}", file=sys.stderr)
        check(ScenarioSpec(document=doc), store, source=str(path))
    job = submit_and_follow({"kind": "scenario", "document": doc}, args, settings)
    return print_job(job, args, render_job_result)


def render_job_result(result: dict) -> str:
    lines = [f"scenario {result.get('scenario')}: {result.get('variants')} variants, "
             f"{result.get('failed')} failed; result {result.get('result_id')}",
             f"base total {result.get('base_total_usd')} USD"]
    stats = result.get("total_usd") or {}
    if stats:
        lines.append("totals: " + ", ".join(f"{k[:-4]} {v}" for k, v in stats.items()))
    for r in result.get("largest") or []:
        lines.append(f"  {r['variant']}: {r['total_usd']} ({r['delta_usd']:>})")
    lines.append(f"m2c scenarios show {result.get('result_id')} --format html > report.html")
    return "\n".join(lines)


# ---------------------------------------------------------------- results
def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    if settings.api_url:
        from ..client import ApiClient
        with ApiClient(settings.api_url, settings.api_key) as client:
            doc = client.list_scenarios()
    else:
        from jobs.scenario import list_results
        from storage.objectstore import ObjectStore
        doc = {"data": list_results(ObjectStore.from_config(settings.storage_config()))}

    def text() -> str:
        rows = [("ID", "SCENARIO", "VARIANTS", "FAILED", "BASE TOTAL USD")]
        rows += [(r["result_id"], r["scenario"], r["variants"], r["failed"], r["base_total_usd"])
                 for r in doc["data"]]
        return table(rows, right={2, 3, 4}) if len(rows) > 1 else "no scenario results"
    emit(args, doc, text)
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    fmt = args.format
    if settings.api_url:
        from ..client import ApiClient
        with ApiClient(settings.api_url, settings.api_key) as client:
            body = client.get_scenario(args.result_id, "json" if fmt == "table" else fmt)
    else:
        from jobs.scenario import result_view
        from storage.objectstore import ObjectStore
        body = result_view(ObjectStore.from_config(settings.storage_config()), args.result_id,
                           "json" if fmt == "table" else fmt)
    if fmt in ("csv", "html"):
        sys.stdout.write(body if isinstance(body, str) else body.decode("utf-8"))
        return 0
    doc = body if isinstance(body, dict) else json.loads(body)
    emit(args, doc, lambda: render_summary(doc))
    return 0


def render_summary(doc: dict) -> str:
    head = [f"scenario {doc['scenario']}: {doc['variants']} variants ({doc['failed']} failed), "
            f"{doc['periods'][0]}..{doc['periods'][-1]}, {len(doc['contracts'])} contracts" if doc["periods"]
            else f"scenario {doc['scenario']}"]
    rows = [("VARIANT", "STATUS", "TOTAL USD", "DELTA USD")]
    rows += [(v["variant"], v["status"], v["total_usd"] if v["status"] == "ok" else "",
              v["delta_usd"] if v["status"] == "ok" else "") for v in doc["variant_totals"]]
    out = "\n".join(head) + "\n" + table(rows, right={2, 3})
    if doc["failures"]:
        out += "\nfailed:\n" + "\n".join(f"  {f['variant']}: {f['reason']}" for f in doc["failures"])
    return out
