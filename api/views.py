"""What the CLI and the HTTP API show and do over the store: one function per operation.

``m2c`` without ``--api`` calls these in its own process (``api.cli.backend.Local``);
the routes call the very same functions in the API process, and ``api.client`` brings
their documents back over HTTP (``api.cli.backend.Remote``). So a command prints the
same document with or without ``--api``; only where it runs differs.

Every function takes an :class:`storage.objectstore.ObjectStore` (and plain values)
and returns JSON-able documents; errors are the ``engine.errors`` tree (``InputError``
-> exit 2 / HTTP 4xx). Heavy modules (pyarrow, the contract engine) are imported where
used, so importing this module costs nothing.

Invoice statuses in lists: ``approved`` (an approval record exists), ``superseded``
(a later version exists and this one was never approved: it can no longer be
approved), else the status the invoice was published with (``draft``, ``estimated``).
"""
from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConflictError, InputError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from engine.sites import Site
    from storage.objectstore import ObjectStore

__all__ = [
    "INVOICE_STATUSES", "EXPLAIN_FORMATS", "INGEST_TABLES", "APPROVAL_SOURCES",
    "invoice_page", "approve_invoice", "explain_line", "explain_rows",
    "contract_summaries", "contract_view", "add_contract",
    "sites_view", "load_sites", "vee_report", "ingest_files",
]

INVOICE_STATUSES = ("draft", "estimated", "approved", "superseded")
EXPLAIN_FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json",
                   "parquet": "application/vnd.apache.parquet"}
INGEST_TABLES = ("meter", "prices", "index", "awards", "statements", "grid_factors")
#: where an approval came from: the ``m2c`` command (locally or with ``--api``), a
#: direct HTTP call, or the web console
APPROVAL_SOURCES = ("cli", "api", "console")
MAX_PAGE = 500


# -- invoices ---------------------------------------------------------------------------

def _invoice_store(store: "ObjectStore"):
    from storage.invoices import InvoiceStore
    return InvoiceStore(store)


def _encode_cursor(key: tuple[str, str, int]) -> str:
    raw = f"{key[0]}\n{key[1]}\n{key[2]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str, int]:
    invalid = InputError("invalid cursor: pass back the next_cursor of the previous page")
    if not cursor or len(cursor) > 512:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        cid, period, version = raw.split("\n")
        return cid, period, int(version)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise invalid from None


def invoice_page(store: "ObjectStore", *, contract: str | None = None, period: str | None = None,
                 status: str | None = None, limit: int = 100,
                 cursor: str | None = None) -> dict[str, Any]:
    """Invoice versions, ordered by (contract, period, version), one page:
    ``{"data": [summary, ...], "next_cursor": str | None}``. ``status`` filters on the
    list status (``draft``, ``estimated``, ``approved``, ``superseded``)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if status is not None and status not in INVOICE_STATUSES:
        raise InputError(f"unknown invoice status {status!r}; one of {', '.join(INVOICE_STATUSES)}")
    inv = _invoice_store(store)
    keys = inv.list(contract_id=contract, period=period)
    after = _decode_cursor(cursor) if cursor else None
    data: list[dict[str, Any]] = []
    next_cursor = None
    for key in keys:
        if after is not None and key <= after:
            continue
        cid, p, v = key
        doc, _ = inv.get(cid, p, v)            # its status as read (storage.invoices)
        item = {"contract_id": cid, "period": p, "version": v, "status": doc["status"],
                "total_usd": doc["total_usd"], "adjusts": doc.get("adjusts"),
                "superseded_by": doc.get("superseded_by"), "approval": doc.get("approval")}
        if status is not None and item["status"] != status:
            continue
        if len(data) == limit:
            next_cursor = _encode_cursor(tuple(data[-1][k] for k in ("contract_id", "period",
                                                                     "version")))  # type: ignore[arg-type]
            break
        data.append(item)
    return {"data": data, "next_cursor": next_cursor}


def approve_invoice(store: "ObjectStore", contract: str, period: str, *, version: int | None,
                    approved_by: dict[str, Any], now_utc: datetime,
                    accept_estimated: bool = False) -> tuple[dict, bool]:
    """Approve the latest version (or ``version``, which must be the latest); returns
    ``(invoice document, created)``.

    Idempotent: a version that is already approved is returned as it is, with
    ``created`` False and its original approval record (who, when, from where), so a
    retried request never approves twice nor fails. ``approved_by`` is recorded in the
    approval: ``{"key_id", "role", "source"}`` (``source`` one of
    :data:`APPROVAL_SOURCES`; ``key_id`` None for a local ``m2c`` user)."""
    inv = _invoice_store(store)
    v = version if version is not None else (inv.versions(contract, period) or [None])[-1]
    if v is not None and inv.approval(contract, period, v) is not None:
        return inv.get(contract, period, v)[0], False
    try:
        v = inv.approve(contract, period, version=version, approved_by=approved_by,
                        now_utc=now_utc, accept_estimated=accept_estimated)
    except ConflictError:
        # lost a race with another approver of the same version: theirs is the record
        if v is None or inv.approval(contract, period, v) is None:
            raise
        return inv.get(contract, period, v)[0], False
    return inv.get(contract, period, v)[0], True


def explain_rows(doc: dict, detail: "pa.Table", line_id: str) -> "pa.Table":
    """The detail rows behind ``line_id`` (``<line>`` or ``<line>@v<N>``)."""
    import pyarrow.compute as pc
    known = [ln["line_id"] for ln in doc["lines"]]
    if line_id not in known:
        raise NotFoundError(f"invoice {doc['contract_id']} {doc['period']} v{doc['version']} has no "
                            f"line {line_id!r}; lines: {', '.join(known)}")
    base, _, ver = line_id.partition("@v")
    mask = pc.equal(detail.column("line_id"), base)
    if ver:
        mask = pc.and_(mask, pc.equal(detail.column("contract_version"), int(ver)))
    rows = detail.filter(mask)
    if rows.num_rows == 0:
        raise InputError(f"line {line_id} is a period-level charge (no interval rows); its "
                         f"determinants are in the line itself")
    return rows


def explain_line(store: "ObjectStore", contract: str, period: str, version: int | None,
                 line_id: str, fmt: str = "csv") -> tuple[bytes, int]:
    """The interval rows behind one invoice line as ``fmt`` bytes (CSV with a header,
    Parquet, or JSON ``{"columns", "rows"}``) and their count. Their amounts sum
    exactly to the line's unrounded amount."""
    if fmt not in EXPLAIN_FORMATS:
        raise InputError(f"explain format must be one of {', '.join(EXPLAIN_FORMATS)}, got {fmt!r}")
    inv = _invoice_store(store)
    doc, _ = inv.get(contract, period, version)
    rows = explain_rows(doc, inv.detail(contract, period, doc["version"]), line_id)
    buf = io.BytesIO()
    if fmt == "csv":
        import pyarrow.csv as pacsv
        pacsv.write_csv(rows, buf)
    elif fmt == "parquet":
        import pyarrow.parquet as pq
        pq.write_table(rows, buf)
    else:
        import json
        data = {"contract_id": contract, "period": period, "version": doc["version"],
                "line_id": line_id, "columns": rows.schema.names,
                "rows": [{k: _jsonable(v) for k, v in r.items()} for r in rows.to_pylist()]}
        buf.write(json.dumps(data, sort_keys=True).encode())
    return buf.getvalue(), rows.num_rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


