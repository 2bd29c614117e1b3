"""Bid to bill: awards -> metered -> ISO settlement -> PPA invoice, reconciled.

One site over one billing period (its UTC window ``[w0, w1)``): the ISO resources
the site registry declares for it (``market.resources``) and the contract lines
that pass market prices through (``export_share``, ``vppa``).

**ISO settlement.** Per real-time settlement interval ``i`` (ERCOT 15 minutes; PJM
5, hourly before 2018-04-01; CAISO 5) of hour ``h``, in the ISOs' convention (> 0
a charge to the participant, < 0 a payment to it)::

    energy_i = DA_h x dt_i / 60 + RT_i         the ISO's energy lines of the interval
             = -M_i x P_RT,i  -  S_i           physical energy at RT + position spread

    ERCOT, PJM:  S_i = Q_DA,i x (P_DA,h - P_RT,i)
    CAISO:       S_i = Q_DA,i x (P_DA,h - P_FMM,i) + Q_FMM,i x (P_FMM,i - P_RT,i)
                 (Q_FMM = Q_DA where no FMM schedule covers the interval)

``M`` is the metered quantity the ISO settles (net injection; an ERCOT storage
resource before RTC+B: its injection), ``Q`` positions in MWh for the interval (the
hourly MW x dt), ``P`` settlement prices (the sum of the energy, congestion and loss
components where the prices carry them). The energy lines are DAESAMT, DAEPAMT and
RTEIAMT (ERCOT), items 1200-1225 (PJM), CC 6011, 6460, 6470 and 6475 (CAISO); other
charge types (BPDAMT) are listed apart. An hourly day-ahead line is spread over its
hour's intervals in proportion to their length (the ISOs apply the hourly MW evenly,
so the share is exact). This is the two-settlement identity of
``shared/notes/domain.md`` §2.1: "physical energy at RT plus the DART spread on the DA
position".

It holds exactly for the shadow lines (0 in 1/12 pico-USD: a check of the
charge-type modules against one another). A statement's lines are amounts the ISO
rounded, so one of its intervals **agrees** when it is within the rounding of the
lines it holds (half a cent per line, a day-ahead line counting for its share:
"to the cent per interval" where the ISO used the same prices and quantities) and
**differs** otherwise: the ISO settled other quantities or another price series (a
price correction, another run or node), shown with both sides' determinants. Exactly:
``energy = physical + spread + within-rounding + differences``.

**PPA invoice.** An ``export_share`` line is ``A = sum_j E_j x rate_j`` with
``rate_j = c x P_j`` rounded half-even to 1e-6 USD/MWh (``engine.terms.export_share``):
``E_j`` the exported energy of billing interval ``j``, ``P_j`` the contract's price (the
site node and its market run), ``c`` the coefficient (``-share_to_buyer`` when the
seller receives the ISO's revenue, ``1 - share_to_buyer`` when the buyer does; the
invoice convention, > 0 the buyer pays). The ISO's revenue for that energy is
``R = sum_i X_i x P_RT,i``: ``X_i`` the exported energy in ISO interval ``i`` at the
settlement price of the resource whose injection it is. Exactly::

    A = c x R  +  c x dE  +  c x dP  +  rho

    dE  = sum_j E_j x P_RT,i(j) - R      energy billed vs metered, at the ISO's prices
                                         (VEE estimates, other channels or window)
    dP  = sum_j E_j x (P_j - P_RT,i(j))  the contract's price vs the ISO's: another
                                         node or market run, or billing intervals
                                         finer than the ISO's priced at SCED prices
                                         rather than the interval's time-weighted one
    rho = A - c x sum_j E_j x P_j        the rate rounding (1e-6 USD/MWh per rate)

so the line **is** the share of the ISO's revenue (up to ``rho`` and the line's one
cent rounding) when the contract prices at the resource's settlement point and run
on the ISO's intervals, and otherwise ``dE`` and ``dP`` are the documented difference.
A billing grid coarser than the ISO's leaves ``dE + dP`` as one term. A ``vppa`` line
(``A = sum_j V_j x rate_j``, ``rate_j = s x (K' - P_eff,j)``) is set against the ISO the
same way: ``A = fixed leg + floating leg at the ISO's price + basis + rho``, the basis
being ``-s x sum_j V_j x (P_eff,j - P_RT,i(j))``: what the reference (hub, node, floor)
makes the buyer bear beyond the ISO's price.

Pure: arrays in, a document out; ``jobs.bidtobill`` reads the inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..money import cents_to_str
from ..timebase import US_PER_HOUR, US_PER_MINUTE, from_us, local_fields
from ..units import MICRO
from .caiso.cc6460 import covered
from .common import components_of, priced
from .ercot.rteiamt import metered as ercot_metered
from .inputs import MarketInputs
from .resources import ISO_TIMEZONES, MarketResource
from .rules import PJM_FIVE_MINUTE, RTC_B
from .series import grid
from .shadow import day_bounds_us, pieces, shadow_blocks
from .units import AMOUNT12_PER_CENT, amount_cents, wh12_to_wh_str

#: ISO -> (day-ahead energy charge types, real-time energy charge types)
ENERGY_CHARGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ERCOT": (("DAEPAMT", "DAESAMT"), ("RTEIAMT",)),
    "PJM": (("1200", "1210", "1220"), ("1205", "1215", "1225")),
    "CAISO": (("6011",), ("6460", "6470", "6475")),
}
#: the real-time charge types whose prices add up to the interval's RT settlement price
RT_PRICE_CHARGES = {"ERCOT": ("RTEIAMT",), "PJM": ("1205", "1215", "1225"), "CAISO": ("6475",)}
AMOUNT12_PER_USD = 12 * 10**12
AMOUNT12_PER_MICROUSD = 12 * 10**6
SHOW_DIFFERENCES = 20


def rt_minutes(iso: str, day: date) -> int:
    """The real-time settlement interval of ``iso`` on operating day ``day``."""
    if iso == "ERCOT":
        return 15
    if iso == "PJM":
        return 5 if day >= PJM_FIVE_MINUTE else 60
    return 5


def usd12(x: int | Fraction) -> str:
    """An exact amount in 1/12 pico-USD as USD with 6 places (half-even: display only)."""
    d = Fraction(x) / AMOUNT12_PER_USD
    q = Decimal(d.numerator) / Decimal(d.denominator) if d.denominator != 1 else Decimal(d.numerator)
    return str(q.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def _price_str(micro: int) -> str:
    return str((Decimal(int(micro)) / MICRO).quantize(Decimal("0.000001")))


def _ts(us: int) -> str:
    return from_us(int(us)).isoformat().replace("+00:00", "Z")


def _obj(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = 0
    return out


def _exact(values) -> np.ndarray:
    """Python integers (an object array): products and sums never overflow."""
    return np.asarray(values).astype(object)


def _settled_price(inp: MarketInputs, run: str, node: str, starts: np.ndarray, minutes: int,
                   label: str, need: np.ndarray | None = None) -> np.ndarray:
    """The price a line of ``run`` at ``node`` is settled at (the sum of its components
    where the prices carry them), for the intervals ``need`` (0 elsewhere)."""
    out = np.zeros(starts.size, dtype=np.int64)
    mask = np.ones(starts.size, dtype=bool) if need is None else need
    if not mask.any():
        return out
    total = np.zeros(int(mask.sum()), dtype=np.int64)
    for comp in components_of(inp, run, node):
        total += priced(inp, run, node, starts[mask], minutes, f"{label} {comp or 'LMP'} {node}", comp)
    out[mask] = total
    return out


# --------------------------------------------------------------------------- ISO side
@dataclass(frozen=True)
class ResourceChain:
    """One resource's ISO side on its real-time settlement intervals within the window."""
    resource: MarketResource
    start_us: np.ndarray
    minutes: np.ndarray
    inject12: np.ndarray
    withdraw12: np.ndarray
    metered12: np.ndarray          # what the ISO settles (net; ERCOT storage pre RTC+B: inject)
    da12: np.ndarray               # day-ahead position (sale - purchase) in the interval
    fmm12: np.ndarray              # CAISO FMM schedule (= da12 where none; = da12 elsewhere)
    instructed12: np.ndarray       # base points / RTD dispatch in the interval (0 if none)
    da_sale12: np.ndarray
    da_purchase12: np.ndarray
    p_da: np.ndarray               # micro-USD/MWh; 0 where no position needs it
    p_fmm: np.ndarray
    p_rt: np.ndarray
    physical12: np.ndarray         # -M x P_RT (object: exact)
    spread12: np.ndarray           # -S
    shadow12: np.ndarray           # the shadow's energy lines, allocated to the interval
    shadow_cents: dict[str, int]   # per charge type, lines in the window (energy and other)
    statement12: np.ndarray | None
    statement_tol60: np.ndarray | None   # sum over its lines of 60 x share (rounding bound)
    statement_rt_price: np.ndarray | None
    statement_micro: dict[str, int]
    statements: tuple[tuple[str, str], ...]
    unallocated_statement_lines: int

    def __len__(self) -> int:
        return int(self.start_us.size)


