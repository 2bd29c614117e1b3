"""A term kind is self-contained: one module (with its schema fragment) plus its entry in TERM_KINDS."""
from __future__ import annotations

import ast
import copy
import json
import random
from decimal import Decimal, ROUND_HALF_EVEN
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import pytest

import engine.contract
from engine.contract import contract_schema, parse_contract
from engine.errors import ContractError
from engine.settlement import Line, MarketData, finalize, invoice_order, lookback_periods, settle_period, settle_site
from engine.terms import TERM_KINDS, TermKind, export_share, vppa
from engine.terms.base import PeriodLine
from engine.units import PICO_PER_USD, WH_PER_MWH
from tests.engine.settlement_fixtures import SITES, flat_prices, minimal_doc, series_for

ROOT = Path(__file__).resolve().parents[2]
MWH = 1_000_000


# --------------------------------------------------------------------------- schema
def test_the_schema_and_the_term_table_name_the_same_kinds():
    schema = contract_schema()
    term = schema["$defs"]["term"]
    assert term["properties"]["kind"]["enum"] == list(TERM_KINDS)
    assert [b["if"]["properties"]["kind"]["const"] for b in term["allOf"]] == list(TERM_KINDS)
    assert [b["then"]["$ref"] for b in term["allOf"]] == [f"#/$defs/{k}" for k in TERM_KINDS]
    for k in TERM_KINDS:
        assert schema["$defs"][k]["properties"]["kind"] == {"const": k}


def test_the_published_schema_of_the_existing_kinds_is_unchanged():
    """``tests/data/contract_schema_v1.json`` is the schema as published before the
    kinds carried their fragments. Kinds added since are left out of the comparison."""
    published = json.loads((ROOT / "tests" / "data" / "contract_schema_v1.json").read_text())
    kinds = published["$defs"]["term"]["properties"]["kind"]["enum"]
    schema = contract_schema()
    term = schema["$defs"]["term"]
    term["properties"]["kind"]["enum"] = [k for k in term["properties"]["kind"]["enum"] if k in kinds]
    term["allOf"] = [b for b in term["allOf"] if b["if"]["properties"]["kind"]["const"] in kinds]
    schema["$defs"] = {k: v for k, v in schema["$defs"].items() if k not in TERM_KINDS or k in kinds}
    schema["properties"].pop("completeness")             # document fields added since (issue 12)
    schema["properties"].pop("invoicing")                # ... and the commercial invoice (issue 15):
    for role in ("seller", "buyer"):                     # parties' details, numbering, payment terms
        schema["properties"]["parties"]["properties"].pop(f"{role}_details")
    for name in ("short_text", "party_details"):
        schema["$defs"].pop(name)
    assert json.dumps(schema, indent=2) == json.dumps(published, indent=2)     # as `m2c contracts schema` prints


def test_every_ref_in_the_schema_resolves():
    schema = contract_schema()

    def refs(node):
        if isinstance(node, dict):
            yield from ([node["$ref"]] if "$ref" in node else [])
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = set(refs(schema))
    assert found and {r.removeprefix("#/$defs/") for r in found} <= set(schema["$defs"])


def test_contract_schema_returns_a_copy():
    contract_schema()["$defs"].clear()
    assert "vppa" in contract_schema()["$defs"]


# --------------------------------------------------------------------------- the protocol
def test_interval_and_period_level_follow_the_functions_a_kind_defines():
    assert {k for k, tk in TERM_KINDS.items() if tk.period_level} == {"capacity", "min_delivery", "take_or_pay"}
    assert {k for k, tk in TERM_KINDS.items() if not tk.interval_level} == {"min_delivery"}
    assert TERM_KINDS["energy_fixed"].line_parts == ("on_peak", "off_peak")
    assert TERM_KINDS["take_or_pay"].line_parts == ("delivered", "top_up")


def _module(name: str, **names) -> ModuleType:
    m = ModuleType(name)
    m.__dict__.update(names)
    return m


def test_an_incomplete_kind_module_is_refused():
    parse = lambda raw, where: None  # noqa: E731
    with pytest.raises(TypeError, match="does not define SCHEMA"):
        TermKind.of(_module("k", KIND="k", parse=parse, interval=None))
    with pytest.raises(TypeError, match="neither interval nor period"):
        TermKind.of(_module("k", KIND="k", SCHEMA={}, parse=parse))
    with pytest.raises(TypeError, match="LINE_PARTS"):
        TermKind.of(_module("k", KIND="k", SCHEMA={}, parse=parse, period=None, LINE_PARTS=("a", "a")))


# A kind written the way a new one would be: period-level, with a look-back and two
# lines, returned in the opposite of their declared order.
def _fee_parse(raw, where):
    from engine.terms.base import dec
    return dec(raw, "fee_usd", where, required=True)


