"""Turning settlement results into published invoice versions.

:func:`invoice_document` builds the invoice document of a result with its lineage
(run id, pinned data versions, contract-version cap, code version; the contract
SHA-256 of the version in force at the period's end). :func:`publish_invoices`
publishes a batch of drafts (distinct contract-periods) as their next versions in one
``InvoiceStore.publish_many`` (claims, parts, markers, each round side by side); a
draft whose latest version already holds the same invoice (apart from the run that
made it) writes nothing. The settlement and rebill reduces publish through here, and
nothing else writes invoices.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from importlib import metadata
from typing import TYPE_CHECKING, Callable, NamedTuple

from engine.invoice import build_invoice, invoice_bytes, render_html
from engine.settlement import SettlementResult
from storage.contracts import StoredContract
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.parallel_io import map_io

from .contract_period import contract_at_period_end
from .settle_inputs import DataVersions

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore

logger = logging.getLogger(__name__)

__all__ = ["code_version", "invoice_document", "InvoiceDraft", "PublishedInvoice",
           "publish_invoices", "publish_invoice", "PUBLISH_BATCH"]

#: contracts published together (``publish_invoices``): three rounds of fsync-ed
#: writes (locally; round trips on S3) per batch instead of three per invoice.
#: Bounds the detail bytes held at once.
PUBLISH_BATCH = 32


@functools.cache
def code_version() -> str:
    """The code that settled, as recorded in every invoice's lineage."""
    try:
        return f"meter2cash {metadata.version('meter2cash')}"
    except metadata.PackageNotFoundError:       # running from a source tree
        return "meter2cash (source)"


def invoice_document(result: SettlementResult, stored: list[StoredContract], *, version: int,
                     run_id: str, data: DataVersions, adjusts: int | None = None,
                     extra: dict | None = None, completeness: dict | None = None) -> dict:
    """The invoice document of ``result`` as invoice ``version``, with its lineage;
    status ``estimated`` with its ``completeness`` block when one is given (a period
    published beyond its completeness limits: ``engine.completeness.invoice_block``),
    else ``draft``."""
    at_end = contract_at_period_end(stored, result.period)
    lineage = {"run_id": run_id, "data_versions": data.to_dict(), "code_version": code_version(),
               "contract_version_cap": stored[-1].version.version}
    doc = build_invoice(result, contract=at_end.version, contract_sha256=at_end.sha256,
                        version=version, status="draft" if completeness is None else "estimated",
                        lineage=lineage, adjusts=adjusts, completeness=completeness)
    if extra:
        doc.update(extra)
    return doc


def _same_invoice(a: dict, b: dict) -> bool:
    """Equal apart from the run that produced them."""
    def strip(d: dict) -> dict:
        return {**d, "version": 0, "status": None, "approval": None,
                "lineage": {**d.get("lineage", {}), "run_id": None}}
    return strip(a) == strip(b)


@dataclasses.dataclass(frozen=True)
class InvoiceDraft:
    """A settlement result to publish as its contract-period's next invoice version."""
    result: SettlementResult
    stored: list[StoredContract]
    data: DataVersions
    #: the interval detail already encoded (``detail_to_parquet``), if the caller has
    #: it; ``result.detail`` is then not read
    detail_parquet: bytes | None = None
    adjusts: int | None = None
    extra: dict | None = None
    #: beyond its completeness limits, published on an override: the invoice's
    #: ``completeness`` block (status ``estimated``); None: a draft
    completeness: dict | None = None

    def document(self, version: int, run_id: str) -> dict:
        return invoice_document(self.result, self.stored, version=version, run_id=run_id,
                                data=self.data, adjusts=self.adjusts, extra=self.extra,
                                completeness=self.completeness)


class PublishedInvoice(NamedTuple):
    version: int
    created: bool          # False: the latest version already held the same invoice
    document: dict         # the invoice as stored (for ``created``) or as found


def publish_invoices(store: "ObjectStore", drafts: list[InvoiceDraft], *, run_id: str
                     ) -> list[PublishedInvoice]:
    """Publish each draft (distinct contract-periods) as the next invoice version, all
    in one batch (``InvoiceStore.publish_many``). Nothing is written for a draft whose
    latest version already holds the same invoice."""
    invoices = InvoiceStore(store)

    def latest(d: InvoiceDraft) -> tuple[int, dict] | None:
        existing = invoices.versions(d.result.contract_id, d.result.period)
        return ((existing[-1], invoices.get(d.result.contract_id, d.result.period,
                                            existing[-1])[0]) if existing else None)
    out: dict[int, PublishedInvoice] = {}
    todo = []
    for i, (d, f) in enumerate(zip(drafts, map_io(latest, drafts))):
        if f is not None and _same_invoice(d.document(f[0], run_id), f[1]):
            out[i] = PublishedInvoice(f[0], False, f[1])
        else:
            todo.append(i)
    built: dict[int, dict] = {}            # draft -> its document as last built (= published)

    def parts_of(i: int) -> Callable[[int], InvoiceParts]:
        d = drafts[i]
        detail = (d.detail_parquet if d.detail_parquet is not None
                  else detail_to_parquet(d.result.detail))

        def parts(version: int) -> InvoiceParts:
            doc = built[i] = d.document(version, run_id)
            return InvoiceParts(invoice_bytes(doc), render_html(doc), detail)
        return parts
    versions = invoices.publish_many([(drafts[i].result.contract_id, drafts[i].result.period,
                                       parts_of(i)) for i in todo])
    out.update((i, PublishedInvoice(v, True, built[i])) for i, v in zip(todo, versions))
    return [out[i] for i in range(len(drafts))]


def publish_invoice(store: "ObjectStore", result: SettlementResult, stored: list[StoredContract], *,
                    run_id: str, data: DataVersions, adjusts: int | None = None,
                    extra: dict | None = None,
                    detail_parquet: bytes | None = None) -> tuple[int, bool]:
    """:func:`publish_invoices` of one result; (version, created)."""
    draft = InvoiceDraft(result, stored, data, detail_parquet, adjusts, extra)
    version, created, _ = publish_invoices(store, [draft], run_id=run_id)[0]
    return version, created
