"""Reconciliation: the shadow settlement against the ISO's statement, line by line, and a
new statement version against the one before it.

Line key: ``(charge_type, resource_id, interval_start_utc)`` within one statement
version. The two sides are joined by one vectorised merge (the strings coded through
one sorted dictionary, the keys then one int64 sorted once: no Python object per line,
and the output comes out in key order): a line present on one side only is compared
against 0.

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


def _codes(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array
           ) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Codes of the strings of ``a`` and ``b`` in one sorted dictionary (equal strings
    share a code; codes sort like the strings), and that dictionary."""
    both = pa.chunked_array([*_chunks(a), *_chunks(b)], type=pa.string()).combine_chunks()
    enc = pc.dictionary_encode(both)
    order = pc.sort_indices(enc.dictionary).to_numpy(zero_copy_only=False)
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size, dtype=np.int64)
    codes = rank[enc.indices.to_numpy(zero_copy_only=False)] if len(both) else np.zeros(0, np.int64)
    return codes[:len(a)], codes[len(a):], enc.dictionary.take(pa.array(order))


def _chunks(x: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return list(x.chunks) if isinstance(x, pa.ChunkedArray) else [x]


def _us(x: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(x, UTC_TS).cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)


def _outer_join(a: pa.Table, b: pa.Table, what: tuple[str, str]
                ) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """The full outer join of ``a`` and ``b`` on :data:`KEY`, vectorised: for each key
    of either side in key order, the row of ``a`` and of ``b`` holding it (-1: none),
    and the key columns. A key twice on one side is a ``ValueError`` naming it (a
    statement version or a shadow has one line per key)."""
    ca, cb, cdict = _codes(a.column("charge_type"), b.column("charge_type"))
    ra, rb, rdict = _codes(a.column("resource_id"), b.column("resource_id"))
    n_res = max(len(rdict), 1)
    g = np.concatenate([ca * n_res + ra, cb * n_res + rb])
    t = np.concatenate([_us(a.column("interval_start_utc")), _us(b.column("interval_start_utc"))])
    na, n = a.num_rows, g.size
    if n == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, pa.table({"charge_type": pa.array([], pa.string()),
                                       "resource_id": pa.array([], pa.string()),
                                       "interval_start_utc": pa.array([], UTC_TS)})
    minute = 60_000_000
    t0 = int(t.min())
    span = (int(t.max()) - t0) // minute + 1
    if not np.any(t % minute) and int(g.max()) < (1 << 62) // span:
        order = np.argsort(g * span + (t - t0) // minute, kind="stable")   # one int64 key
    else:
        order = np.lexsort((t, g))
    gs, ts = g[order], t[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (gs[1:] != gs[:-1]) | (ts[1:] != ts[:-1])
    gid = np.cumsum(new) - 1
    u = int(gid[-1]) + 1
    from_a = order < na
    for side, sel, label in ((a, from_a, what[0]), (b, ~from_a, what[1])):
        twice = np.bincount(gid[sel], minlength=u) > 1
        if twice.any():
            k = int(np.flatnonzero(twice)[0])
            at = order[np.flatnonzero(gid == k)[0]]
            row = at if at < na else at - na
            raise ValueError(f"the {label} has two lines for {side.column('charge_type')[row]} "
                             f"{side.column('resource_id')[row]} {side.column('interval_start_utc')[row]}")
    ia = np.full(u, -1, dtype=np.int64)
    ib = np.full(u, -1, dtype=np.int64)
    ia[gid[from_a]] = order[from_a]
    ib[gid[~from_a]] = order[~from_a] - na
    gk = gs[new]
    keys = pa.table({"charge_type": cdict.take(pa.array(gk // n_res)),
                     "resource_id": rdict.take(pa.array(gk % n_res)),
                     "interval_start_utc": pa.array(ts[new], pa.int64()).cast(UTC_TS)})
    return ia, ib, keys


def _take(col: pa.ChunkedArray | pa.Array, idx: np.ndarray) -> pa.Array:
    """``col`` at ``idx``, null where ``idx`` is -1."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return col.take(pa.array(np.maximum(idx, 0), mask=idx < 0))


def _amount(col: pa.ChunkedArray | pa.Array, idx: np.ndarray, scale: int = 1) -> np.ndarray:
    """int64 amounts at ``idx`` (x ``scale``), 0 where ``idx`` is -1."""
    v = pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64) * scale
    return np.where(idx >= 0, v[np.maximum(idx, 0)] if v.size else 0, 0)


def reconcile(statement: pa.Table, shadow: pa.Table, *,
              tolerance_microusd: int = DEFAULT_TOLERANCE_MICROUSD) -> pa.Table:
    """``statement`` rows of ONE version (``engine.schema.STATEMENTS`` columns) against
    ``shadow`` lines (``SHADOW``) -> the ``reconcile`` table, sorted by key.

    Vectorised end to end: the two sides' keys are coded (strings through one sorted
    dictionary) and merged with one sort of int64 keys; no Python object per line."""
    if tolerance_microusd < 0:
        raise ValueError("the tolerance is >= 0")
    i_st, i_sh, keys = _outer_join(statement, shadow, ("statement", "shadow"))
    a_st = _amount(statement.column("amount_microusd"), i_st)
    a_sh = _amount(shadow.column("amount_cents"), i_sh, MICRO_PER_CENT)
    in_st, in_sh = i_st >= 0, i_sh >= 0
    diff = a_st - a_sh
    off = np.abs(diff) > tolerance_microusd
    # status codes into STATUSES, then one take: no string built per line
    code = np.where(~off, 0, np.where(in_st & in_sh, 1, np.where(in_st, 2, 3))).astype(np.int8)
    status = pa.array(STATUSES, pa.string()).take(pa.array(code))
    minutes = pc.coalesce(_take(statement.column("interval_minutes"), i_st).cast(pa.int16()),
                          _take(shadow.column("interval_minutes"), i_sh).cast(pa.int16()))
    return pa.table({
        "charge_type": keys.column("charge_type"), "resource_id": keys.column("resource_id"),
        "interval_start_utc": keys.column("interval_start_utc"),
        "interval_minutes": minutes,
        "statement_amount_microusd": pa.array(a_st, pa.int64()),
        "shadow_amount_microusd": pa.array(a_sh, pa.int64()),
        "difference_microusd": pa.array(diff, pa.int64()),
        "status": status,
        "statement_quantity_wh12": pc.multiply(_take(statement.column("energy_wh"), i_st), 12),
        "shadow_quantity_wh12": _take(shadow.column("quantity_wh12"), i_sh),
        "statement_price_microusd_per_mwh": _take(statement.column("price_microusd_per_mwh"), i_st),
        "shadow_price_microusd_per_mwh": _take(shadow.column("price_microusd_per_mwh"), i_sh),
    }, schema=RECONCILE_SCHEMA).combine_chunks()


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
    price / quantity attribution (micro-USD; see the module docstring). Vectorised
    like :func:`reconcile`."""
    i0, i1, keys = _outer_join(previous, current, ("previous version", "current version"))
    a0 = _amount(previous.column("amount_microusd"), i0)
    a1 = _amount(current.column("amount_microusd"), i1)
    keep = np.flatnonzero(a0 != a1)
    i0, i1, a0, a1 = i0[keep], i1[keep], a0[keep], a1[keep]
    keys = keys.take(pa.array(keep))
    j = pa.table({"previous_energy_wh": _take(previous.column("energy_wh"), i0),
                  "current_energy_wh": _take(current.column("energy_wh"), i1),
                  "previous_price_microusd_per_mwh": _take(previous.column("price_microusd_per_mwh"), i0),
                  "current_price_microusd_per_mwh": _take(current.column("price_microusd_per_mwh"), i1)})
    delta = a1 - a0
    price_effect, known = _price_effects(j, a0)
    return pa.table({
        "charge_type": keys.column("charge_type"), "resource_id": keys.column("resource_id"),
        "interval_start_utc": keys.column("interval_start_utc"),
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
    }).combine_chunks()


def _price_effects(j: pa.Table, a0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sign x q_old x (p_new - p_old)`` in micro-USD, rounded half away from zero, for
    the lines whose two versions give the determinants (vectorised; exact: int64 when
    the bound allows, else Python integers for those lines only)."""
    def col(name: str) -> tuple[np.ndarray, np.ndarray]:
        c = j.column(name)
        return (pc.fill_null(c, 0).to_numpy(zero_copy_only=False).astype(np.int64),
                pc.is_valid(c).to_numpy(zero_copy_only=False))
    q0, q_ok = col("previous_energy_wh")
    p0, p0_ok = col("previous_price_microusd_per_mwh")
    p1, p1_ok = col("current_price_microusd_per_mwh")
    known = q_ok & p0_ok & p1_ok
    # the line's sign in front of quantity x price (ERCOT's (-1) x ...), from the old line
    sign = np.where(np.sign(a0.astype(np.int64)) * np.sign(q0) * np.sign(p0) < 0, -1, 1)
    dp = p1 - p0
    # Wh x micro-USD/MWh = pico-USD; / 1e6 -> micro-USD
    big = (np.abs(q0).astype(np.float64) * np.abs(dp).astype(np.float64)) >= 2.0**62
    num = np.where(big, 0, sign * q0 * dp)
    q, r = np.divmod(np.abs(num), 10**6)
    out = np.where(num < 0, -(q + (2 * r >= 10**6)), q + (2 * r >= 10**6))
    for i in np.flatnonzero(big & known):             # beyond int64: exact, line by line
        n = int(sign[i]) * int(q0[i]) * int(dp[i])
        qi, ri = divmod(abs(n), 10**6)
        out[i] = (qi + (2 * ri >= 10**6)) * (1 if n >= 0 else -1)
    return np.where(known, out, 0).astype(np.int64), known


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
