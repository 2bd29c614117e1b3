"""Rebill arithmetic: what changed between a billed invoice and its re-settlement, and why.

Pure (no I/O): works on invoice documents (``engine.invoice`` shape) and
``engine.settlement.SettlementResult`` values.

Charges. A *charge* is an invoice line keyed by its base line id: the ``@v<N>``
suffix that ``finalize`` adds when a period spans two contract versions is dropped,
so ``energy:on_peak@v1`` and ``energy:on_peak@v2`` are one charge
``energy:on_peak``. An amendment that splits a month therefore shows as a delta on
the charge, not as one line removed and two added.

Deltas (exact). Each side's line amounts are already rounded once to cents by the
settlement (the one rounding rule of ``engine.money``); a delta is

    delta_cents(charge) = re-settled cents(charge) - billed cents(charge)

an integer, so the charge deltas sum to ``re-settled total - billed total`` exactly,
with no second rounding. Quantity deltas are exact decimal differences (MWh with 6
places, or the line's own unit).

Attribution (exact, telescoping). A rebill re-settles a period with new inputs. To
say *why* its amount moved, the period is re-settled along a chain of states, each
changing one group of inputs from what was billed to what is current::

    A0 billed invoice
    S0 = S(billed data,                  billed contract)  -> method   = S0 - A0
    S1 = S(new meter+sites, old market,  billed contract)  -> meter    = S1 - S0
    S2 = S(new meter+sites, new market,  billed contract)  -> market   = S2 - S1
    S3 = S(new everything,               contract now)     -> contract = S3 - S2

Each effect is a difference of consecutive states, so per charge and in total they
sum to ``S3 - A0`` exactly (the sum telescopes). ``method`` is zero whenever the
billed invoice is reproducible (same code, same inputs); a non-zero value means the
settlement rules themselves changed since billing. The order of the chain is a
convention (meter first, then market, then contract): interaction effects (e.g. a
new price applied to corrected energy) are assigned to the later cause.

Amounts are integer cents; amounts > 0 are owed by the buyer to the seller, so a
positive delta is an additional charge and a negative one a credit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping, Sequence

from .money import cents_to_str
from .settlement import SettlementResult

#: causes in attribution order (the chain in the module docstring)
CAUSES = ("method", "meter", "market", "contract")

_ZERO = Decimal(0)


def base_line_id(line_id: str) -> str:
    """``energy:on_peak@v2`` -> ``energy:on_peak`` (the charge a line belongs to)."""
    return line_id.partition("@v")[0]


def usd_to_cents(amount_usd: str) -> int:
    """``"-1234.56"`` -> ``-123456``, exactly; refuses more than two places."""
    d = Decimal(amount_usd)
    cents = d.scaleb(2)
    if cents != cents.to_integral_value():
        raise ValueError(f"amount {amount_usd!r} has more than two decimal places")
    return int(cents)


@dataclass(frozen=True)
class Charge:
    """One charge of an invoice: summed over the contract-version split of its lines."""
    line_id: str                  # base line id
    charge: str                   # term kind, e.g. energy_fixed
    quantity_unit: str
    quantity: Decimal
    amount_cents: int


Charges = Mapping[str, Charge]


def _add(out: dict[str, Charge], line_id: str, charge: str, unit: str, qty: Decimal,
         cents: int) -> None:
    key = base_line_id(line_id)
    prev = out.get(key)
    if prev is None:
        out[key] = Charge(key, charge, unit, qty, cents)
        return
    if (prev.charge, prev.quantity_unit) != (charge, unit):
        raise ValueError(f"line {line_id}: charge/unit {charge}/{unit} differs from "
                         f"{prev.charge}/{prev.quantity_unit} of the same charge {key}")
    out[key] = Charge(key, charge, unit, prev.quantity + qty, prev.amount_cents + cents)


def charges_of_invoice(doc: Mapping[str, Any]) -> dict[str, Charge]:
    """Charges of an invoice document (its ``lines``), keyed by base line id."""
    out: dict[str, Charge] = {}
    for ln in doc["lines"]:
        _add(out, ln["line_id"], ln["charge"], ln["quantity_unit"], Decimal(ln["quantity"]),
             usd_to_cents(ln["amount_usd"]))
    total = usd_to_cents(doc["total_usd"])
    if sum(c.amount_cents for c in out.values()) != total:
        raise ValueError(f"invoice {doc.get('contract_id')} {doc.get('period')} "
                         f"v{doc.get('version')}: lines do not sum to total_usd {doc['total_usd']}")
    return out


def charges_of_result(result: SettlementResult) -> dict[str, Charge]:
    """Charges of a settlement result, keyed by base line id."""
    out: dict[str, Charge] = {}
    for ln in result.lines:
        _add(out, ln.line_id, ln.charge, ln.quantity_unit, Decimal(ln.quantity), ln.amount_cents)
    return out


def total_cents(charges: Charges) -> int:
    return sum(c.amount_cents for c in charges.values())


# ----------------------------------------------------------------------------- diff
@dataclass(frozen=True)
class DeltaLine:
    """One charge, billed versus re-settled. A charge absent from one side counts
    there as zero quantity and zero amount."""
    line_id: str
    charge: str
    quantity_unit: str
    billed_quantity: Decimal
    quantity: Decimal
    billed_cents: int
    amount_cents: int

    @property
    def quantity_delta(self) -> Decimal:
        return self.quantity - self.billed_quantity

    @property
    def amount_delta_cents(self) -> int:
        return self.amount_cents - self.billed_cents

    @property
    def changed(self) -> bool:
        return self.quantity_delta != 0 or self.amount_delta_cents != 0

    def to_dict(self) -> dict:
        return {"line_id": self.line_id, "charge": self.charge, "quantity_unit": self.quantity_unit,
                "billed_quantity": str(self.billed_quantity), "quantity": str(self.quantity),
                "quantity_delta": str(self.quantity_delta),
                "billed_amount_usd": cents_to_str(self.billed_cents),
                "amount_usd": cents_to_str(self.amount_cents),
                "amount_delta_usd": cents_to_str(self.amount_delta_cents)}


@dataclass(frozen=True)
class InvoiceDiff:
    """Every charge of either side, sorted by base line id."""
    lines: tuple[DeltaLine, ...]
    billed_cents: int
    total_cents: int

    @property
    def delta_cents(self) -> int:
        return self.total_cents - self.billed_cents

    @property
    def changed(self) -> bool:
        """Does the re-settlement bill anything differently (an amount or a quantity)?"""
        return any(ln.changed for ln in self.lines)

    def changed_lines(self) -> tuple[DeltaLine, ...]:
        return tuple(ln for ln in self.lines if ln.changed)


def diff_charges(billed: Charges, rebilled: Charges) -> InvoiceDiff:
    """Charge-by-charge delta; the amount deltas sum to the total delta exactly."""
    lines = []
    for key in sorted(set(billed) | set(rebilled)):
        b, r = billed.get(key), rebilled.get(key)
        ref = r or b
        assert ref is not None                   # the key came from one of the two
        if b is not None and r is not None and b.quantity_unit != r.quantity_unit:
            raise ValueError(f"charge {key}: quantity unit changed from {b.quantity_unit} "
                             f"to {r.quantity_unit}")
        lines.append(DeltaLine(key, ref.charge, ref.quantity_unit,
                               b.quantity if b else _ZERO, r.quantity if r else _ZERO,
                               b.amount_cents if b else 0, r.amount_cents if r else 0))
    out = InvoiceDiff(tuple(lines), total_cents(billed), total_cents(rebilled))
    assert sum(ln.amount_delta_cents for ln in out.lines) == out.delta_cents
    return out


def diff_invoice(billed_doc: Mapping[str, Any], result: SettlementResult) -> InvoiceDiff:
    """The billed invoice document versus a re-settlement of the same contract-period."""
    if (billed_doc["contract_id"], billed_doc["period"]) != (result.contract_id, result.period):
        raise ValueError(f"billed invoice is {billed_doc['contract_id']} {billed_doc['period']}, "
                         f"re-settlement is {result.contract_id} {result.period}")
    return diff_charges(charges_of_invoice(billed_doc), charges_of_result(result))


# ----------------------------------------------------------------------- attribution
@dataclass(frozen=True)
class Attribution:
    """The split of a period's delta by cause: per cause, and per charge and cause
    (cents). ``sum(by_cause.values()) == delta_cents`` and, for every charge,
    ``sum(by_line[charge].values())`` is that charge's amount delta."""
    delta_cents: int
    by_cause: dict[str, int]
    by_line: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"delta_usd": cents_to_str(self.delta_cents),
                "by_cause_usd": {c: cents_to_str(v) for c, v in self.by_cause.items()},
                "by_line_usd": {lid: {c: cents_to_str(v) for c, v in causes.items()}
                                for lid, causes in self.by_line.items()}}