def _allocate(starts: np.ndarray, minutes: np.ndarray, line_start: np.ndarray, line_minutes: np.ndarray,
              amounts: np.ndarray, out: np.ndarray, tol60: np.ndarray | None = None) -> int:
    """Add each line's exact amount to the settlement intervals it covers, in
    proportion to their length (a line is never finer than the grid); returns how
    many lines cover no interval."""
    if line_start.size == 0:
        return 0
    order = np.argsort(line_start, kind="stable")
    line_start, line_minutes, amounts = line_start[order], line_minutes[order], amounts[order]
    idx = np.searchsorted(line_start, starts, side="right") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & (starts + minutes * US_PER_MINUTE
                       <= line_start[safe] + line_minutes[safe] * US_PER_MINUTE)
    k, m = safe[ok], minutes[ok]
    share = amounts[k] * _exact(m)
    lm = _exact(line_minutes[k])
    if np.any(share % lm != 0):
        raise ValueError("a line amount does not split exactly over its settlement intervals")
    out[ok] += share // lm
    if tol60 is not None:
        tol60[ok] += 60 * m // line_minutes[k]
    return int(line_start.size - np.unique(k).size)


def operating_days(iso: str, w0: int, w1: int) -> tuple[date, date]:
    """The first and last operating days of ``iso`` that the UTC window ``[w0, w1)`` touches."""
    f = local_fields(np.array([w0, w1 - 1], dtype=np.int64), ISO_TIMEZONES[iso])
    epoch = date(1970, 1, 1)
    return epoch + timedelta(days=int(f.day[0])), epoch + timedelta(days=int(f.day[1]))


