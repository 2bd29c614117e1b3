"""Reconciliation: the shadow settlement against the ISO's statement, line by line, and a
new statement version against the one before it.

Line key: ``(charge_type, resource_id, interval_start_utc)`` within one statement
version. The two sides are joined with one vectorised Arrow hash join (no Python
loop over lines): a line present on one side only is compared against 0.

Tolerance. ISOs publish amounts to the cent, and prices to the cent, so a line whose
statement and shadow amounts differ by at most ``tolerance_microusd`` (default
10,000 = 0.01 USD) is a **match**; beyond it a **mismatch**, or **statement_only** /
**shadow_only** when one side has no line. The difference is ``statement - shadow``
in micro-USD (statements may carry more than two decimals; shadow lines are cents).

Version deltas reuse the rebill arithmetic (``engine.rebill``): a re-settled
statement is compared with the version it replaces line by line, each delta an exact
integer difference of the two versions' amounts, so the deltas per charge type sum
to the difference of the two totals exactly. Each delta is attributed, exactly and
telescoping, to its price and its quantity: ``price effect = (p_new - p_old) x
q_old`` and ``quantity effect = delta - price effect`` (computed when both versions
give the determinants; else the whole delta is ``unexplained``).
"""
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import RECONCILE_SCHEMA, UTC_TS

KEY = ["charge_type", "resource_id", "interval_start_utc"]
DEFAULT_TOLERANCE_MICROUSD = 10_000
MICRO_PER_CENT = 10_000
STATUSES = ("match", "mismatch", "statement_only", "shadow_only")
VERSION_LABELS = ("initial", "final", "true_up")


def version_rank(label: str) -> int:
    """``initial`` 1, ``final`` 2, ``true_up`` 3, ``resettlement_<n>`` 3 + n; ValueError else."""
    if label in VERSION_LABELS:
        return VERSION_LABELS.index(label) + 1
    head, _, n = label.rpartition("_")
    if head == "resettlement" and n.isdigit() and int(n) >= 1:
        return 3 + int(n)
    raise ValueError(f"statement version must be initial, final, true_up or resettlement_<n>; "
                     f"got {label!r}")


def versions(rows: pa.Table) -> list[str]:
    """The version labels of a statement's rows, oldest first."""
    if rows.num_rows == 0:
        return []
    g = rows.group_by(["version", "version_rank"]).aggregate([])
    return [v for _, v in sorted(zip(g.column("version_rank").to_pylist(),
                                     g.column("version").to_pylist()))]


def select_version(rows: pa.Table, version: str | None = None) -> pa.Table:
    """The rows of one version (the latest if None)."""
    vs = versions(rows)
    if not vs:
        return rows
    v = vs[-1] if version is None else version
    if v not in vs:
        raise ValueError(f"the statement has no version {v!r}; it has {', '.join(vs)}")
    return rows.filter(pc.equal(rows.column("version"), v))


def _side(t: pa.Table, amount: pa.Array, qty: pa.Array, price: pa.Array, tag: str) -> pa.Table:
    return pa.table({"charge_type": t.column("charge_type"), "resource_id": t.column("resource_id"),
                     "interval_start_utc": t.column("interval_start_utc").cast(UTC_TS),
                     f"{tag}_minutes": t.column("interval_minutes"),
                     f"{tag}_amount_microusd": amount, f"{tag}_quantity_wh12": qty,
                     f"{tag}_price_microusd_per_mwh": price})


