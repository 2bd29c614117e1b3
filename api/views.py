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

import io
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConflictError, InputError, NotFoundError

if TYPE_CHECKING:  # pragma: no cover
    from datetime import date

    import pyarrow as pa

    from jobs.invoice_index import InvoiceIndex

    from engine.sites import Site
    from storage.objectstore import ObjectStore

__all__ = [
    "INVOICE_STATUSES", "EXPLAIN_FORMATS", "INGEST_TABLES", "APPROVAL_SOURCES",
    "invoice_page", "approve_invoice", "explain_line", "explain_rows", "invoice_file", "INVOICE_FILES",
    "contract_summaries", "contract_view", "add_contract",
    "sites_view", "load_sites", "vee_report", "ingest_files",
    "MARKET_ISOS", "MAX_SYNC_SHADOW_DAYS", "tolerance_microusd", "market_rules", "market_shadow",
    "market_reconcile", "market_chain",
]

INVOICE_STATUSES = ("draft", "estimated", "approved", "superseded")
EXPLAIN_FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json",
                   "parquet": "application/vnd.apache.parquet"}
INGEST_TABLES = ("meter", "prices", "index", "awards", "statements", "grid_factors")
#: where an approval came from: the ``m2c`` command (locally or with ``--api``), a
#: direct HTTP call, or the web console
APPROVAL_SOURCES = ("cli", "api", "console")
MAX_PAGE = 500

logger = logging.getLogger(__name__)


# -- invoices ---------------------------------------------------------------------------

def _invoice_store(store: "ObjectStore"):
    from storage.invoices import InvoiceStore
    return InvoiceStore(store)


def _encode_cursor(key: tuple[str, str, int]) -> str:
    from jobs.invoice_index import encode_cursor
    return encode_cursor(key)


def _decode_cursor(cursor: str) -> tuple[str, str, int]:
    from jobs.invoice_index import decode_cursor
    return decode_cursor(cursor)


