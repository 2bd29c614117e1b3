"""Fuzzing the readers (CSV, NEM12, Parquet, YAML contracts) with Hypothesis.

Every reader, on any input, either accepts it and reads back exactly what was written,
or raises an ``InputError`` (CLI exit 2) naming the file and the line or field; never
another exception. Model-based where it can be: rows are generated with a flag saying
whether each value is valid, so the oracle also knows whether the file must be accepted.

Bounded for ``make test``: derandomized (the same examples on every run, so CI is
stable), no deadline, a few hundred examples in all (a few seconds).
"""
from __future__ import annotations

import copy
import io
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.contract import parse_contract
from engine.errors import InputError
from engine.timebase import to_us
from engine.units import max_interval_wh
from storage.readers.canonical import read_meter_csv, read_meter_parquet
from storage.readers.nem12 import NEM_UTC_OFFSET_US, read_nem12
from storage.readers.yaml_doc import load_yaml_document

DATA = Path(__file__).resolve().parents[1] / "data"
FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)


def refused_cleanly(exc: BaseException, name: str) -> None:
    """The only acceptable failure: an InputError naming the file and a line or field."""
    assert isinstance(exc, InputError), f"{type(exc).__name__}: {exc}"
    assert getattr(exc, "file", None) == name or str(exc).startswith(name), str(exc)
    assert getattr(exc, "line", None) is not None or getattr(exc, "field", None), str(exc)


# --------------------------------------------------------------------------- meter CSV

BAD_NUMBERS = ["1_000", "１２", "1e3", "nan", "Infinity", "", "1 5", "1.2.3", "--1", "0x10",
               "9" * 30, "-1", "+-2", "٣", "1,5"]
BAD_MINUTES = ["1_5", "１５", "5.0", "", "07x", "99999999999999999999", "-5", "10", "0"]
BAD_STARTS = ["9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z", "2026-10-01T05:00:00",
              "2026-10-01T05:00:00.0000001Z", "2026-13-01T00:00:00Z", "yesterday", ""]


