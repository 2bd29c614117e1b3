"""The baselines of ``bench/settle.py``: the same month-end settlement as ONE DuckDB
SQL query over the meter table's Parquet data files, and the raw pyarrow read rate
of those files (the physical limit of any engine reading them).

The query implements the benchmark contract (``bench/settle_data.contract_doc``)
per interval and sums it per site and site-local month:

* delivered = ``min(max(0, gen + pv + discharge - charge - export), load)``
  (a pivot of the long meter rows: one GROUP BY over every row);
* local prevailing time with DuckDB's ICU ``timezone(tz, ts)`` per site;
* TOU: on-peak = hour ending 07..22, Monday..Saturday, except NERC holidays
  (passed in as a literal list of dates; computing them in SQL is possible but
  would not change the cost);
* contract year from the 1 July anniversaries, rate = round(price x 1.02^(y-1) x
  factor) in micro-USD/MWh, amount = delivered x rate (exact BIGINT / HUGEINT).

What DuckDB does NOT do, and meter2cash does (so the comparison favours DuckDB):
VEE (grid placement, validation, estimation, findings: the generated data has no
gaps, so VEE changes nothing here), reading the week of history VEE needs, the
as-of snapshot and dedupe-on-read, the interval detail table (written, read back
and published), invoice documents, HTML and the atomic publish.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.dataset as ds

from engine.calendar import nerc_holidays
from storage.config import StorageConfig
from storage.objectstore import ObjectStore
from storage.tables import Tables, table_spec

from settle_data import CHANNELS, ESCALATOR_PCT, PRICE_USD_PER_MWH, TERM_START, TOU_FACTORS, Portfolio

SIGN = {"generation": 1, "storage_discharge": 1, "storage_charge": -1, "grid_export": -1}


@dataclass(frozen=True)
class PartitionFiles:
    """The data files of the meter table's (site, month) partitions in a set of months."""
    paths: list[str]
    rows: int
    base: str                   # the table directory (hive-style partition paths below it)
    filesystem: object          # pyarrow filesystem of the store


def partition_files(cfg: StorageConfig, periods: list[str]) -> PartitionFiles:
    store = ObjectStore.from_config(cfg)
    tables = Tables(store)
    files = tables._snapshot("meter", tables.version("meter")).files   # the Delta log's adds
    keep = [i for i, m in enumerate(files.column("month").to_pylist()) if m in set(periods)]
    files = files.take(pa.array(keep, pa.int64()))
    fs, _ = store.arrow_filesystem()
    uri = tables.uri("meter")
    base = store.arrow_path(uri) if store.is_s3 else uri.removeprefix("file://")
    return PartitionFiles(files.column("path").to_pylist(), sum(files.column("num_records").to_pylist()),
                          base, fs)


def _channel_case(expr_of_kind: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{c}' THEN {expr_of_kind[k]}" for c, k in sorted(CHANNELS.items())
                     if k in expr_of_kind)
    return f"CASE channel {whens} ELSE 0 END"


def settlement_sql(source: str, portfolio: Portfolio, periods: list[str]) -> str:
    """The whole settlement as one query over ``source`` (a FROM item)."""
    sites = ", ".join(f"('{s}', '{site.timezone}')" for s, site in sorted(portfolio.sites.items()))
    years = sorted({int(p[:4]) for p in periods} | {int(periods[0][:4]) - 1})
    hol = ", ".join(f"DATE '{d.isoformat()}'" for y in years for d in nerc_holidays(y))
    start = date.fromisoformat(TERM_START)
    net = _channel_case({k: ("energy_wh" if s > 0 else "-energy_wh") for k, s in SIGN.items()})
    load = _channel_case({"load": "energy_wh"})
    in_periods = ", ".join(f"'{p}'" for p in periods)
    esc = f"(1 + {ESCALATOR_PCT} / 100.0)"
    return f"""
WITH sites(site_id, tz) AS (VALUES {sites}),
per_interval AS (
    SELECT site_id, interval_start_utc,
           SUM({net}) AS net_wh, SUM({load}) AS load_wh
    FROM {source}
    GROUP BY site_id, interval_start_utc
),
delivered AS (
    SELECT p.site_id, timezone(s.tz, p.interval_start_utc) AS local_ts,
           LEAST(GREATEST(p.net_wh, 0), p.load_wh) AS delivered_wh
    FROM per_interval p JOIN sites s USING (site_id)
),
priced AS (
    SELECT site_id, strftime(local_ts, '%Y-%m') AS period, delivered_wh,
           CASE WHEN hour(local_ts) + 1 BETWEEN 7 AND 22 AND isodow(local_ts) <= 6
                     AND CAST(local_ts AS DATE) NOT IN ({hol})
                THEN 'on_peak' ELSE 'off_peak' END AS bucket,
           year(local_ts) - {start.year}
               + CASE WHEN month(local_ts) * 100 + day(local_ts) >= {start.month * 100 + start.day}
                      THEN 1 ELSE 0 END AS contract_year
    FROM delivered
)
SELECT site_id, period, bucket,
       SUM(delivered_wh)::HUGEINT AS quantity_wh,
       SUM(delivered_wh * CAST(round({PRICE_USD_PER_MWH} * pow({esc}, contract_year - 1)
           * CASE bucket WHEN 'on_peak' THEN {TOU_FACTORS['on_peak']}
                         ELSE {TOU_FACTORS['off_peak']} END * 1e6) AS BIGINT))::HUGEINT
           AS amount_picousd,
       COUNT(*) AS intervals
FROM priced
WHERE period IN ({in_periods})
GROUP BY ALL
ORDER BY ALL
"""


def run_duckdb(files: PartitionFiles, portfolio: Portfolio, periods: list[str], *, threads: int,
               is_s3: bool) -> tuple[float, dict[tuple[str, str, str], tuple[int, int]]]:
    """Run the query once; ``(seconds, {(site, period, bucket): (quantity_wh, amount_picousd)})``.

    Local stores: DuckDB's own ``read_parquet`` over the file list (hive partition
    columns from the paths). S3: DuckDB scans a pyarrow dataset of the same files
    (DuckDB's httpfs extension is not installable offline)."""
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    if is_s3:
        dataset = ds.dataset(files.paths, filesystem=files.filesystem, format="parquet",
                             partitioning=ds.partitioning(flavor="hive"),
                             partition_base_dir=files.base)
        con.register("meter_files", dataset)
        source = "meter_files"
    else:
        listed = ", ".join(f"'{p.removeprefix('file://')}'" for p in files.paths)
        source = f"read_parquet([{listed}], hive_partitioning = true)"
    sql = settlement_sql(source, portfolio, periods)
    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, {(s, p, b): (int(q), int(a)) for s, p, b, q, a, _ in rows}


def raw_read(files: PartitionFiles, columns: list[str] | None) -> tuple[float, int]:
    """Seconds to read the files into Arrow with pyarrow (all cores), and rows read."""
    schema = table_spec("meter").file_schema
    dataset = ds.FileSystemDataset.from_paths(
        [p.removeprefix("file://") if not p.startswith("s3") else p for p in files.paths],
        schema=schema, format=ds.ParquetFileFormat(), filesystem=files.filesystem)
    t0 = time.perf_counter()
    table = dataset.to_table(columns=columns, use_threads=True)
    return time.perf_counter() - t0, table.num_rows


__all__ = ["PartitionFiles", "partition_files", "settlement_sql", "run_duckdb", "raw_read"]