def attribute(billed: Charges, chain: Sequence[tuple[str, Charges]]) -> Attribution:
    """Telescoping attribution along ``chain``: ``[(cause, charges after that cause
    changed), ...]`` in order, the last element being the re-settlement.

    The effect of a cause is the change from the previous state (the first one from
    ``billed``). Causes not in the chain get zero; a cause may appear once.
    """
    names = [c for c, _ in chain]
    if len(set(names)) != len(names) or not set(names) <= set(CAUSES):
        raise ValueError(f"attribution chain {names}: causes must be distinct, among {CAUSES}")
    keys = sorted(set(billed).union(*(set(ch) for _, ch in chain)))

    def cents(ch: Charges, k: str) -> int:
        c = ch.get(k)
        return c.amount_cents if c else 0

    by_cause = {c: 0 for c in CAUSES}
    by_line = {k: {c: 0 for c in CAUSES} for k in keys}
    prev = billed
    for cause, state in chain:
        for k in keys:
            step = cents(state, k) - cents(prev, k)
            by_line[k][cause] += step
            by_cause[cause] += step
        prev = state
    delta = total_cents(prev) - total_cents(billed)
    assert sum(by_cause.values()) == delta
    by_line = {k: v for k, v in by_line.items() if any(v.values())}
    return Attribution(delta, by_cause, by_line)