def reconcile(statement: pa.Table, shadow: pa.Table, *,
              tolerance_microusd: int = DEFAULT_TOLERANCE_MICROUSD) -> pa.Table:
    """``statement`` rows of ONE version (``engine.schema.STATEMENTS`` columns) against
    ``shadow`` lines (``SHADOW``) -> the ``reconcile`` table, sorted by key."""
    if tolerance_microusd < 0:
        raise ValueError("the tolerance is >= 0")
    st = _side(statement, statement.column("amount_microusd"),
               pc.multiply(statement.column("energy_wh"), 12),
               statement.column("price_microusd_per_mwh"), "statement")
    sh = _side(shadow, pc.multiply(shadow.column("amount_cents"), MICRO_PER_CENT),
               shadow.column("quantity_wh12"), shadow.column("price_microusd_per_mwh"), "shadow")
    st = st.append_column("_st", pa.array(np.ones(st.num_rows, np.int8)))
    sh = sh.append_column("_sh", pa.array(np.ones(sh.num_rows, np.int8)))
    j = st.join(sh, keys=KEY, join_type="full outer")
    in_st = pc.fill_null(j.column("_st"), 0).to_numpy(zero_copy_only=False).astype(bool)
    in_sh = pc.fill_null(j.column("_sh"), 0).to_numpy(zero_copy_only=False).astype(bool)
    a_st = pc.fill_null(j.column("statement_amount_microusd"), 0).to_numpy(zero_copy_only=False)
    a_sh = pc.fill_null(j.column("shadow_amount_microusd"), 0).to_numpy(zero_copy_only=False)
    diff = a_st.astype(np.int64) - a_sh.astype(np.int64)
    off = np.abs(diff) > tolerance_microusd
    status = np.where(~off, "match", np.where(in_st & in_sh, "mismatch",
                                               np.where(in_st, "statement_only", "shadow_only")))
    minutes = pc.coalesce(j.column("statement_minutes"), j.column("shadow_minutes"))
    out = pa.table({
        "charge_type": j.column("charge_type"), "resource_id": j.column("resource_id"),
        "interval_start_utc": j.column("interval_start_utc"),
        "interval_minutes": minutes.cast(pa.int16()),
        "statement_amount_microusd": pa.array(a_st, pa.int64()),
        "shadow_amount_microusd": pa.array(a_sh, pa.int64()),
        "difference_microusd": pa.array(diff, pa.int64()),
        "status": pa.array(status, pa.string()),
        "statement_quantity_wh12": j.column("statement_quantity_wh12"),
        "shadow_quantity_wh12": j.column("shadow_quantity_wh12"),
        "statement_price_microusd_per_mwh": j.column("statement_price_microusd_per_mwh"),
        "shadow_price_microusd_per_mwh": j.column("shadow_price_microusd_per_mwh"),
    }, schema=RECONCILE_SCHEMA)
    order = pc.sort_indices(out, sort_keys=[(k, "ascending") for k in KEY])
    return out.take(order).combine_chunks()


def summary(rec: pa.Table) -> dict:
    """Totals per charge type (statement, shadow, difference in micro-USD; lines and
    mismatches) and overall."""
    by: dict[str, dict] = {}
    if rec.num_rows:
        bad = pc.not_equal(rec.column("status"), "match")
        t = rec.append_column("_bad", pc.cast(bad, pa.int64()))
        g = t.group_by("charge_type").aggregate([
            ("statement_amount_microusd", "sum"), ("shadow_amount_microusd", "sum"),
            ("difference_microusd", "sum"), ("_bad", "sum"), ("charge_type", "count")])
        for row in g.to_pylist():
            by[row["charge_type"]] = {
                "statement_microusd": int(row["statement_amount_microusd_sum"]),
                "shadow_microusd": int(row["shadow_amount_microusd_sum"]),
                "difference_microusd": int(row["difference_microusd_sum"]),
                "lines": int(row["charge_type_count"]), "mismatches": int(row["_bad_sum"])}
    by = dict(sorted(by.items()))
    keys = ("statement_microusd", "shadow_microusd", "difference_microusd", "lines", "mismatches")
    return {"by_charge_type": by, "total": {k: sum(v[k] for v in by.values()) for k in keys}}


def mismatches(rec: pa.Table) -> pa.Table:
    return rec.filter(pc.not_equal(rec.column("status"), "match"))