def _fee_lookback(term, cv, period):
    from engine.timebase import next_period
    return [next_period(period, -1)]


def _fee_period(term, pctx):
    prev_wh = pctx.lookback[_fee_lookback(term, pctx.cv, pctx.period)[0]]
    credit = Fraction(-1, 100)                                 # -$0.01 per MWh delivered last month
    return [PeriodLine(f"{term.id}:credit", "monthly_fee", "credit", Fraction(prev_wh, WH_PER_MWH), "MWh",
                       credit, "USD/MWh", Fraction(prev_wh, WH_PER_MWH) * credit * PICO_PER_USD),
            PeriodLine(f"{term.id}:fee", "monthly_fee", "fee", Fraction(1), "month", term.params, "USD/month",
                       term.params * PICO_PER_USD)]


MONTHLY_FEE = _module("monthly_fee", KIND="monthly_fee",
                      SCHEMA={"required": ["fee_usd"], "properties": {"fee_usd": {"$ref": "#/$defs/decimal"}}},
                      parse=_fee_parse, period=_fee_period, lookback_periods=_fee_lookback,
                      LINE_PARTS=("fee", "credit"))


@pytest.fixture
def with_monthly_fee(monkeypatch):
    monkeypatch.setitem(TERM_KINDS, "monthly_fee", TermKind.of(MONTHLY_FEE))
    engine.contract._schema.cache_clear()
    engine.contract._validator.cache_clear()
    yield
    engine.contract._schema.cache_clear()
    engine.contract._validator.cache_clear()


def test_a_new_kind_needs_only_its_module_and_its_table_entry(with_monthly_fee):
    terms = [{"id": "energy", "kind": "energy_fixed", "price_usd_per_mwh": "40"},
             {"id": "fee", "kind": "monthly_fee", "fee_usd": "1000.00"}]
    bad = copy.deepcopy(terms)
    bad[1]["colour"] = "red"
    with pytest.raises(ContractError, match=r"terms\[1\]\.colour: unknown field"):     # its schema fragment
        parse_contract(minimal_doc(bad))
    cv = parse_contract(minimal_doc(terms))
    assert "monthly_fee" in contract_schema()["$defs"]["term"]["properties"]["kind"]["enum"]
    assert lookback_periods(cv, "2026-10") == ["2026-09"]                           # its look-back
    s = series_for("TX-DC1", "2026-10", 60, {"pv1": 2 * MWH})
    r = finalize([cv], "2026-10", settle_site([cv], "2026-10", SITES["TX-DC1"], s, MarketData()),
                 lookback={"2026-09": 1000 * MWH})
    assert [(ln.line_id, ln.amount_cents) for ln in r.lines] == [                   # its line order
        ("energy", 744 * 2 * 40 * 100), ("fee:fee", 100_000), ("fee:credit", -1000)]


# --------------------------------------------------------------------------- line order
_LEGACY_SUFFIX_ORDER = {"": 0, "on_peak": 1, "off_peak": 2, "delivered": 3, "top_up": 4}


def _legacy_order(lines: list[Line], term_ids: list[str]) -> list[Line]:
    """The order before each kind declared its LINE_PARTS (one table of suffixes in settlement)."""
    order = {t: i for i, t in enumerate(term_ids)}

    def key(ln):
        tid, _, suffix = ln.line_id.partition("@v")[0].partition(":")
        return (order.get(tid, len(order)), tid, _LEGACY_SUFFIX_ORDER.get(suffix, 9), suffix, ln.contract_versions)

    return sorted(lines, key=key)


# the lines each kind produces: (kind, part)
_PRODUCED = [(k, "") for k in TERM_KINDS] + [("energy_fixed", "on_peak"), ("energy_fixed", "off_peak"),
                                               ("take_or_pay", "delivered"), ("take_or_pay", "top_up")]


def test_line_order_is_unchanged_for_every_combination_of_kinds_parts_and_versions():
    rng = random.Random(11)
    for _ in range(400):
        term_ids = rng.sample(["a", "b", "c", "d"], rng.randint(1, 4))
        lines = []
        for tid in term_ids + ["gone"]:                          # "gone": a term of an earlier version only
            for kind, part in rng.sample(_PRODUCED, rng.randint(1, 4)):
                versions = rng.choice([(1,), (2,), (1, 2)])
                lid = f"{tid}:{part}" if part else tid
                for v in versions:
                    lines.append(Line(lid if len(versions) == 1 else f"{lid}@v{v}", kind, "", Decimal(0), "MWh",
                                      "0.00", "USD/MWh", 0, None, (v,), Fraction(0)))
        rng.shuffle(lines)
        assert invoice_order(lines, term_ids) == _legacy_order(lines, term_ids)