# -- contracts --------------------------------------------------------------------------

def _contract_store(store: "ObjectStore"):
    from storage.contracts import ContractStore
    return ContractStore(store)


def contract_summaries(store: "ObjectStore") -> list[dict[str, Any]]:
    """Every contract with its latest version's term, sites and term kinds."""
    cs = _contract_store(store)
    out = []
    for cid in cs.contract_ids():
        versions = cs.versions(cid)
        cv = versions[-1].version
        out.append({"contract_id": cid, "versions": len(versions), "latest_version": cv.version,
                    "timezone": cv.timezone, "sites": list(cv.sites),
                    "term_start": str(cv.term_start), "term_end": str(cv.term_end),
                    "terms": [t.kind for t in cv.terms]})
    return out


def contract_view(store: "ObjectStore", contract_id: str, version: int | None = None) -> dict[str, Any]:
    """One stored version: ``{"contract_id", "version", "versions", "effective_from",
    "sha256", "document", "price_schedule"}``: the stored document (``contracts add``
    takes it without its ``version``, which the store assigns) and its price schedule by
    contract year (``engine.contract.price_schedule``)."""
    from engine.contract import price_schedule
    versions = _contract_store(store).versions(contract_id)
    pick = versions[-1] if version is None else next(
        (s for s in versions if s.version.version == version), None)
    if pick is None:
        raise NotFoundError(f"contract {contract_id} has versions "
                            f"{[s.version.version for s in versions]}; no version {version}")
    cv = pick.version
    return {"contract_id": cv.contract_id, "version": cv.version,
            "versions": [s.version.version for s in versions],
            "effective_from": str(cv.effective_from), "sha256": pick.sha256,
            "document": pick.document, "price_schedule": price_schedule(cv)}


def add_contract(store: "ObjectStore", doc: Any, *, source: str) -> tuple[dict[str, Any], bool]:
    """Validate ``doc`` against the schema and the site registry and store it as the
    contract's next version; a document identical to the latest version stores
    nothing. Returns ``(summary, created)``."""
    from storage.sites import load_sites as _load
    if not isinstance(doc, dict):
        raise InputError(f"{source}: a contract document is a mapping (an object), got "
                         f"{type(doc).__name__}")
    stored, created = _contract_store(store).add(doc, sites=_load(store), source=source)
    cv = stored.version
    return {"contract_id": cv.contract_id, "version": cv.version, "created": created,
            "effective_from": str(cv.effective_from), "sha256": stored.sha256}, created


# -- sites and VEE ----------------------------------------------------------------------