def version_deltas(previous: pa.Table, current: pa.Table) -> pa.Table:
    """Lines of ``current`` (a statement version) that differ from ``previous`` (the
    version it replaces): key, both amounts and determinants, the exact delta and its
    price / quantity attribution (micro-USD; see the module docstring)."""
    def side(t: pa.Table, tag: str) -> pa.Table:
        return pa.table({"charge_type": t.column("charge_type"), "resource_id": t.column("resource_id"),
                         "interval_start_utc": t.column("interval_start_utc"),
                         f"{tag}_amount_microusd": t.column("amount_microusd"),
                         f"{tag}_energy_wh": t.column("energy_wh"),
                         f"{tag}_price_microusd_per_mwh": t.column("price_microusd_per_mwh")})
    j = side(previous, "previous").join(side(current, "current"), keys=KEY, join_type="full outer")
    a0 = pc.fill_null(j.column("previous_amount_microusd"), 0)
    a1 = pc.fill_null(j.column("current_amount_microusd"), 0)
    j = j.filter(pc.not_equal(a0, a1))
    a0 = pc.fill_null(j.column("previous_amount_microusd"), 0).to_numpy(zero_copy_only=False)
    a1 = pc.fill_null(j.column("current_amount_microusd"), 0).to_numpy(zero_copy_only=False)
    delta = a1.astype(np.int64) - a0.astype(np.int64)
    q0, p0, p1 = (j.column(c).to_pylist() for c in ("previous_energy_wh",
                                                    "previous_price_microusd_per_mwh",
                                                    "current_price_microusd_per_mwh"))
    price_effect = np.zeros(len(delta), dtype=np.int64)
    known = np.zeros(len(delta), dtype=bool)
    for i, (q, pa0, pa1, amt) in enumerate(zip(q0, p0, p1, a0.tolist())):
        if q is None or pa0 is None or pa1 is None:
            continue
        known[i] = True
        # the line's sign in front of quantity x price (ERCOT's (-1) x ...), from the old line
        sign = -1 if int(amt) * q * pa0 < 0 else 1
        # Wh x micro-USD/MWh = pico-USD; / 1e6 -> micro-USD, rounded half away from zero
        exact = Decimal(sign * q * (pa1 - pa0)) / Decimal(10**6)
        price_effect[i] = int(exact.to_integral_value(rounding="ROUND_HALF_UP"))
    out = pa.table({
        "charge_type": j.column("charge_type"), "resource_id": j.column("resource_id"),
        "interval_start_utc": j.column("interval_start_utc"),
        "previous_amount_microusd": pa.array(a0, pa.int64()),
        "current_amount_microusd": pa.array(a1, pa.int64()),
        "delta_microusd": pa.array(delta, pa.int64()),
        "previous_energy_wh": j.column("previous_energy_wh"),
        "current_energy_wh": j.column("current_energy_wh"),
        "previous_price_microusd_per_mwh": j.column("previous_price_microusd_per_mwh"),
        "current_price_microusd_per_mwh": j.column("current_price_microusd_per_mwh"),
        "price_effect_microusd": pa.array(price_effect, pa.int64()),
        "quantity_effect_microusd": pa.array(np.where(known, delta - price_effect, 0), pa.int64()),
        "unexplained_microusd": pa.array(np.where(known, 0, delta), pa.int64()),
    })
    order = pc.sort_indices(out, sort_keys=[(k, "ascending") for k in KEY])
    return out.take(order).combine_chunks()


def delta_totals(deltas: pa.Table) -> dict[str, dict[str, int]]:
    """Sums of the version deltas per charge type."""
    out: dict[str, dict[str, int]] = {}
    cols = ("delta_microusd", "price_effect_microusd", "quantity_effect_microusd",
            "unexplained_microusd")
    if deltas.num_rows:
        g = deltas.group_by("charge_type").aggregate([(c, "sum") for c in cols])
        for row in g.to_pylist():
            out[row["charge_type"]] = {c: int(row[f"{c}_sum"]) for c in cols}
    return dict(sorted(out.items()))


__all__ = ["KEY", "DEFAULT_TOLERANCE_MICROUSD", "STATUSES", "version_rank", "versions",
           "select_version", "reconcile", "summary", "mismatches", "version_deltas", "delta_totals"]