def resource_chain(inp: MarketInputs, w0: int, w1: int, statement: pa.Table | None = None
                   ) -> ResourceChain:
    """The ISO side of ``inp.resource`` over the UTC window ``[w0, w1)`` (whole hours),
    with the shadow settlement of the operating days it covers and, if given, the
    statement lines of the resource (``engine.schema.STATEMENTS`` columns, one version
    per statement)."""
    r = inp.resource
    iso = r.iso
    if w1 <= w0 or w0 % US_PER_HOUR or w1 % US_PER_HOUR:
        raise ValueError("the window is a non-empty range of whole UTC hours")
    first, last = operating_days(iso, w0, w1)
    parts: list[dict[str, np.ndarray]] = []
    for lo, hi in pieces(iso, first, last):
        s, e = day_bounds_us(iso, lo, hi)
        m = rt_minutes(iso, lo)
        starts = grid(max(s, w0), min(e, w1), m)
        starts = starts[(starts >= w0) & (starts + m * US_PER_MINUTE <= w1)]
        if starts.size:
            parts.append(_piece(inp, starts, m, single_esr=lo >= RTC_B))
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else None
    if cols is None:
        raise ValueError("the window holds no settlement interval")
    starts, minutes = cols["start_us"], cols["minutes"]
    n = starts.size
    da_cts, rt_cts = ENERGY_CHARGES[iso]
    energy_cts = set(da_cts) | set(rt_cts)
    physical = -(_exact(cols["metered12"]) * _exact(cols["p_rt"]))
    spread = -(_exact(cols["da12"]) * (_exact(cols["p_da"]) - _exact(cols["p_fmm"]))
               + _exact(cols["fmm12"]) * (_exact(cols["p_fmm"]) - _exact(cols["p_rt"])))
    # the shadow lines of the operating days, cut to the window
    shadow = _obj(n)
    shadow_cents: dict[str, int] = {}
    for b in shadow_blocks(inp, first, last):
        inside = (b.start_us >= w0) & (b.start_us + b.minutes * US_PER_MINUTE <= w1)
        if not inside.any():
            continue
        b = b.select(inside)
        shadow_cents[b.charge_type] = shadow_cents.get(b.charge_type, 0) + int(b.cents.sum())
        if b.charge_type in energy_cts:
            _allocate(starts, minutes, b.start_us, np.full(len(b), b.minutes, np.int64), b.exact12(),
                      shadow)
    st12 = tol60 = st_price = None
    st_micro: dict[str, int] = {}
    statements: tuple[tuple[str, str], ...] = ()
    unallocated = 0
    if statement is not None and statement.num_rows:
        st = statement.filter(pc.equal(statement.column("resource_id"), r.resource_id))
        st_us = st.column("interval_start_utc").cast(pa.int64()).to_numpy(zero_copy_only=False)
        st_min = st.column("interval_minutes").to_numpy(zero_copy_only=False).astype(np.int64)
        inside = (st_us >= w0) & (st_us + st_min * US_PER_MINUTE <= w1)
        st = st.filter(pa.array(inside))
        st_us, st_min = st_us[inside], st_min[inside]
        g = st.group_by(["statement_id", "version"]).aggregate([])
        statements = tuple(sorted(zip(g.column("statement_id").to_pylist(), g.column("version").to_pylist())))
        st12, tol60 = _obj(n), np.zeros(n, dtype=np.int64)
        st_price = np.zeros(n, dtype=np.int64)
        ct = st.column("charge_type").to_numpy(zero_copy_only=False)
        amt = st.column("amount_microusd").to_numpy(zero_copy_only=False).astype(np.int64)
        price = pc.fill_null(st.column("price_microusd_per_mwh"), 0).to_numpy(zero_copy_only=False)
        for c in sorted(set(ct.tolist())):
            sel = ct == c
            st_micro[c] = int(amt[sel].sum())
            if c not in energy_cts:
                continue
            order = np.argsort(st_us[sel], kind="stable")
            ls, lm = st_us[sel][order], st_min[sel][order]
            unallocated += _allocate(starts, minutes, ls, lm, _exact(amt[sel][order]) * AMOUNT12_PER_MICROUSD,
                                     st12, tol60)
            if c in RT_PRICE_CHARGES[iso]:
                idx = np.searchsorted(starts, ls)
                ok = (idx < n) & (starts[np.minimum(idx, n - 1)] == ls)
                np.add.at(st_price, idx[ok], price[sel][order][ok])
    return ResourceChain(r, starts, minutes, cols["inject12"], cols["withdraw12"], cols["metered12"],
                         cols["da12"], cols["fmm12"], cols["instructed12"], cols["da_sale12"],
                         cols["da_purchase12"], cols["p_da"], cols["p_fmm"], cols["p_rt"], physical,
                         spread, shadow, dict(sorted(shadow_cents.items())), st12, tol60, st_price,
                         dict(sorted(st_micro.items())), statements, unallocated)