def test_a_term_whose_kind_changes_at_an_amendment_keeps_one_line_order():
    hub = {"id": "vp", "kind": "vppa", "strike_usd_per_mwh": "42.5"}
    tou = {"id": "x", "kind": "energy_fixed", "price_usd_per_mwh": "30",
           "tou": {"factors": {"on_peak": "1.2", "off_peak": "0.7"}}}
    v1 = minimal_doc([tou, hub])
    expected = {
        "take_or_pay": ["x:on_peak", "x:off_peak", "x:delivered", "x:top_up", "vp@v1", "vp@v2"],
        "vppa": ["x", "x:on_peak", "x:off_peak", "vp@v1", "vp@v2"]}
    for kind, ids in expected.items():
        v2 = copy.deepcopy(v1)
        v2.update(version=2, effective_from="2026-10-20")
        v2["terms"][0] = ({"id": "x", "kind": "take_or_pay", "contracted_mwh_per_month": "500000",
                           "take_share": "0.9", "price_usd_per_mwh": "33.3"} if kind == "take_or_pay"
                          else {"id": "x", "kind": "vppa", "strike_usd_per_mwh": "50"})
        versions = [parse_contract(v1), parse_contract(v2)]
        s = series_for("TX-DC1", "2026-10", 60, {"pv1": 2 * MWH})
        prices = MarketData({("ERCOT", "HB_NORTH", "RT"): flat_prices(*_month_us("2026-10"), 5, 30_000_000)})
        r = settle_period(versions, "2026-10", {"TX-DC1": (SITES["TX-DC1"], s)}, prices)
        assert [ln.line_id for ln in r.lines] == ids


def _month_us(period: str) -> tuple[int, int]:
    from engine.timebase import US_PER_HOUR, local_month_bounds_us
    b0, b1 = local_month_bounds_us(period, "America/Chicago")
    return b0 - US_PER_HOUR, b1


# --------------------------------------------------------------------------- rates
def _half_even_micro(x: Fraction) -> int:
    return int((Decimal(x.numerator) / Decimal(x.denominator) * 10**6).quantize(Decimal(1), ROUND_HALF_EVEN))


@pytest.mark.parametrize("strike_micro,hub_micro", [(3, 0), (1, 0), (0, 1), (0, 3), (5, 2), (42_500_001, 7)])
def test_vppa_rate_is_quantised_half_even_once(strike_micro, hub_micro):
    p = vppa.Params(Fraction(strike_micro, 10**6), hedge_share=Fraction(1, 2))
    assert p.rate_micro(hub_micro) == _half_even_micro(Fraction(strike_micro - hub_micro, 2 * 10**6))


@pytest.mark.parametrize("share,price_micro", [("0.5", 1), ("0.5", 3), ("0.5", -5), ("0.25", 2), ("0.333", 7)])
def test_export_share_rate_is_quantised_half_even_once(share, price_micro):
    s = series_for("TX-DC1", "2026-10", 60, {"exp": MWH})
    cv = parse_contract(minimal_doc([{"id": "x", "kind": "export_share", "share_to_buyer": share}]))
    key = export_share.node_key(cv.terms[0], cv, SITES["TX-DC1"])
    prices = MarketData({key: flat_prices(*_month_us("2026-10"), 60, price_micro)})
    r = settle_period([cv], "2026-10", {"TX-DC1": (SITES["TX-DC1"], s)}, prices)
    expected = _half_even_micro(-Fraction(share) * Fraction(price_micro, 10**6))
    assert set(r.detail.column("rate_microusd_per_mwh").to_pylist()) == {expected}


# --------------------------------------------------------------------------- imports
def _imports(path: Path, package: str, modules: set[str]) -> set[str]:
    """The ``modules`` a file imports anywhere (top level, in functions, under TYPE_CHECKING):
    ``from p import n`` is an import of module ``p.n`` if there is one, else of ``p``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.update(f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out & modules


def test_contract_terms_and_settlement_are_in_no_import_cycle():
    files = {}
    for p in (ROOT / "engine").rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_pkg else parts)
        files[name] = (p, name if is_pkg else name.rpartition(".")[0])
    graph = {m: _imports(p, pkg, set(files)) - {m} for m, (p, pkg) in files.items()}

    def reaches(src: str, dst: str) -> bool:
        seen, todo = set(), [src]
        while todo:
            for d in graph[todo.pop()] - seen:
                if d == dst:
                    return True
                seen.add(d)
                todo.append(d)
        return False

    mine = [m for m in graph if m.startswith(("engine.contract", "engine.terms", "engine.settlement",
                                               "engine.schema"))]
    assert [m for m in mine if reaches(m, m)] == []