# ---------------------------------------------------------------------- range summary
@dataclass(frozen=True)
class PeriodOutcome:
    """One period of a rebill: ``changed`` with its diff and attribution, or not."""
    period: str
    billed_version: int
    billed_cents: int
    total_cents: int
    attribution: Attribution | None = None

    @property
    def delta_cents(self) -> int:
        return self.total_cents - self.billed_cents


def summarize(outcomes: Iterable[PeriodOutcome]) -> dict:
    """The adjustment summary of a range: net amount to bill (exact sum of the period
    deltas), the split by cause, and counts. Periods are reported in period order."""
    rows = sorted(outcomes, key=lambda o: o.period)
    by_cause = {c: 0 for c in CAUSES}
    for o in rows:
        if o.attribution is not None:
            for c, v in o.attribution.by_cause.items():
                by_cause[c] += v
    net = sum(o.delta_cents for o in rows)
    assert sum(by_cause.values()) == net, "attribution must cover every changed period"
    return {"periods": len(rows),
            "changed_periods": sum(1 for o in rows if o.attribution is not None),
            "billed_usd": cents_to_str(sum(o.billed_cents for o in rows)),
            "rebilled_usd": cents_to_str(sum(o.total_cents for o in rows)),
            "net_adjustment_usd": cents_to_str(net),
            "by_cause_usd": {c: cents_to_str(v) for c, v in by_cause.items()}}


__all__ = ["CAUSES", "Charge", "Charges", "DeltaLine", "InvoiceDiff", "Attribution",
           "PeriodOutcome", "base_line_id", "usd_to_cents", "charges_of_invoice",
           "charges_of_result", "total_cents", "diff_charges", "diff_invoice", "attribute",
           "summarize"]