def _piece(inp: MarketInputs, starts: np.ndarray, m: int, *, single_esr: bool) -> dict[str, np.ndarray]:
    r = inp.resource
    iso, sp = r.iso, r.settlement_point
    n = starts.size
    if not r.metered:
        inject = withdraw = metered = np.zeros(n, dtype=np.int64)
    else:
        inject = inp.channels_energy(r.inject, starts, m)
        withdraw = inp.channels_energy(r.withdraw, starts, m)
        metered = (ercot_metered(inp, starts, single_esr=single_esr) if iso == "ERCOT"
                   else inject - withdraw)
    sale = inp.award_energy("da_sale", starts, m)
    purchase = inp.award_energy("da_purchase", starts, m)
    da = sale - purchase
    instructed = np.zeros(n, dtype=np.int64)
    fmm = da.copy()
    p_fmm = np.zeros(n, dtype=np.int64)
    p_rt = _settled_price(inp, "RT", sp, starts, m, f"{iso} RT")
    if iso == "CAISO":
        has_fmm = covered(inp, "fmm", starts, m)
        fmm = np.where(has_fmm, inp.award_energy("fmm", starts, m), da)
        p_fmm = np.where(has_fmm, _settled_price(inp, "FMM", sp, starts, m, "CAISO FMM", has_fmm), p_rt)
        has_rtd = covered(inp, "rtd", starts, m)
        instructed = np.where(has_rtd, inp.award_energy("rtd", starts, m), fmm)
    elif iso == "ERCOT" and inp.has_award("base_point"):
        instructed = inp.award_energy("base_point", starts, m)
    p_da = _settled_price(inp, "DA", sp, starts, m, f"{iso} DA", da != 0)
    # ERCOT/PJM: S = Q_DA (P_DA - P_RT); with p_fmm = p_rt and fmm = da the CAISO form
    # reduces to it, so one expression serves every ISO
    if iso != "CAISO":
        p_fmm = p_rt.copy()
    return {"start_us": starts, "minutes": np.full(n, m, np.int64), "inject12": inject,
            "withdraw12": withdraw, "metered12": metered, "da12": da, "fmm12": fmm,
            "instructed12": instructed, "da_sale12": sale, "da_purchase12": purchase,
            "p_da": p_da, "p_fmm": p_fmm, "p_rt": p_rt}


