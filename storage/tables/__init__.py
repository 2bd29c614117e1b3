"""Versioned tables ``meter``, ``prices`` and ``index`` on Delta Lake.

Layout (under the storage root; schemas in ``engine/schema.py``)::

    tables/meter/    partitioned by site_id, month   (month = SITE-LOCAL YYYY-MM)
    tables/prices/   partitioned by market_run, month (month = UTC YYYY-MM)
    tables/index/    partitioned by index

Conventions
-----------
* **One commit per write.** Every ingest is exactly one Delta commit, and one commit
  is one *data version* (the Delta version number, 0, 1, 2, ...). Every past version
  stays readable for audit and rebills: Delta time travel, and data files are only
  ever removed by ``m2c tables vacuum``, which keeps every version a lineage names.
* **Supersession inside the table.** For each key -- meter ``(site_id, channel,
  interval_start_utc)``, prices ``(iso, node, market_run, interval_start_utc)``, index
  ``(index, period_start)`` -- the row with the latest ``ingested_at_utc`` wins, ties
  broken by the larger ``source_sha256`` (deterministic whatever the file order). A
  write that supersedes rows rewrites the files holding them in the same commit
  (:mod:`.rewrite`), so the current files hold one row per key and every Delta reader
  (delta-rs, DuckDB, Spark, Polars) sees the corrected values; the superseded ones
  stay readable as of the versions that had them. Tables written before this
  (``delta.appendOnly``) keep their corrections as extra rows, dropped on read
  (:mod:`.merge`), until ``m2c tables optimize`` rewrites them.
* **As-of.** Every read takes ``as_of``: ``None`` (current version), an ``int``
  (that data version) or an aware ``datetime`` (the latest version committed at or
  before that instant). Reading as of version *N* sees exactly the rows of version
  *N*; a rebill pinned to *N* is reproducible for as long as *N* is kept.
* **Partition pruning.** Reads take the file list of the snapshot from the Delta log
  (cached per immutable version), keep the files of the partitions overlapping the
  request, and read those with pyarrow -- no listing of the bucket, no scan of
  other sites or months.

Concurrent writers are safe: a commit is a create-only put of the next log entry
(``conditional_put: etag`` on S3), made on top of the version it was planned on or
planned again (:mod:`.commit`).

Modules, one concern each; :class:`Tables` is the entry point to all of them:

==============  ====================================================================
``specs``       each table's schema, partition columns, key, encodings; month labels
``log``         the Delta log: versions, as-of, history, cached snapshots, unique keys
``append``      the one write entry: in place, or appended the old way
``rewrite``     supersession inside the table: plan which files a write rewrites
``datafiles``   sorted data files in the table's encodings; Delta add/remove actions
``commit``      one commit on top of its planned base, or planned again
``scan``        partition pruning and file reads (rows as stored)
``merge``       supersession: the latest row per key (dedupe, sort-free merge)
``readers``     typed reads: meter, prices, index, a partition, the inventory
==============  ====================================================================
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from ..objectstore import ObjectStore
from . import readers
from .append import LEGACY_CONFIGURATION, TABLE_CONFIGURATION, append_commit
from .log import DeltaLog, Snapshot
from .merge import TIEBREAK, dedupe_latest
from .scan import read_rows
from .specs import TABLES, TableSpec, table_spec, utc_month_labels


class Tables:
    """The versioned tables of one object store (see the package docstring).

    Cheap to build; pickles as its store, so Ray workers rebuild it. Snapshots (file
    lists per version) are cached in memory per instance (:class:`~.log.DeltaLog`).
    """

    def __init__(self, store: ObjectStore):
        self.store = store
        self.delta_log = DeltaLog(store)

    def __getstate__(self) -> dict:
        return {"store": self.store}

    def __setstate__(self, state: dict) -> None:
        self.store = state["store"]
        self.delta_log = DeltaLog(self.store)

    # -- the Delta log ----------------------------------------------------------------

    def uri(self, name: str) -> str:
        return self.delta_log.uri(name)

    def version(self, table: str) -> int | None:
        """The current data version of ``table``; None if nothing was ever written."""
        return self.delta_log.version(table)

    def resolve_as_of(self, table: str, as_of: int | datetime | None) -> int | None:
        """The data version an ``as_of`` designates: :meth:`.log.DeltaLog.resolve_as_of`."""
        return self.delta_log.resolve_as_of(table, as_of)

    def history(self, table: str) -> list[dict]:
        """Commits of ``table``, oldest first: :meth:`.log.DeltaLog.history`."""
        return self.delta_log.history(table)

    def _snapshot(self, name: str, version: int) -> Snapshot:
        """The file list of one version (tests and benches look at the stored files)."""
        return self.delta_log.snapshot(name, version)

    # -- writing ----------------------------------------------------------------------

    def append(self, table: str, data: pa.Table, *, metadata: dict[str, Any] | None = None) -> int:
        """Write ``data`` as ONE commit and return the new data version (new keys
        appended, superseded rows replaced in their files): :func:`.append.append_commit`."""
        return append_commit(self.delta_log, table, data, metadata=metadata)

    # -- reading (superseded rows dropped; see .readers) ------------------------------

    def read_meter(self, site_id: str, tz: str, start_us: int, end_us: int, *,
                   channels: list[str] | None = None, columns: list[str] | None = None,
                   dictionary: tuple[str, ...] = (),
                   as_of: int | datetime | None = None) -> pa.Table:
        """Meter rows of one site in ``[start, end)``: :func:`.readers.read_meter`."""
        return readers.read_meter(self.delta_log, site_id, tz, start_us, end_us,
                                  channels=channels, columns=columns, dictionary=dictionary,
                                  as_of=as_of)

    def meter_rows_cross(self, site_id: str, tz: str, start_us: int, boundary_us: int,
                         end_us: int, *, as_of: int | datetime | None = None) -> bool:
        """Could a meter row reach across ``boundary_us``? :func:`.readers.meter_rows_cross`."""
        return readers.meter_rows_cross(self.delta_log, site_id, tz, start_us, boundary_us,
                                        end_us, as_of=as_of)

    def read_prices(self, iso: str, node: str, market_run: str, start_us: int, end_us: int, *,
                    as_of: int | datetime | None = None) -> pa.Table:
        """Prices of one node and market run: :func:`.readers.read_prices`."""
        return readers.read_prices(self.delta_log, iso, node, market_run, start_us, end_us,
                                   as_of=as_of)

    def read_index(self, index: str, start: date, end: date, *,
                   as_of: int | datetime | None = None) -> pa.Table:
        """Values of one index: :func:`.readers.read_index`."""
        return readers.read_index(self.delta_log, index, start, end, as_of=as_of)

    def read_partition(self, table: str, partition: dict[str, str], *,
                       as_of: int | datetime | None = None,
                       time_range: tuple[int, int] | None = None) -> pa.Table:
        """All rows of one partition (within ``time_range``): :func:`.readers.read_partition`."""
        return readers.read_partition(self.delta_log, table, partition, as_of=as_of,
                                      time_range=time_range)

    def partitions(self, table: str, *,
                   as_of: int | datetime | None = None) -> list[tuple[str, ...]]:
        """Sorted distinct partition values of ``table``: :func:`.readers.partitions`."""
        return readers.partitions(self.delta_log, table, as_of=as_of)

    def meter_partitions(self, *, as_of: int | datetime | None = None) -> list[tuple[str, str]]:
        """``(site_id, local month)`` inventory of the meter table (from the log)."""
        return self.partitions("meter", as_of=as_of)  # type: ignore[return-value]

    def _read(self, name: str, version: int, partitions: dict[str, list[str]],
              row_filter: ds.Expression | None, *,
              time_range: tuple[int, int] | None = None) -> tuple[pa.Table, int]:
        """The rows of the selected files before supersession, and the number of files
        (tests compare the readers with this): :func:`.scan.read_rows`."""
        return read_rows(self.delta_log, name, version, partitions, row_filter,
                         time_range=time_range)


__all__ = ["Tables", "TableSpec", "TABLES", "table_spec", "dedupe_latest", "utc_month_labels",
           "TIEBREAK", "TABLE_CONFIGURATION", "LEGACY_CONFIGURATION"]