@st.composite
def meter_value(draw):
    """(text, valid, expected Wh) of a kwh value."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(BAD_NUMBERS)), False, None
    d = draw(st.decimals(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False,
                         places=draw(st.integers(0, 5))))
    text = format(d, "f")
    return text, True, int((d * 1000).to_integral_value(rounding=ROUND_HALF_EVEN))


@st.composite
def meter_row(draw):
    minutes = draw(st.sampled_from([1, 5, 15, 30, 60]))
    if draw(st.integers(0, 14)) == 0:
        m_text, m_ok = draw(st.sampled_from(BAD_MINUTES)), False
    else:
        m_text, m_ok = str(minutes), True
    k = draw(st.integers(0, 50_000))
    start = T0 + timedelta(minutes=5 * k)
    if draw(st.integers(0, 14)) == 0:
        s_text, s_ok = draw(st.sampled_from(BAD_STARTS)), False
    else:
        offset = draw(st.sampled_from([0, -5, 10]))
        local = start.astimezone(timezone(timedelta(hours=offset)))
        s_text, s_ok = local.isoformat().replace("+00:00", "Z"), True
    kwh, k_ok, wh = draw(meter_value())
    k_ok = k_ok and wh <= max_interval_wh(minutes)         # the absolute bound (10 GW)
    channel = draw(st.sampled_from(["gt1", "pv1", "dc"]))
    return {"line": f"TX-DC1,{channel},{s_text},{m_text},{kwh},A", "ok": m_ok and s_ok and k_ok,
            "key": (channel, to_us(start)), "wh": wh, "minutes": minutes}


@FUZZ
@given(st.lists(meter_row(), min_size=1, max_size=12))
def test_meter_csv_accepts_exactly_the_valid_files_and_reads_them_back(rows):
    data = ("site_id,channel,interval_start,interval_minutes,kwh,quality\n"
            + "\n".join(r["line"] for r in rows) + "\n").encode()
    keys = [r["key"] for r in rows]
    must_accept = all(r["ok"] for r in rows) and len(set(keys)) == len(keys)
    try:
        t = read_meter_csv(data, "m.csv").table
    except Exception as exc:                          # noqa: BLE001 - the property under test
        refused_cleanly(exc, "m.csv")
        assert not must_accept, f"refused a valid file: {exc}"
        return
    assert must_accept, f"accepted an invalid file: {data!r}"
    assert t.column("energy_wh").to_pylist() == [r["wh"] for r in rows]
    assert t.column("interval_minutes").to_pylist() == [r["minutes"] for r in rows]
    assert t.column("interval_start_utc").cast(pa.int64()).to_pylist() == [r["key"][1] for r in rows]
    assert t.column("line").to_pylist() == list(range(2, len(rows) + 2))


@FUZZ
@given(st.binary(max_size=300))
def test_meter_csv_on_arbitrary_bytes_never_raises_anything_else(raw):
    for data in (raw, b"site_id,channel,interval_start,interval_minutes,kwh\n" + raw):
        try:
            read_meter_csv(data, "m.csv")
        except Exception as exc:                      # noqa: BLE001
            refused_cleanly(exc, "m.csv")


# --------------------------------------------------------------------------- NEM12

def nem12(days: list[tuple[str, list[str], str]], minutes: int = 30) -> bytes:
    lines = ["100,NEM12,200402070911,MDA1,Ret1",
             f"200,NEM1201009,E1E2,1,E1,N1,01009,kWh,{minutes},20050610"]
    lines += [f"300,{d},{','.join(v)},{q},,,20050310121004," for d, v, q in days]
    return ("\n".join(lines + ["900"]) + "\n").encode()


@st.composite
def nem12_day(draw, index: int):
    values = draw(st.lists(st.decimals(min_value=0, max_value=5000, places=3, allow_nan=False,
                                       allow_infinity=False), min_size=48, max_size=48))
    return (f"202610{index + 1:02d}", [format(v, "f") for v in values],
            draw(st.sampled_from(["A", "E52", "F14", "S53"])))


@FUZZ
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*(nem12_day(i) for i in range(n)))))
def test_nem12_reads_back_the_values_written(days):
    t = read_nem12(nem12(list(days)), "n.csv").table
    expected = [int(Decimal(v) * 1000) for _, vals, _ in days for v in vals]
    assert t.column("energy_wh").to_pylist() == expected
    first = to_us(datetime(2026, 10, 1, tzinfo=timezone.utc)) - NEM_UTC_OFFSET_US
    assert t.column("interval_start_utc").cast(pa.int64())[0].as_py() == first
    assert set(t.column("line").to_pylist()) == set(range(3, 3 + len(days)))


JUNK = ["", "1_0", "１", "-1", "1e3", "nan", ",", "300", "V", "N", "A", "E99", "20261301", ",,,"]


@FUZZ
@given(st.data())
def test_nem12_mutations_are_accepted_or_refused_cleanly(data):
    day = data.draw(nem12_day(0))
    fields = nem12([day]).decode().split(",")
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(fields) - 1))
        op = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        if op == "replace":
            fields[i] = data.draw(st.sampled_from(JUNK))
        elif op == "delete" and len(fields) > 1:
            del fields[i]
        else:
            fields.insert(i, data.draw(st.sampled_from(JUNK)))
    try:
        t = read_nem12(",".join(fields).encode(), "n.csv").table
    except Exception as exc:                          # noqa: BLE001
        refused_cleanly(exc, "n.csv")
        return
    wh = t.column("energy_wh").to_pylist()
    assert all(w >= 0 for w in wh) and t.num_rows <= 48


# --------------------------------------------------------------------------- Parquet

COLUMN_TYPES = {
    "kwh": [(pa.string(), ["1.5", "2"]), (pa.float64(), [1.5, 2.0]), (pa.int64(), [1, 2]),
            (pa.decimal128(10, 3), [Decimal("1.5"), Decimal("2")]), (pa.binary(), [b"1", b"2"]),
            (pa.list_(pa.int64()), [[1], [2]]), (pa.bool_(), [True, False]),
            (pa.struct([("x", pa.int64())]), [{"x": 1}, {"x": 2}]),
            (pa.float64(), [float("nan"), 1.0]), (pa.float64(), [9.2e15, 1.0])],
    "interval_minutes": [(pa.int64(), [5, 5]), (pa.int16(), [5, 5]), (pa.string(), ["5", "5"]),
                         (pa.float64(), [5.0, 5.0]), (pa.float64(), [5.5, 5.0]),
                         (pa.bool_(), [True, True]), (pa.uint64(), [2**64 - 1, 5]),
                         (pa.string(), ["1_5", "5"])],
    "interval_start": [(pa.timestamp("us", "UTC"), [0, 300_000_000]),
                       (pa.timestamp("ns", "UTC"), [0, 300_000_000_000]),
                       (pa.timestamp("ns", "UTC"), [1, 300_000_000_000]),
                       (pa.timestamp("s", "America/Chicago"), [0, 300]),
                       (pa.timestamp("us"), [0, 300_000_000]),
                       (pa.timestamp("us", "UTC"), [10**17, 300_000_000]),     # year 5138
                       (pa.string(), ["2026-10-01T00:00:00Z", "2026-10-01T00:05:00Z"]),
                       (pa.int64(), [0, 300]), (pa.date32(), [0, 1])],
    "site_id": [(pa.string(), ["S", "S"]), (pa.int64(), [1, 1]), (pa.binary(), [b"S", b"S"]),
                (pa.dictionary(pa.int8(), pa.string()), ["S", "S"]), (pa.float64(), [1.0, 1.0])],
}
T0_US = to_us(datetime(2026, 10, 1, tzinfo=timezone.utc))


@FUZZ
@given(st.fixed_dictionaries({c: st.sampled_from(range(len(v))) for c, v in COLUMN_TYPES.items()}),
       st.booleans())
def test_parquet_column_types_are_read_or_refused_cleanly(choice, with_nulls):
    cols = {"channel": pa.array(["c", "c"])}
    for c, i in choice.items():
        kind, values = COLUMN_TYPES[c][i]
        if c == "interval_start" and pa.types.is_timestamp(kind):
            scale = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]
            values = [T0_US * scale // 10**6 + v for v in values]
        if c == "interval_start" and pa.types.is_date(kind):
            values = [20_000 + v for v in values]
        if with_nulls and c == "kwh":
            values = [values[0], None]
        cols[c] = pa.array(values, kind)
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    try:
        t = read_meter_parquet(buf.getvalue(), "m.parquet").table
    except Exception as exc:                          # noqa: BLE001
        refused_cleanly(exc, "m.parquet")
        return
    assert not with_nulls
    assert t.column("energy_wh").to_pylist() in ([1500, 2000], [1000, 2000])
    assert t.column("interval_minutes").to_pylist() == [5, 5]
    assert t.column("interval_start_utc").cast(pa.int64()).to_pylist() == [T0_US, T0_US + 300_000_000]


# --------------------------------------------------------------------------- YAML

class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):                   # every value written out in full
        return True


#: text without surrogates and without the characters YAML 1.1 takes for line breaks
#: (NEL, LS, PS), which PyYAML's emitter writes in a form its scanner folds into spaces
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85\u2028\u2029")
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**63 + 1, 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(CHARS, max_size=20))
DOCS = st.dictionaries(st.text(CHARS, min_size=1, max_size=12),
                       st.recursive(SCALARS, lambda inner: st.one_of(
                           st.lists(inner, max_size=4),
                           st.dictionaries(st.text(CHARS, min_size=1, max_size=8), inner,
                                           max_size=4)),
                           max_leaves=12), max_size=6)


@FUZZ
@given(DOCS)
def test_yaml_documents_read_back_equal(doc):
    text = yaml.dump(doc, Dumper=_NoAliases, allow_unicode=True, sort_keys=False)
    assert load_yaml_document(text.encode(), "d.yaml") == doc


YAML_TOKENS = ["a: ", "b:", "- ", "&x ", "*x", "!!str ", "!!binary ", "<<: ", "{", "}", "[", "]",
               ", ", "\n", "\n  ", "\n    ", "'", '"', "1_000", "0x1F", "2026-02-30", "yes", ".inf",
               "1e999", "9" * 25, "---\n", "? ", "#c", "\t", "\x00", "\xff", "é", "%YAML 1.1\n"]


@FUZZ
@given(st.lists(st.sampled_from(YAML_TOKENS), max_size=25), st.binary(max_size=8))
def test_yaml_loader_on_hostile_text_never_raises_anything_else(tokens, tail):
    data = "".join(tokens).encode("utf-8", "surrogateescape") + tail
    try:
        doc = load_yaml_document(data, "d.yaml")
    except Exception as exc:                          # noqa: BLE001
        refused_cleanly(exc, "d.yaml")
        return
    assert isinstance(doc, dict)


CONTRACT = load_yaml_document((DATA / "contracts" / "ppa_tx_dc1_v1.yaml").read_bytes(), "c.yaml")
JSONISH = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3))


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(dict(CONTRACT)) if p]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), JSONISH, st.booleans()), min_size=1, max_size=3))
def test_contract_mutations_are_accepted_or_refused_naming_a_field(mutations):
    doc = copy.deepcopy(dict(CONTRACT))
    for path, value, delete in mutations:
        parent = doc
        try:
            for p in path[:-1]:
                parent = parent[p]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue                                  # an earlier mutation removed the path
    try:
        parse_contract(doc, source="c.yaml")
    except Exception as exc:                          # noqa: BLE001
        assert isinstance(exc, InputError), f"{type(exc).__name__}: {exc}"
        assert getattr(exc, "field", None), str(exc)