def interval_status(rc: ResourceChain) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """Per interval: the statement's difference from the identity (1/12 pico-USD,
    exact) and whether it is within the rounding of the interval's lines."""
    if rc.statement12 is None or rc.statement_tol60 is None:
        return None, None
    diff = rc.statement12 - (rc.physical12 + rc.spread12)
    bound = _exact(rc.statement_tol60) * AMOUNT12_PER_CENT
    agrees = np.array([abs(int(d)) * 120 <= int(b) for d, b in zip(diff, bound)], dtype=bool)
    return diff, agrees


def _mwh(x) -> str:
    return wh12_to_wh_str(int(x))


def resource_document(rc: ResourceChain) -> dict[str, Any]:
    """The awards, metered and ISO settlement stages of one resource, as a document."""
    r = rc.resource
    da_cts, rt_cts = ENERGY_CHARGES[r.iso]
    energy_cts = set(da_cts) | set(rt_cts)
    phys, spread = int(rc.physical12.sum()), int(rc.spread12.sum())
    sh_exact = int(rc.shadow12.sum())
    sh_energy_cents = sum(v for k, v in rc.shadow_cents.items() if k in energy_cts)
    sh_other_cents = sum(v for k, v in rc.shadow_cents.items() if k not in energy_cts)
    sh_diff = rc.shadow12 - (rc.physical12 + rc.spread12)
    exact_intervals = int(sum(1 for d in sh_diff if d == 0))
    settlement: dict[str, Any] = {
        "energy_charge_types": sorted(energy_cts),
        "decomposition_usd": {"physical_at_rt": usd12(phys), "position_spread": usd12(spread),
                              "energy": usd12(phys + spread)},
        "shadow": {
            "by_charge_type_usd": {k: cents_to_str(v) for k, v in rc.shadow_cents.items()},
            "energy_usd": cents_to_str(sh_energy_cents), "other_usd": cents_to_str(sh_other_cents),
            "energy_exact_usd": usd12(sh_exact),
            "identity": {"intervals": len(rc), "exact": exact_intervals,
                         "difference_usd": usd12(sh_exact - phys - spread),
                         "line_rounding_usd": usd12(sh_energy_cents * AMOUNT12_PER_CENT - sh_exact)},
        },
        "statement": None,
    }
    diff, agrees = interval_status(rc)
    if diff is not None and agrees is not None and rc.statement12 is not None:
        st_energy = int(rc.statement12.sum())
        within = int(sum(int(d) for d, a in zip(diff, agrees) if a))
        beyond = int(sum(int(d) for d, a in zip(diff, agrees) if not a))
        bad = np.flatnonzero(~agrees)
        st_energy_micro = sum(v for k, v in rc.statement_micro.items() if k in energy_cts)
        settlement["statement"] = {
            "statements": [{"statement_id": s, "version": v} for s, v in rc.statements],
            "by_charge_type_usd": {k: _usd_micro(v) for k, v in rc.statement_micro.items()},
            "energy_usd": _usd_micro(st_energy_micro),
            "other_usd": _usd_micro(sum(v for k, v in rc.statement_micro.items() if k not in energy_cts)),
            "identity": {"intervals": len(rc), "agree": int(agrees.sum()), "differ": int(bad.size),
                         "within_rounding_usd": usd12(within), "difference_usd": usd12(beyond),
                         "energy_usd": usd12(st_energy)},
            "unallocated_lines": rc.unallocated_statement_lines,
            "differences": [_interval_row(rc, int(i), diff, agrees) for i in bad[:SHOW_DIFFERENCES]],
        }
    return {
        "resource_id": r.resource_id, "kind": r.kind, "settlement_point": r.settlement_point,
        "interval_minutes": sorted({int(m) for m in rc.minutes.tolist()}), "intervals": len(rc),
        "awards": {"da_sale_mwh": _mwh(rc.da_sale12.sum()), "da_purchase_mwh": _mwh(rc.da_purchase12.sum()),
                   "da_position_mwh": _mwh(rc.da12.sum()),
                   "intervals_with_position": int(np.count_nonzero(rc.da12)),
                   "instructed_mwh": _mwh(rc.instructed12.sum())},
        "metered": {"inject_mwh": _mwh(rc.inject12.sum()), "withdraw_mwh": _mwh(rc.withdraw12.sum()),
                    "settled_mwh": _mwh(rc.metered12.sum()), "inject": list(r.inject),
                    "withdraw": list(r.withdraw)},
        "settlement": settlement,
        "market_revenue_usd": usd12(-(phys + spread)),
    }


