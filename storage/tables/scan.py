"""Partition pruning and file reads: the rows of the data files of one table version
that a request can touch, as stored (superseded rows included; :mod:`.merge` drops them).

Files are chosen from the version's file list in the Delta log (:class:`.log.Snapshot`),
never by listing the bucket: first by partition values, then by the log's per-file
``interval_start_utc`` statistics. They are read with pyarrow, one dataset per group
of files sharing their partition values (which become constant columns) and whether
the time filter must be evaluated (files wholly inside the range skip it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from engine.errors import InputError
from engine.schema import UTC_TS

from ..errors import storage_errors
from .log import DeltaLog
from .merge import TIEBREAK
from .specs import TableSpec, table_spec

#: Delta statistics truncate times to the millisecond: files are pruned with this margin
STATS_MARGIN_US = 1_000

#: (partition values, whether the files lie wholly inside the time range)
_Group = tuple[tuple[str, ...], bool]


def read_rows(delta_log: DeltaLog, name: str, version: int, partitions: dict[str, list[str]],
              row_filter: ds.Expression | None, *,
              time_range: tuple[int, int] | None = None) -> tuple[pa.Table, int]:
    """Rows of the files in the selected partitions (not deduped), full schema, and
    the number of files that contributed rows."""
    parts = read_parts(delta_log, name, version, partitions, row_filter, time_range=time_range)
    if not parts:
        return table_spec(name).schema.empty_table(), 0
    tables = [t for t, _ in parts]
    return (pa.concat_tables(tables) if len(tables) > 1 else tables[0]), sum(n for _, n in parts)


def read_parts(delta_log: DeltaLog, name: str, version: int, partitions: dict[str, list[str]],
               row_filter: ds.Expression | None, *,
               time_range: tuple[int, int] | None = None,
               columns: list[str] | None = None,
               dictionary: tuple[str, ...] = ()) -> list[tuple[pa.Table, int]]:
    """Rows of the files in the selected partitions (not deduped), one table per
    partition (in partition-value order) with the number of its files that
    contributed rows. ``columns`` (None: the full schema) are read, in schema
    order, plus the tie-break columns of partitions with more than one file (so
    they can be deduped). ``dictionary``: string columns read as the files store
    them, dictionary-encoded (see :func:`as_dictionary`).

    ``time_range`` = ``[start, end)`` on ``interval_start_utc``: files whose log
    statistics put them outside are skipped, and files wholly inside are read
    without evaluating the time filter (Delta statistics are truncated to the
    millisecond, hence the 1 ms margin).
    """
    spec = table_spec(name)
    snap = delta_log.snapshot(name, version)
    files = _in_partitions(snap.files, partitions)
    wholly_inside = None
    if time_range is not None and files.num_rows:
        files, wholly_inside = _in_time_range(files, *time_range)
    if files.num_rows == 0:
        return []
    groups = _group_files(files, spec.partition_by, wholly_inside)
    files_in = _files_per_partition(groups)
    reader = _GroupReader.build(delta_log, spec, row_filter, time_range, columns, dictionary,
                                unique=snap.keys_unique)
    with storage_errors("read", name):
        read = [(pv, reader.read(pv, whole, paths, files_in=files_in[pv]), len(paths))
                for (pv, whole), paths in sorted(groups.items())]
    return _by_partition(read)


def read_files(delta_log: DeltaLog, name: str, files: pa.Table,
               columns: list[str] | None = None) -> list[pa.Table]:
    """The rows of each of ``files`` (rows of :attr:`.log.Snapshot.files`) as stored,
    one table per file in that order, with its partition columns; ``columns`` (None:
    the full schema) in schema order. For writers that rewrite whole files."""
    spec = table_spec(name)
    schema = project(spec.schema, columns)
    fs, _ = delta_log.filesystem()
    stored = [f.name for f in schema if f.name not in spec.partition_by]
    out = []
    with storage_errors("read", name):
        for row in files.select(["path", *spec.partition_by]).to_pylist():
            t = ds.FileSystemDataset.from_paths(
                [row["path"]], schema=spec.file_schema, format=ds.ParquetFileFormat(),
                filesystem=fs).to_table(columns=stored)
            out.append(pa.table({f.name: (_constant(row[f.name], t.num_rows)
                                          if f.name in spec.partition_by else t.column(f.name))
                                 for f in schema}, schema=schema))
    return out


def _in_partitions(files: pa.Table, partitions: dict[str, list[str]]) -> pa.Table:
    """The files whose partition values are among ``partitions`` (column -> values)."""
    mask = None
    for col, values in partitions.items():
        m = pc.is_in(files.column(col), value_set=pa.array(values, pa.string()))
        mask = m if mask is None else pc.and_(mask, m)
    return files if mask is None else files.filter(mask)


def _in_time_range(files: pa.Table, start: int, end: int) -> tuple[pa.Table, list[bool]]:
    """The files the log's statistics do not put outside ``[start, end)`` (a file
    without statistics is kept), and for each whether it lies wholly inside."""
    lo, hi = files.column("min_us"), files.column("max_us")
    outside = pc.fill_null(pc.or_(pc.less(hi, start - STATS_MARGIN_US),
                                  pc.greater_equal(lo, end)), False)
    files = files.filter(pc.invert(outside))
    inside = pc.fill_null(pc.and_(pc.greater_equal(files.column("min_us"), start),
                                  pc.less(files.column("max_us"), end - STATS_MARGIN_US)),
                          False).to_pylist()
    return files, inside


def _group_files(files: pa.Table, partition_by: tuple[str, ...],
                 wholly_inside: list[bool] | None) -> dict[_Group, list[str]]:
    """File paths grouped by partition values and by ``wholly_inside`` (all True if None:
    no time range)."""
    groups: dict[_Group, list[str]] = {}
    pvals = list(zip(*(files.column(p).to_pylist() for p in partition_by)))
    flags = wholly_inside if wholly_inside is not None else [True] * files.num_rows
    for path, pv, whole in zip(files.column("path").to_pylist(), pvals, flags):
        groups.setdefault((pv, whole), []).append(path)
    return groups


def _files_per_partition(groups: dict[_Group, list[str]]) -> dict[tuple[str, ...], int]:
    """The number of files selected in each partition (over both of its groups)."""
    files_in: dict[tuple[str, ...], int] = {}
    for (pv, _), paths in groups.items():
        files_in[pv] = files_in.get(pv, 0) + len(paths)
    return files_in


@dataclass(frozen=True)
class _GroupReader:
    """Reads one group of files; what every group of one read shares."""
    spec: TableSpec
    filesystem: Any
    file_format: ds.ParquetFileFormat
    file_schema: pa.Schema            # as stored (dictionary columns as asked)
    table_schema: pa.Schema           # the same, with the partition columns
    wanted: frozenset[str]
    row_filter: ds.Expression | None
    time_filter: ds.Expression | None
    unique: bool                      # the version has one row per key: no tie-break read

    @classmethod
    def build(cls, delta_log: DeltaLog, spec: TableSpec, row_filter: ds.Expression | None,
              time_range: tuple[int, int] | None, columns: list[str] | None,
              dictionary: tuple[str, ...], *, unique: bool = False) -> _GroupReader:
        fs, _ = delta_log.filesystem()
        fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(
            dictionary_columns=list(dictionary))) if dictionary else ds.ParquetFileFormat()
        return cls(spec, fs, fmt, as_dictionary(spec.file_schema, dictionary),
                   as_dictionary(spec.schema, dictionary),
                   frozenset(spec.schema.names if columns is None else columns), row_filter,
                   _time_filter(*time_range) if time_range is not None else None, unique)

    def read(self, pv: tuple[str, ...], whole: bool, paths: list[str], *,
             files_in: int) -> pa.Table | None:
        """The rows of ``paths`` (partition ``pv``, ``files_in`` files selected in it)
        passing the filters, with the partition columns; None if there are none."""
        flt = self.row_filter
        if self.time_filter is not None and not whole:
            flt = self.time_filter if flt is None else (self.time_filter & flt)
        schema = self._schema(files_in)
        partition_by = self.spec.partition_by
        dataset = ds.FileSystemDataset.from_paths(
            paths, schema=self.file_schema, format=self.file_format, filesystem=self.filesystem)
        t = dataset.to_table(columns=[f.name for f in schema if f.name not in partition_by],
                             filter=flt)
        n = t.num_rows
        if n == 0:
            return None
        cols = {f.name: (_constant(pv[partition_by.index(f.name)], n, f.type)
                         if f.name in partition_by else t.column(f.name)) for f in schema}
        return pa.table(cols, schema=schema)

    def _schema(self, files_in: int) -> pa.Schema:
        """The columns to return: those wanted, the key, and the tie-break when the
        partition has several files that may share keys (so its rows can be deduped)."""
        spec = self.spec
        need = (self.wanted | (set(spec.key) - set(spec.partition_by))
                | (set(TIEBREAK) if files_in > 1 and not self.unique else set()))
        return pa.schema([f for f in self.table_schema if f.name in need])


def _by_partition(read: list[tuple[tuple[str, ...], pa.Table | None, int]]
                  ) -> list[tuple[pa.Table, int]]:
    """Groups' rows (in group order) joined per partition, in partition order, each
    with the number of files of its groups that returned rows."""
    by_partition: dict[tuple[str, ...], list[tuple[pa.Table, int]]] = {}
    for pv, t, n in read:
        if t is not None:
            by_partition.setdefault(pv, []).append((t, n))
    out = []
    for pv in sorted(by_partition):
        tables = [t for t, _ in by_partition[pv]]
        out.append((pa.concat_tables(tables) if len(tables) > 1 else tables[0],
                    sum(n for _, n in by_partition[pv])))
    return out


def project(schema: pa.Schema, columns: list[str] | None) -> pa.Schema:
    """``schema`` restricted to ``columns`` (schema order); unknown names are an error."""
    if columns is None:
        return schema
    unknown = sorted(set(columns) - set(schema.names))
    if unknown:
        raise InputError(f"unknown column(s) {unknown}; columns are {', '.join(schema.names)}")
    return pa.schema([f for f in schema if f.name in set(columns)])


def as_dictionary(schema: pa.Schema, names: tuple[str, ...]) -> pa.Schema:
    """``schema`` with the string columns ``names`` as ``dictionary<int32, string>``:
    read that way, Parquet's dictionary pages come back as they are, without a string
    per row (the same values; readers that need strings cast)."""
    if not names:
        return schema
    return pa.schema([f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in names else f
                      for f in schema])


def as_plain(schema: pa.Schema) -> pa.Schema:
    """``schema`` with dictionary columns as their value type."""
    return pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
                      for f in schema])


def _time_filter(start_us: int, end_us: int) -> ds.Expression:
    return ((pc.field("interval_start_utc") >= pa.scalar(start_us, UTC_TS))
            & (pc.field("interval_start_utc") < pa.scalar(end_us, UTC_TS)))


_STRING = pa.string()


def _constant(value: str, n: int, type_: pa.DataType = _STRING) -> pa.Array:
    """A string (or dictionary) column of ``n`` copies of ``value``, built in C++."""
    if pa.types.is_dictionary(type_):
        return pa.DictionaryArray.from_arrays(pa.repeat(pa.scalar(0, type_.index_type), n),
                                              pa.array([value], type_.value_type))
    return pa.repeat(pa.scalar(value, pa.string()), n)


__all__ = ["read_parts", "read_rows", "read_files", "project", "as_dictionary", "as_plain",
           "STATS_MARGIN_US"]
