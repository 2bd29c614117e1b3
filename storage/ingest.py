"""Ingest: files -> validated canonical rows -> one Delta commit per call.

Rules (one call of ``ingest_meter`` / ``ingest_prices`` / ``ingest_index`` / ... /
``ingest_grid_factors``):

1. **All or nothing.** Every file of the call is read and validated first (format,
   values, and for meter data the site registry: unknown site or channel ->
   ``UnknownReferenceError`` naming file, line and field; an interval's energy above
   ``engine.units.NAMEPLATE_TOLERANCE`` x the channel's nameplate energy ->
   ``ValidationError``). A file with ANY bad row rejects the whole call: the error is
   raised and nothing is written.
2. **One commit.** The rows that change something are appended in ONE Delta commit,
   which is the new data version (``storage.tables``).
3. **Idempotent by content.** Each file is identified by the SHA-256 of its bytes. A
   create-only object ``ingest-log/<table>/<sha256>.json`` records the version it
   landed in; the same file again adds nothing and reports "already ingested at
   version N". The log entry is written after the commit: if a process dies in
   between, re-ingesting the file finds every row ``unchanged``, appends nothing and
   writes the log entry then -- the log is a shortcut, the data stay correct without it.
4. **Supersession stats.** Each row's key is looked up in the current data:
   ``unchanged`` (same key, identical payload -- value, quality, method, interval
   length -- not re-written), ``superseded`` (same key, different payload: it wins
   because it is the latest ingest, and the commit rewrites the file holding the
   row it replaces, so every Delta reader sees it: ``storage.tables.rewrite``; on a
   table written the old way it is appended and wins on read), ``new`` (key not
   present: appended). Two concurrent ingests may both count a row as new; the
   commit of the second is planned again on top of the first, so the table still
   holds one row per key.
5. **Provenance.** Stored rows carry ``source_file`` (base name), ``source_sha256``
   and ``ingested_at_utc`` = ``now_utc`` passed in by the entry point (the clock is
   never read here). Meter rows get the partition ``month`` = SITE-LOCAL month
   (the site's zone); prices the UTC month.

The same key twice inside one call (in one file or across files) is a
``ValidationError``: ingest such files in separate calls, in the order meant.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import InputError, UnknownReferenceError, ValidationError
from engine.schema import UTC_TS
from engine.sites import Site
from engine.timebase import ALLOWED_INTERVAL_MINUTES, local_month_labels, to_us
from engine.units import NAMEPLATE_TOLERANCE, max_interval_wh

from .keys import duplicate_pair
from .objectstore import ObjectStore
from .readers.canonical import (kwh_text, read_index_csv, read_meter_csv, read_meter_parquet,
                                read_prices_csv)
from .readers.nem12 import NEM_UTC_OFFSET_US, looks_like_nem12, read_nem12
from .readers.rows import ReadResult
from .tables import Tables, table_spec, utc_month_labels

log = logging.getLogger(__name__)

METER_FORMATS = ("csv", "parquet", "nem12")
#: payload columns compared to tell "unchanged" from "superseded"
PAYLOAD = {
    "meter": ("interval_minutes", "energy_wh", "quality", "method"),
    "prices": ("interval_minutes", "lmp_microusd_per_mwh", "energy_microusd_per_mwh",
               "congestion_microusd_per_mwh", "loss_microusd_per_mwh"),
    "index": ("value_micro", "unit"),
    "awards": ("interval_minutes", "power_w", "price_microusd_per_mwh"),
    "statements": ("version_rank", "operating_date", "interval_minutes", "energy_wh",
                   "price_microusd_per_mwh", "amount_microusd"),
    "grid_factors": ("interval_minutes", "co2e_mg_per_mwh", "residual_co2e_mg_per_mwh", "cfe_ppm", "source"),
}


@dataclass
class FileReport:
    """Outcome for one input file. ``status``: ``ingested`` (rows appended in this
    call's version), ``unchanged`` (every row already current), ``already ingested``
    (same bytes ingested before, at ``version``), ``duplicate`` (same bytes given
    twice in this call)."""
    name: str
    sha256: str
    status: str
    rows: int = 0
    rows_new: int = 0
    rows_superseded: int = 0
    rows_unchanged: int = 0
    version: int | None = None
    format: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        if self.status == "already ingested":
            return f"already ingested at version {self.version}"
        return self.status


@dataclass
class IngestReport:
    """Outcome of one ingest call. ``version`` is the new data version, or the current
    one when nothing was written (``written`` False). ``rows_rejected`` is 0 in any
    report: a bad row rejects its file and the call raises before writing."""
    table: str
    files: list[FileReport]
    rows_new: int = 0
    rows_superseded: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    version: int | None = None
    written: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        for f, fd in zip(self.files, d["files"]):
            fd["message"] = f.message
        return d


# -- public entry points ---------------------------------------------------------------

def ingest_meter(store: ObjectStore, paths: Sequence[Path], fmt: str | None, *,
                 sites: dict[str, Site], now_utc: datetime) -> IngestReport:
    """Ingest meter interval files (canonical CSV/Parquet or NEM12; ``fmt`` None =
    detect: a leading ``100,`` record is NEM12, else by extension)."""
    if fmt is not None and fmt not in METER_FORMATS:
        raise InputError(f"unknown meter format {fmt!r}; use one of {', '.join(METER_FORMATS)}")

    def read(data: bytes, path: Path) -> ReadResult:
        kind = fmt or _detect_meter_format(data, path)
        reader = {"csv": read_meter_csv, "parquet": read_meter_parquet, "nem12": read_nem12}[kind]
        result = reader(data, str(path))
        _check_references(result, str(path), sites)
        _check_nameplates(result, str(path), sites)
        return result

    def month(rows: pa.Table) -> pa.Array:
        return _local_months(rows, sites)

    return _ingest(store, "meter", paths, read, month, now_utc)


def ingest_prices(store: ObjectStore, paths: Sequence[Path], *, now_utc: datetime) -> IngestReport:
    """Ingest market price CSV files (see ``storage.readers.canonical``)."""
    return _ingest(store, "prices", paths, lambda data, p: read_prices_csv(data, str(p)),
                   lambda rows: pa.array(utc_month_labels(_us(rows)), pa.string()), now_utc)


def ingest_index(store: ObjectStore, paths: Sequence[Path], *, now_utc: datetime) -> IngestReport:
    """Ingest fuel/price index CSV files (see ``storage.readers.canonical``)."""
    return _ingest(store, "index", paths, lambda data, p: read_index_csv(data, str(p)),
                   None, now_utc)


def ingest_awards(store: ObjectStore, paths: Sequence[Path], *, sites: dict[str, Site],
                  now_utc: datetime) -> IngestReport:
    """Ingest ISO award CSV files (``storage.readers.awards``); every resource must be
    declared for its ISO in the site registry's ``market.resources``."""
    from .readers.awards import read_awards_csv

    def read(data: bytes, path: Path) -> ReadResult:
        result = read_awards_csv(data, str(path))
        _check_resources(result, str(path), sites)
        return result
    return _ingest(store, "awards", paths, read,
                   lambda rows: pa.array(utc_month_labels(_us(rows)), pa.string()), now_utc)


def ingest_statements(store: ObjectStore, paths: Sequence[Path], *, sites: dict[str, Site],
                      now_utc: datetime) -> IngestReport:
    """Ingest ISO settlement statements: the canonical CSV (``storage.readers.statements``)
    or ERCOT's settlement extract layout (``storage.readers.ercot_extract``, detected by
    its header). Every resource must be declared for its ISO in the site registry."""
    from .readers.ercot_extract import looks_like_ercot_extract, read_ercot_extract
    from .readers.statements import read_statements_csv

    def read(data: bytes, path: Path) -> ReadResult:
        reader = read_ercot_extract if looks_like_ercot_extract(data) else read_statements_csv
        result = reader(data, str(path))
        _check_resources(result, str(path), sites)
        return result

    def month(rows: pa.Table) -> pa.Array:
        days = rows.column("operating_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        months = days.astype("datetime64[D]").astype("datetime64[M]")
        uniq, inv = np.unique(months, return_inverse=True)
        return pa.array(np.array([str(m) for m in uniq], dtype=object)[inv], pa.string())
    return _ingest(store, "statements", paths, read, month, now_utc)


def ingest_grid_factors(store: ObjectStore, paths: Sequence[Path], *, now_utc: datetime) -> IngestReport:
    """Ingest hourly grid-factor CSV files (``storage.readers.grid_factors``): per
    balancing authority and UTC hour, the location-based factor, the residual mix and the
    carbon-free share. Partitioned by balancing authority and UTC month."""
    from .readers.grid_factors import read_grid_factors_csv
    return _ingest(store, "grid_factors", paths, lambda data, p: read_grid_factors_csv(data, str(p)),
                   lambda rows: pa.array(utc_month_labels(_us(rows)), pa.string()), now_utc)


def _check_resources(result: ReadResult, name: str, sites: dict[str, Site]) -> None:
    """Every (iso, resource_id) of the file must be a resource of the site registry."""
    from engine.market.resources import resource_index
    known = resource_index(sites)
    t = result.table
    pairs = pa.table({"i": t.column("iso"), "r": t.column("resource_id"),
                      "line": t.column("line")}).group_by(["i", "r"]).aggregate([("line", "min")])
    bad = sorted((line, iso, rid) for iso, rid, line in zip(
        *(pairs.column(k).to_pylist() for k in ("i", "r", "line_min"))) if (iso, rid) not in known)
    if bad:
        line, iso, rid = bad[0]
        have = sorted(r for i, r in known if i == iso)
        more = f" (and {len(bad) - 1} more unknown resource(s))" if len(bad) > 1 else ""
        fld = "RESOURCENAME" if result.format == "ercot-extract" else "resource_id"
        raise UnknownReferenceError(
            f"{name}:{line}: field '{fld}': unknown resource {rid!r} of {iso}: not in the site "
            f"registry's market.resources ({', '.join(have) or 'none declared'}){more}")


def ingest_log_key(table: str, sha256: str) -> str:
    return f"ingest-log/{table}/{sha256}.json"


# -- the common path -------------------------------------------------------------------

def _ingest(store: ObjectStore, table: str, paths: Sequence[Path],
            read: Callable[[bytes, Path], ReadResult],
            month: Callable[[pa.Table], pa.Array] | None, now_utc: datetime) -> IngestReport:
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    if not paths:
        raise InputError("no input files given")
    spec = table_spec(table)
    tables = Tables(store)
    reports: list[FileReport] = []
    batches: list[pa.Table] = []
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read the file: {exc.strerror or exc}") from None
        sha = hashlib.sha256(data).hexdigest()
        rep = FileReport(name=path.name, sha256=sha, status="")
        reports.append(rep)
        if sha in seen:
            rep.status, rep.notes = "duplicate", [f"same content as {seen[sha]} in this call"]
            continue
        seen[sha] = str(path)
        logged = store.get_or_none(ingest_log_key(table, sha))
        if logged is not None:
            entry = json.loads(logged)
            rep.status, rep.version, rep.rows = "already ingested", entry.get("version"), entry.get("rows", 0)
            continue
        result = read(data, path)
        rep.format, rep.notes, rep.rows = result.format, result.notes, result.table.num_rows
        rows = result.table.append_column("_file", pa.array(np.full(result.table.num_rows,
                                                                     len(reports) - 1, np.int32)))
        rows = _add_provenance(rows, path.name, sha, now_utc)
        if month is not None:
            rows = rows.append_column("month", month(rows))
        batches.append(rows)

    report = IngestReport(table=table, files=reports)
    if not batches:
        report.version = tables.version(table)
        return report
    incoming = pa.concat_tables(batches).combine_chunks() if len(batches) > 1 else batches[0]
    if len(batches) > 1:
        _check_unique_across_files(incoming, spec.key, reports)
    classes = _classify(tables, table, incoming)
    for i, rep in enumerate(reports):
        if rep.status:
            continue
        mine = pc.equal(incoming.column("_file"), i)
        rep.rows_new = int(pc.sum(pc.and_(mine, pc.equal(classes, 0))).as_py() or 0)
        rep.rows_superseded = int(pc.sum(pc.and_(mine, pc.equal(classes, 1))).as_py() or 0)
        rep.rows_unchanged = int(pc.sum(pc.and_(mine, pc.equal(classes, 2))).as_py() or 0)
        report.rows_new += rep.rows_new
        report.rows_superseded += rep.rows_superseded
        report.rows_unchanged += rep.rows_unchanged
    to_write = incoming.filter(pc.less(classes, 2))
    processed = [r for r in reports if not r.status]
    if to_write.num_rows:
        meta = {"operation": "ingest", "table": table,
                "ingested_at_utc": now_utc.isoformat(),
                "files": [{"name": r.name, "sha256": r.sha256, "rows": r.rows, "format": r.format}
                          for r in processed],
                "rows_new": report.rows_new, "rows_superseded": report.rows_superseded}
        report.version = tables.append(table, to_write.select(spec.schema.names), metadata=meta)
        report.written = True
    else:
        report.version = tables.version(table)
    for r in processed:
        r.status = "ingested" if (r.rows_new or r.rows_superseded) else "unchanged"
        r.version = report.version
        entry = {"table": table, "sha256": r.sha256, "file": r.name, "version": report.version,
                 "rows": r.rows, "rows_new": r.rows_new, "rows_superseded": r.rows_superseded,
                 "rows_unchanged": r.rows_unchanged, "ingested_at_utc": now_utc.isoformat()}
        store.put_if_absent(ingest_log_key(table, r.sha256),
                            json.dumps(entry, sort_keys=True).encode())
    log.info("ingest %s: %d new, %d superseded, %d unchanged -> version %s", table,
             report.rows_new, report.rows_superseded, report.rows_unchanged, report.version)
    return report


def _add_provenance(rows: pa.Table, name: str, sha: str, now_utc: datetime) -> pa.Table:
    n = rows.num_rows
    rows = rows.append_column("source_file", pa.repeat(pa.scalar(name, pa.string()), n))
    rows = rows.append_column("source_sha256", pa.repeat(pa.scalar(sha, pa.string()), n))
    return rows.append_column("ingested_at_utc", pa.repeat(pa.scalar(to_us(now_utc), UTC_TS), n))


def _us(rows: pa.Table) -> np.ndarray:
    return rows.column("interval_start_utc").cast(pa.int64()).to_numpy()


def _local_months(rows: pa.Table, sites: dict[str, Site]) -> pa.Array:
    """Site-local ``YYYY-MM`` of each row's interval start (vectorised per site)."""
    site_col = rows.column("site_id")
    ts = _us(rows)
    out = np.empty(rows.num_rows, dtype=object)
    for sid in pc.unique(site_col).to_pylist():
        mask = pc.equal(site_col, sid).to_numpy(zero_copy_only=False)
        out[mask] = local_month_labels(ts[mask], sites[sid].timezone)
    return pa.array(out, pa.string())


def _detect_meter_format(data: bytes, path: Path) -> str:
    if looks_like_nem12(data):
        return "nem12"
    ext = path.suffix.lower()
    if ext in (".parquet", ".pq") or data[:4] == b"PAR1":
        return "parquet"
    if ext in (".csv", ".txt", ".tsv"):
        return "csv"
    raise InputError(f"{path}: cannot tell the file format from its name or content; "
                     f"pass --format {'|'.join(METER_FORMATS)}")


def _check_references(result: ReadResult, name: str, sites: dict[str, Site]) -> None:
    """Every (site, channel) of the file must be in the registry."""
    t = result.table
    nem = result.format == "nem12"
    site_field, channel_field = ("NMI", "NMISuffix") if nem else ("site_id", "channel")
    pairs = pa.table({"s": t.column("site_id"), "c": t.column("channel"),
                      "line": t.column("line")}).group_by(["s", "c"]).aggregate([("line", "min")])
    problems = []
    for s, c, line in zip(*(pairs.column(k).to_pylist() for k in ("s", "c", "line_min"))):
        line = result.reference_lines.get((s, c), line)
        site = sites.get(s)
        if site is None:
            problems.append((line, site_field, f"unknown site {s!r}: not in the site registry "
                             f"(add it with `m2c sites load`)"))
        elif c not in site.channels:
            problems.append((line, channel_field, f"unknown channel {c!r} of site {s!r}; the "
                             f"registry has {', '.join(sorted(site.channels))}"))
    if problems:
        line, fld, msg = min(problems)
        more = f" (and {len(problems) - 1} more unknown reference(s))" if len(problems) > 1 else ""
        raise UnknownReferenceError(f"{name}:{line}: field '{fld}': {msg}{more}")


def _check_nameplates(result: ReadResult, name: str, sites: dict[str, Site]) -> None:
    """No interval above ``NAMEPLATE_TOLERANCE`` x its channel's nameplate energy
    (channels with a ``nameplate_kw`` in the registry; the readers already applied the
    absolute bound to every channel)."""
    t = result.table
    rated = {(sid, ch): c.nameplate_kw for sid, site in sites.items()
             for ch, c in site.channels.items() if c.nameplate_kw is not None}
    if not rated or t.num_rows == 0:
        return
    pairs = t.select(["site_id", "channel"]).group_by(["site_id", "channel"]).aggregate([])
    wh = t.column("energy_wh").to_numpy()
    minutes = t.column("interval_minutes").to_numpy().astype(np.int64)
    worst: tuple[int, int] | None = None                   # (line, row) of the first excess
    for sid, ch in zip(pairs.column("site_id").to_pylist(), pairs.column("channel").to_pylist()):
        npk = rated.get((sid, ch))
        if npk is None:
            continue
        mask = pc.and_(pc.equal(t.column("site_id"), sid),
                       pc.equal(t.column("channel"), ch)).to_numpy(zero_copy_only=False)
        limit_by_minutes = np.zeros(max(ALLOWED_INTERVAL_MINUTES) + 1, dtype=np.int64)
        for m in ALLOWED_INTERVAL_MINUTES:
            limit_by_minutes[m] = max_interval_wh(m, npk)
        over = np.flatnonzero(wh[mask] > limit_by_minutes[minutes[mask]])
        if over.size:
            row = int(np.flatnonzero(mask)[over[0]])
            line = int(t.column("line")[row].as_py())
            worst = min(worst or (line, row), (line, row))
    if worst is None:
        return
    line, row = worst
    sid, ch = t.column("site_id")[row].as_py(), t.column("channel")[row].as_py()
    m, e = int(minutes[row]), int(wh[row])
    npk = rated[(sid, ch)]
    limit_wh = max_interval_wh(m, npk)
    if result.format == "nem12":
        day_us = 24 * 60 * 60 * 1_000_000
        start = t.column("interval_start_utc").cast(pa.int64())[row].as_py()
        fld = f"IntervalValue{(start + NEM_UTC_OFFSET_US) % day_us // (m * 60_000_000) + 1}"
    else:
        fld = "kwh"
    raise ValidationError(
        f"{kwh_text(e)} kWh in {m} minutes on site {sid} channel {ch} is above "
        f"{NAMEPLATE_TOLERANCE} x its nameplate ({npk:g} kW: at most {kwh_text(limit_wh)} kWh "
        "per interval); check the unit and the meter multiplier, or the registry's "
        "nameplate_kw", file=name, line=line, field=fld)


def _check_unique_across_files(incoming: pa.Table, key: tuple[str, ...],
                               reports: list[FileReport]) -> None:
    pair = duplicate_pair(incoming, list(key))
    if pair is None:
        return
    a, b = pair
    fa, fb = (reports[incoming.column("_file")[i].as_py()].name for i in (a, b))
    la, lb = (incoming.column("line")[i].as_py() for i in (a, b))
    desc = ", ".join(f"{k}={incoming.column(k)[a].as_py()}" for k in key)
    raise ValidationError(f"the same key ({desc}) is in {fa} line {la} and {fb} line {lb}; "
                          "ingest these files in separate calls, in the order meant",
                          file=fb, line=lb, field=key[-1])


def _classify(tables: Tables, table: str, incoming: pa.Table) -> pa.Array:
    """Per incoming row: 0 new, 1 superseded (value differs), 2 unchanged (identical)."""
    spec = table_spec(table)
    payload = PAYLOAD[table]
    n = incoming.num_rows
    if tables.version(table) is None:
        return pa.array(np.zeros(n, np.int8))
    part_cols = list(spec.partition_by)
    parts = incoming.select(part_cols).group_by(part_cols).aggregate([])
    # only stored rows at the incoming instants can share a key with them: files whose
    # log statistics lie outside are not read (new intervals after the stored ones: none)
    span = None
    if "interval_start_utc" in spec.key and n:
        t = _us(incoming)
        span = (int(t.min()), int(t.max()) + 1)
    current = []
    for values in zip(*(parts.column(c).to_pylist() for c in part_cols)):
        cur = tables.read_partition(table, dict(zip(part_cols, values)), time_range=span)
        if cur.num_rows:
            current.append(cur.select([*spec.key, *payload]))
    if not current:
        return pa.array(np.zeros(n, np.int8))
    cur = pa.concat_tables(current)
    cur = cur.rename_columns([*spec.key, *(f"_cur_{p}" for p in payload)])
    cur = cur.append_column("_found", pa.array(np.ones(cur.num_rows, np.int8)))
    left = incoming.select([*spec.key, *payload]).append_column(
        "_row", pa.array(np.arange(n, dtype=np.int64)))
    joined = left.join(cur, keys=list(spec.key), join_type="left outer")
    found = pc.fill_null(joined.column("_found"), 0)
    same = pa.array(np.ones(joined.num_rows, bool))
    for p in payload:
        a, b = joined.column(p), joined.column(f"_cur_{p}")
        eq = pc.or_kleene(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b)))
        same = pc.and_(same, pc.fill_null(eq, False))
    cls = pc.if_else(pc.equal(found, 0), 0, pc.if_else(same, 2, 1))
    out = np.zeros(n, np.int8)
    out[joined.column("_row").to_numpy()] = cls.to_numpy(zero_copy_only=False).astype(np.int8)
    return pa.array(out)


__all__ = ["ingest_meter", "ingest_prices", "ingest_index", "ingest_awards", "ingest_statements",
           "ingest_grid_factors",
           "IngestReport", "FileReport",
           "ingest_log_key", "METER_FORMATS"]