def _usd_micro(v: int) -> str:
    d = Decimal(int(v)) / Decimal(10**6)
    return str(d.quantize(Decimal("0.01"))) if int(v) % 10_000 == 0 else str(d.quantize(Decimal("0.000001")))


def _interval_row(rc: ResourceChain, i: int, diff: np.ndarray | None, agrees: np.ndarray | None
                  ) -> dict[str, Any]:
    row: dict[str, Any] = {
        "resource_id": rc.resource.resource_id, "interval_start_utc": _ts(rc.start_us[i]),
        "interval_minutes": int(rc.minutes[i]), "metered_mwh": _mwh(rc.metered12[i]),
        "da_mwh": _mwh(rc.da12[i]), "da_price_usd_per_mwh": _price_str(rc.p_da[i]),
        "rt_price_usd_per_mwh": _price_str(rc.p_rt[i]),
        "physical_at_rt_usd": usd12(rc.physical12[i]), "position_spread_usd": usd12(rc.spread12[i]),
        "expected_usd": usd12(rc.physical12[i] + rc.spread12[i]),
        "shadow_usd": usd12(rc.shadow12[i])}
    if rc.resource.iso == "CAISO":
        row["fmm_mwh"] = _mwh(rc.fmm12[i])
        row["fmm_price_usd_per_mwh"] = _price_str(rc.p_fmm[i])
    if diff is not None and agrees is not None and rc.statement12 is not None:
        row["statement_usd"] = usd12(rc.statement12[i])
        if rc.statement_rt_price is not None:
            row["statement_rt_price_usd_per_mwh"] = _price_str(rc.statement_rt_price[i])
        row["difference_usd"] = usd12(diff[i])
        row["status"] = "agrees" if agrees[i] else "differs"
    return row


def interval_rows(rc: ResourceChain) -> list[dict[str, Any]]:
    """Every interval of the resource: determinants, expected, shadow and statement amounts."""
    diff, agrees = interval_status(rc)
    return [_interval_row(rc, i, diff, agrees) for i in range(len(rc))]


# --------------------------------------------------------------------------- PPA side
@dataclass(frozen=True)
class PassThrough:
    """One pass-through line of one contract version at the site, from the invoice
    detail: the billing intervals' quantity, rate and exact amount, and the contract's
    price for each (``price_micro``: export_share's site-node price; vppa's reference)."""
    contract_id: str
    line_id: str                      # as on the invoice (``<id>@v<N>`` when split)
    contract_version: int
    kind: str                         # export_share | vppa
    description: str
    price_key: tuple[str, str, str]
    start_us: np.ndarray
    minutes: int
    quantity_wh: np.ndarray
    rate_micro: np.ndarray
    amount_picousd: np.ndarray
    price_micro: np.ndarray
    channels: tuple[str, ...] = ()    # export_share: the exported channels
    coefficient: Fraction | None = None
    hedge_share: Fraction | None = None
    strike: Fraction | None = None    # vppa K' (USD/MWh)
    floor_at_zero: bool = False
    line_amount_cents: int | None = None
    line_sites: tuple[str, ...] = ()
    source: str = "computed"


def _iso_price_on(starts: np.ndarray, minutes: int, rc: ResourceChain) -> tuple[np.ndarray, bool]:
    """The ISO's RT settlement price of the interval containing each billing interval;
    False if a billing interval is not inside one ISO interval."""
    idx = np.searchsorted(rc.start_us, starts, side="right") - 1
    safe = np.maximum(idx, 0)
    ok = (idx >= 0) & (starts + minutes * US_PER_MINUTE
                       <= rc.start_us[safe] + rc.minutes[safe] * US_PER_MINUTE)
    return rc.p_rt[safe], bool(ok.all())