def sites_view(store: "ObjectStore") -> dict[str, Any]:
    """The registry: ``{"version": N | None, "sites": [...]}`` (the registry document)."""
    from engine.sites import sites_to_doc
    from storage.sites import load_sites as _load
    from storage.sites import registry_versions
    sites = _load(store)
    versions = registry_versions(store)
    return {"version": versions[-1] if versions else None, **sites_to_doc(sites)}


def load_sites(store: "ObjectStore", incoming: "dict[str, Site]") -> tuple[dict[str, Any], bool]:
    """Merge validated sites into the registry (new ids added, existing ids replaced
    whole); an identical set writes nothing. Returns ``({"status", "version", "added",
    "replaced"}, created)``."""
    from storage.sites import load_sites as _load
    from storage.sites import merge_sites, registry_versions
    current = _load(store)
    if current and all(current.get(sid) == site for sid, site in incoming.items()):
        return {"status": "unchanged", "version": registry_versions(store)[-1], "added": [],
                "replaced": []}, False
    version, added, replaced = merge_sites(store, incoming)
    return {"status": "saved", "version": version, "added": added, "replaced": replaced}, True


def vee_report(store: "ObjectStore", site_id: str, period: str, as_of: int | None = None) -> dict:
    """The VEE report of one site-month, exactly as a settlement of it would read and
    validate it (``jobs.settle_inputs.validate_site_month``)."""
    from engine.errors import UnknownReferenceError
    from engine.vee import report
    from jobs.settle_inputs import validate_site_month
    from storage.sites import load_sites as _load
    from storage.tables import Tables
    sites = _load(store)
    site = sites.get(site_id)
    if site is None:
        known = ", ".join(sorted(sites)) or "none; load a registry with `m2c sites load`"
        raise UnknownReferenceError(f"unknown site {site_id!r} (known: {known})")
    result = validate_site_month(Tables(store), site, period, as_of=as_of)
    return report(result, period=period)


# -- ingest -----------------------------------------------------------------------------

def ingest_files(store: "ObjectStore", table: str, paths: Sequence[Path], *,
                 file_format: str | None = None, now_utc: datetime) -> dict[str, Any]:
    """Ingest files into ``table`` (all or nothing: one commit, or nothing and an
    ``InputError`` naming file, line and field); the report as a document."""
    from storage import ingest
    if table not in INGEST_TABLES:
        raise InputError(f"unknown table {table!r}; one of {', '.join(INGEST_TABLES)}")
    if not paths:
        raise InputError("no file to ingest")
    from storage.sites import load_sites as _load
    if table == "meter":
        report = ingest.ingest_meter(store, list(paths), file_format, sites=_load(store),
                                     now_utc=now_utc)
    elif file_format is not None:
        raise InputError(f"--format applies to meter files only, not {table}")
    elif table == "prices":
        report = ingest.ingest_prices(store, list(paths), now_utc=now_utc)
    elif table == "index":
        report = ingest.ingest_index(store, list(paths), now_utc=now_utc)
    elif table == "awards":
        report = ingest.ingest_awards(store, list(paths), sites=_load(store), now_utc=now_utc)
    elif table == "grid_factors":
        report = ingest.ingest_grid_factors(store, list(paths), now_utc=now_utc)
    else:
        report = ingest.ingest_statements(store, list(paths), sites=_load(store), now_utc=now_utc)
    return report.to_dict()


# -- bankability results --------------------------------------------------------------
#: a bankability result's parts, by the format asked (``csv`` by part)
BANKABILITY_PARTS = {"json": "summary.json", "html": "report.html",
                     "cashflow": "p50_cashflow.csv", "paths": "paths.csv"}


def bankability_result(store: "ObjectStore", result_id: str, fmt: str = "json",
                       part: str = "cashflow") -> dict | str:
    """A published bankability run: its summary document (``json``), the printable
    report (``html``) or a CSV (``csv``: ``part`` cashflow or paths), each verified
    against the committed manifest. The CLI (locally) and ``GET /v1/bankability/{id}``
    serve exactly this."""
    from storage.results import ResultStore
    if fmt not in ("json", "html", "csv") or part not in ("cashflow", "paths"):
        raise InputError(f"unknown bankability format {fmt!r} / part {part!r}")
    results = ResultStore(store, "bankability")
    try:
        manifest = results.manifest(result_id)
    except NotFoundError:
        raise NotFoundError(f"no bankability result {result_id!r}") from None
    data = results.part(result_id, BANKABILITY_PARTS[part if fmt == "csv" else fmt], manifest)
    return json.loads(data) if fmt == "json" else data.decode()
# -- scenarios ---------------------------------------------------------------------------
def scenario_results(store: "ObjectStore") -> list[dict[str, Any]]:
    """Every stored scenario result (``jobs.scenario.list_results``)."""
    from jobs.scenario import list_results
    return list_results(store)


def scenario_result(store: "ObjectStore", result_id: str, fmt: str) -> dict[str, Any] | str:
    """One scenario result as ``json`` (summary with lineage), ``csv`` (the line table)
    or ``html`` (the report), verified against its manifest."""
    from jobs.scenario import result_view
    return result_view(store, result_id, fmt)