def invoice_page(store: "ObjectStore", *, contract: str | None = None, period: str | None = None,
                 status: str | None = None, limit: int = 100, cursor: str | None = None,
                 index: "InvoiceIndex | None" = None, now_utc: datetime | None = None
                 ) -> dict[str, Any]:
    """Invoice versions, ordered by (contract, period, version), one page:
    ``{"data": [summary, ...], "next_cursor": str | None}``. ``status`` filters on the
    list status (``draft``, ``estimated``, ``approved``, ``superseded``).

    With the catalog's ``index`` (``jobs.invoice_index``: the API and the local CLI
    pass it) one indexed query answers, whatever the number of invoices; an index
    never built for this store is built first, once (``now_utc`` dates it). Without,
    the store is walked (every key listed, every document read)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    if status is not None and status not in INVOICE_STATUSES:
        raise InputError(f"unknown invoice status {status!r}; one of {', '.join(INVOICE_STATUSES)}")
    if contract is not None:
        from engine.ids import check_id
        check_id(contract, field="contract")
    if index is not None:
        if not index.built():
            from engine.timebase import to_us
            index.rebuild(store, now_us=to_us(now_utc) if now_utc is not None else 0)
        return index.page(contract=contract, period=period, status=status, limit=limit,
                          cursor=cursor)
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
        issue = doc.get("issue") or {}
        item = {"contract_id": cid, "period": p, "version": v, "status": doc["status"],
                "total_usd": doc["total_usd"], "adjusts": doc.get("adjusts"),
                "superseded_by": doc.get("superseded_by"), "approval": doc.get("approval"),
                "invoice_number": doc.get("invoice_number"), "issue_date": issue.get("issue_date"),
                "due_date": issue.get("due_date")}
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
                    accept_estimated: bool = False,
                    index: "InvoiceIndex | None" = None) -> tuple[dict, bool]:
    """Approve the latest version (or ``version``, which must be the latest); returns
    ``(invoice document, created)``.

    Idempotent: a version that is already approved is returned as it is, with
    ``created`` False and its original approval record (who, when, from where), so a
    retried request never approves twice nor fails. ``approved_by`` is recorded in the
    approval: ``{"key_id", "label", "role", "source"}`` (the key's owner: its id and
    label; ``source`` one of :data:`APPROVAL_SOURCES`; ``key_id`` None and ``user`` the
    OS user for a local ``m2c`` user). A new approval goes to the ``index`` with its
    ``invoice.approved`` event (a failure there is logged: the approval stands)."""
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
    doc = inv.get(contract, period, v)[0]
    if index is not None:
        from engine.timebase import to_us
        try:
            index.approved(doc, now_us=to_us(now_utc))
        except Exception:
            logger.exception("invoice %s %s v%s approved, but the invoice index was not updated; "
                             "run `m2c invoices reindex`", contract, period, v)
    return doc, True


#: the files an invoice version downloads as (``invoice_file``)
INVOICE_FILES = {"json": "application/json", "html": "text/html; charset=utf-8",
                 "pdf": "application/pdf", "csv": "text/csv; charset=utf-8"}


def invoice_file(store: "ObjectStore", contract: str, period: str, version: int | None,
                 fmt: str) -> tuple[bytes, str, str]:
    """One invoice version as a file: ``(bytes, media type, file name)``.

    ``json``: the stored ``invoice.json`` exactly (its SHA-256 is the one the invoice
    prints); ``html``: the page as read (status, approval); ``pdf``: that page rendered
    by WeasyPrint in the shipped fonts (``api.console.pdf``); ``csv``: the journal entry
    of its lines (``engine.invoice.journal_csv``)."""
    import hashlib
    if fmt not in INVOICE_FILES:
        raise InputError(f"invoice format must be one of {', '.join(INVOICE_FILES)}, got {fmt!r}")
    inv = _invoice_store(store)
    doc, page = inv.get(contract, period, version)
    raw = inv.raw_json(contract, period, doc["version"])
    name = (doc.get("invoice_number") or f"{contract}_{period}_v{doc['version']}") + f".{fmt}"
    if fmt == "json":
        return raw, INVOICE_FILES[fmt], name
    sha = hashlib.sha256(raw).hexdigest()
    if fmt == "csv":
        from engine.invoice import journal_csv
        return journal_csv(doc, document_sha256=sha).encode(), INVOICE_FILES[fmt], name
    from engine.invoice import render_html
    page = render_html(doc, document_sha256=sha)
    if fmt == "html":
        return page.encode(), INVOICE_FILES[fmt], name
    from .console.pdf import html_to_pdf
    return html_to_pdf(page), INVOICE_FILES[fmt], name


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


# -- ISO markets ------------------------------------------------------------------------

MARKET_ISOS = ("ERCOT", "PJM", "CAISO")
#: the longest range the API shadow-settles within a request (one resource); longer
#: ranges, and several resources, are a ``shadow_settlement`` job on the Ray pool
MAX_SYNC_SHADOW_DAYS = 93


def tolerance_microusd(text: str) -> int:
    """A per-line tolerance in USD (``"0.01"``) as micro-USD (half-even beyond 1e-6)."""
    from decimal import Decimal, InvalidOperation
    try:
        v = Decimal(str(text).strip())
    except InvalidOperation:
        raise InputError(f"tolerance: not an amount in USD: {text!r}") from None
    if not v.is_finite() or v < 0 or v > 10**9:
        raise InputError(f"tolerance must be between 0 and 1e9 USD, got {text}")
    return int((v * 10**6).to_integral_value())


def _iso(iso: str) -> str:
    if iso not in MARKET_ISOS:
        raise InputError(f"unknown ISO {iso!r}; one of {', '.join(MARKET_ISOS)}")
    return iso


def market_rules(iso: str) -> list[dict[str, Any]]:
    """The rule modules of ``iso``: charge types, operating-date range, source, and
    whether the formula was confirmed from a source read (``engine.market.rules``)."""
    from engine.market.rules import describe
    return describe(_iso(iso))


def market_shadow(store: "ObjectStore", iso: str, resource_id: str, first_day: "date",
                  last_day: "date", *, lines: bool = False,
                  max_days: int | None = None) -> dict[str, Any]:
    """Shadow-settle one resource over operating days in this process: totals per
    charge type, totals per day and charge type, and every line if ``lines`` (else
    their count). ``max_days`` bounds the range (the API's synchronous limit)."""
    import pyarrow.compute as pc

    from engine.market.report import shadow_rows
    from engine.market.shadow import totals
    from engine.money import cents_to_str
    from jobs.market import shadow_in_process
    days = (last_day - first_day).days + 1
    if max_days is not None and days > max_days:
        raise InputError(f"{days} operating days: at most {max_days} are shadow-settled within a "
                         "request; run a shadow_settlement job for longer ranges (m2c market "
                         "shadow --job)")
    table, versions = shadow_in_process(store, _iso(iso), resource_id, first_day, last_day)
    g = table.group_by(["operating_date", "charge_type"]).aggregate([("amount_cents", "sum")])
    order = pc.sort_indices(g, sort_keys=[("operating_date", "ascending"),
                                          ("charge_type", "ascending")])
    g = g.take(order)
    daily = [{"operating_date": d.isoformat(), "charge_type": c, "amount_usd": cents_to_str(v)}
             for d, c, v in zip(g.column("operating_date").to_pylist(),
                                g.column("charge_type").to_pylist(),
                                g.column("amount_cents_sum").to_pylist())]
    return {"iso": iso, "resource_id": resource_id, "from_date": first_day.isoformat(),
            "to_date": last_day.isoformat(), "data_versions": versions.to_dict(),
            "totals_usd": {k: cents_to_str(v) for k, v in totals(table).items()},
            "lines": shadow_rows(table) if lines else table.num_rows, "daily": daily}


def market_reconcile(store: "ObjectStore", statement_id: str, *, version: str | None = None,
                     tolerance_usd: str = "0.01", all_lines: bool = False) -> dict[str, Any]:
    """The dispute report of a stored statement version against the shadow settlement:
    totals per charge type, the mismatching lines (every line with ``all_lines``) with
    both sides' determinants, and the changes against the version it replaces."""
    from engine.market.reconcile import delta_totals, mismatches
    from engine.market.report import delta_rows, reconcile_rows, summary_rows, usd_micro
    from jobs.market import reconcile_statement
    try:
        res = reconcile_statement(store, statement_id, version=version,
                                  tolerance_microusd=tolerance_microusd(tolerance_usd))
    except ValueError as exc:                      # an unknown version of the statement
        raise InputError(str(exc)) from None
    rec = res["reconcile"]
    deltas = res["deltas"]
    return {"statement_id": res["statement_id"], "iso": res["iso"], "version": res["version"],
            "previous_version": res["previous_version"], "versions": res["versions"],
            "first_day": res["first_day"].isoformat(), "last_day": res["last_day"].isoformat(),
            "resources": res["resources"], "tolerance_usd": usd_micro(res["tolerance_microusd"]),
            "data_versions": res["data_versions"], "totals": summary_rows(res["summary"]),
            "mismatches": res["summary"]["total"]["mismatches"], "all_lines": all_lines,
            "lines": reconcile_rows(rec if all_lines else mismatches(rec)),
            "version_deltas": delta_rows(deltas) if deltas is not None else [],
            "version_delta_totals": ({k: {c: usd_micro(x) for c, x in v.items()}
                                      for k, v in delta_totals(deltas).items()}
                                     if deltas is not None else {})}


def market_chain(store: "ObjectStore", site_id: str, period: str, *,
                 intervals: bool = False) -> dict[str, Any]:
    """The bid-to-bill chain of a site over a billing month (``jobs.bidtobill``)."""
    from jobs.bidtobill import chain_in_process
    return chain_in_process(store, site_id, period, intervals=intervals)


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