def pass_through_document(pt: PassThrough, rc: ResourceChain | None,
                          export12: np.ndarray | None) -> dict[str, Any]:
    """One pass-through line against the ISO: the identity of the module docstring.
    ``export12`` is the exported energy of ``pt.channels`` on ``rc``'s intervals."""
    e = _exact(pt.quantity_wh)
    a12 = int(_exact(pt.amount_picousd).sum()) * 12
    v_c = int((e * _exact(pt.price_micro)).sum()) * 12
    site_cents = int(amount_cents(np.array([a12], dtype=object))[0])
    doc: dict[str, Any] = {
        "contract_id": pt.contract_id, "line_id": pt.line_id, "contract_version": pt.contract_version,
        "kind": pt.kind, "description": pt.description, "source": pt.source,
        "contract_price": " ".join(pt.price_key), "billing_interval_minutes": pt.minutes,
        "billed_mwh": wh12_to_wh_str(int(e.sum()) * 12), "site_amount_usd": usd12(a12),
        "site_amount_picousd": a12 // 12,
        "line_usd": None if pt.line_amount_cents is None else cents_to_str(pt.line_amount_cents),
        "line_sites": list(pt.line_sites),
        # a line billed at this site alone is its site amount rounded once to cents
        "line_is_site_amount": (pt.line_amount_cents == site_cents
                                if len(pt.line_sites) == 1 and pt.line_amount_cents is not None
                                else None)}
    p_eff = np.maximum(pt.price_micro, 0) if pt.floor_at_zero else pt.price_micro
    if pt.kind == "export_share":
        assert pt.coefficient is not None
        c = pt.coefficient
        rho = a12 - c * v_c
        doc["coefficient"] = _frac(c)
        doc["rate_rounding_usd"] = usd12(rho)
    else:
        assert pt.hedge_share is not None and pt.strike is not None
        s, k = pt.hedge_share, pt.strike
        fixed = s * k * MICRO * int(e.sum()) * 12
        floating_ref = -s * int((e * _exact(p_eff)).sum()) * 12
        rho = a12 - fixed - floating_ref
        doc.update({"hedge_share": _frac(s), "strike_usd_per_mwh": _frac(k),
                    "fixed_leg_usd": usd12(fixed), "floating_leg_usd": usd12(floating_ref),
                    "rate_rounding_usd": usd12(rho)})
    if rc is None:
        doc["iso"] = None
        doc["status"] = "no ISO resource settles this site's energy: nothing to reconcile against"
        return doc
    iso_key = (rc.resource.iso, rc.resource.settlement_point, "RT")
    p_iso, nested = _iso_price_on(pt.start_us, pt.minutes, rc)
    same_series = tuple(pt.price_key) == iso_key
    reasons = []
    if tuple(pt.price_key[:2]) != iso_key[:2]:
        reasons.append(f"the contract prices at {pt.price_key[0]} {pt.price_key[1]}; the ISO settles "
                       f"{rc.resource.resource_id} at {iso_key[1]}")
    if pt.price_key[2] != "RT":
        reasons.append(f"the contract prices at the {pt.price_key[2]} run; the ISO settles the "
                       "metered energy at RT")
    iso_doc: dict[str, Any] = {"resource_id": rc.resource.resource_id,
                               "price": " ".join(iso_key), "same_series": same_series}
    v_iso = int((e * _exact(p_iso)).sum()) * 12
    if pt.kind == "export_share":
        assert export12 is not None and pt.coefficient is not None
        c = pt.coefficient
        r12 = int((_exact(export12) * _exact(rc.p_rt)).sum())
        iso_doc.update({"exported_mwh": wh12_to_wh_str(int(np.asarray(export12).sum())),
                        "iso_revenue_usd": usd12(r12), "share_of_iso_revenue_usd": usd12(c * r12)})
        if nested:
            d_e, d_p = v_iso - r12, v_c - v_iso
            iso_doc["energy_difference_usd"] = usd12(c * d_e)
            iso_doc["price_difference_usd"] = usd12(c * d_p)
            if d_e:
                reasons.append("the billed energy differs from the metered export on the ISO's "
                               "intervals (VEE estimates, other channels or data versions)")
            if d_p and same_series:
                reasons.append("billing intervals finer than the ISO's are priced at their own "
                               "prices, the ISO at the interval's time-weighted price")
            exact = d_e == 0 and d_p == 0
        else:
            iso_doc["energy_and_price_difference_usd"] = usd12(c * (v_c - r12))
            reasons.append(f"billing intervals of {pt.minutes} minutes span several ISO intervals: "
                           "energy and price differences are one term")
            exact = v_c == r12
        # the decomposition is exact by construction (v_c = r12 + d_e + d_p): what it
        # tells is which terms are 0
        assert a12 == c * r12 + c * (v_c - r12) + rho
        iso_doc["identity"] = ("site amount = share of the ISO revenue + rate rounding" if exact else
                               "site amount = share of the ISO revenue + energy difference + price "
                               "difference + rate rounding")
    else:
        assert pt.hedge_share is not None
        s = pt.hedge_share
        floating_iso = -s * v_iso
        floating_ref = -s * int((e * _exact(p_eff)).sum()) * 12
        iso_doc.update({"floating_leg_at_iso_price_usd": usd12(floating_iso),
                        "basis_usd": usd12(floating_ref - floating_iso),
                        "volume_weighted_reference_usd_per_mwh": _weighted(e, p_eff),
                        "volume_weighted_iso_price_usd_per_mwh": _weighted(e, p_iso)})
        if pt.floor_at_zero:
            reasons.append("the reference price is floored at 0 (zero_floor)")
        if not nested:
            reasons.append(f"billing intervals of {pt.minutes} minutes span several ISO intervals")
        exact = floating_ref == floating_iso
        iso_doc["identity"] = ("site amount = fixed leg + floating leg at the ISO price + basis + "
                               "rate rounding")
    iso_doc["reconciles"] = "exact" if exact else "documented difference"
    iso_doc["reasons"] = reasons if not exact else []
    doc["iso"] = iso_doc
    return doc


def _weighted(e: np.ndarray, p: np.ndarray) -> str | None:
    total = int(e.sum())
    if total == 0:
        return None
    return str((Decimal(int((e * _exact(p)).sum())) / Decimal(total) / MICRO).quantize(
        Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def _frac(f: Fraction) -> str:
    from ..terms.base import frac_str
    return frac_str(Fraction(f), 6)


def chain_document(site_id: str, period: str, timezone: str, w0: int, w1: int,
                   chains: list[ResourceChain], pass_throughs: list[dict[str, Any]], *,
                   intervals: bool = False) -> dict[str, Any]:
    """The whole chain of a site-period: its resources (awards, metered, ISO
    settlement) and its pass-through invoice lines (``pass_through_document``), with
    a summary; ``intervals`` adds every ISO interval's row."""
    resources = [resource_document(rc) for rc in chains]
    energy12 = sum(int(rc.physical12.sum()) + int(rc.spread12.sum()) for rc in chains)
    shadow_cents = 0
    for rc in chains:
        da, rt = ENERGY_CHARGES[rc.resource.iso]
        shadow_cents += sum(v for k, v in rc.shadow_cents.items() if k in da + rt)
    statements = [d["settlement"]["statement"] for d in resources if d["settlement"]["statement"]]
    ppa12 = 12 * sum(int(p["site_amount_picousd"]) for p in pass_throughs)
    summary: dict[str, Any] = {
        "market_revenue_usd": usd12(-energy12),
        "iso_energy_lines_usd": cents_to_str(shadow_cents),
        "statement_intervals_differing": (sum(s["identity"]["differ"] for s in statements)
                                          if statements else None),
        "pass_through_usd": usd12(ppa12),
        "pass_through_reconciles": [
            {"contract_id": p["contract_id"], "line_id": p["line_id"],
             "reconciles": (p["iso"] or {}).get("reconciles", "no ISO resource")}
            for p in pass_throughs]}
    doc: dict[str, Any] = {"site_id": site_id, "period": period, "timezone": timezone,
                           "window_utc": {"start": _ts(w0), "end": _ts(w1)},
                           "resources": resources, "invoice": pass_throughs, "summary": summary}
    if intervals:
        doc["intervals"] = [row for rc in chains for row in interval_rows(rc)]
    return doc


def export_resource(resources: list[MarketResource], channels: tuple[str, ...]) -> MarketResource | None:
    """The metered resource whose injection the exported channels are (all of them;
    else the first that meters any), or None."""
    metered = [r for r in resources if r.metered]
    for r in metered:
        if channels and set(channels) <= set(r.inject):
            return r
    for r in metered:
        if set(channels) & set(r.inject):
            return r
    return None


__all__ = ["ENERGY_CHARGES", "RT_PRICE_CHARGES", "ResourceChain", "PassThrough", "rt_minutes",
           "operating_days",
           "resource_chain", "resource_document", "interval_rows", "interval_status",
           "pass_through_document", "chain_document", "export_resource", "usd12"]
