"""Turning settlement results into published invoice versions.

:func:`invoice_document` builds the invoice document of a result with its lineage
(run id, pinned data versions, contract-version cap, code version; the contract
SHA-256 of the version in force at the period's end). :func:`publish_invoices`
publishes a batch of drafts (distinct contract-periods) as their next versions in one
``InvoiceStore.publish_many`` (number claims, then manifests, parts, markers, each
round side by side); a draft whose latest version already holds the same invoice
(apart from the run that made it and its number and issue date) writes nothing. The
settlement and rebill reduces publish through here, and nothing else writes invoices.

Publication numbers every invoice (``now_utc`` given, as the reduces do): its issuer's
next number (``engine.invoice.issuer_id``, ``storage.invoice_numbers``), the local
date of ``now_utc`` as its issue date, so the document is the commercial invoice of
``engine.invoice`` (format 2). The stored HTML prints the SHA-256 of the stored JSON.
Then the published versions go to the invoice index with their events
(``jobs.invoice_index.InvoiceIndex.published``), when an index is given.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from datetime import datetime
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from engine.invoice import (build_invoice, invoice_bytes, issue_date_at, issue_of, issuer_id,
                            render_html)
from engine.timebase import to_us
from engine.settlement import SettlementResult
from storage.contracts import StoredContract
from storage.invoices import InvoiceParts, InvoiceStore, detail_to_parquet
from storage.parallel_io import map_io

from .contract_period import contract_at_period_end
from .settle_inputs import DataVersions

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore

    from .invoice_index import InvoiceIndex

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
                     extra: dict | None = None, completeness: dict | None = None,
                     issue: dict | None = None) -> dict:
    """The invoice document of ``result`` as invoice ``version``, with its lineage;
    status ``estimated`` with its ``completeness`` block when one is given (a period
    published beyond its completeness limits: ``engine.completeness.invoice_block``),
    else ``draft``. ``issue`` (``{"issuer", "sequence", "issue_date"}``) numbers it:
    the commercial invoice of ``engine.invoice``; ``engine.invoice.issue_of`` gives a
    stored invoice's, to rebuild it as published."""
    at_end = contract_at_period_end(stored, result.period)
    lineage = {"run_id": run_id, "data_versions": data.to_dict(), "code_version": code_version(),
               "contract_version_cap": stored[-1].version.version}
    doc = build_invoice(result, contract=at_end.version, contract_sha256=at_end.sha256,
                        version=version, status="draft" if completeness is None else "estimated",
                        lineage=lineage, adjusts=adjusts, completeness=completeness, issue=issue)
    if extra:
        doc.update(extra)
    return doc


def _same_invoice(a: dict, b: dict) -> bool:
    """Equal apart from the run that produced them and when and under which number
    they were issued."""
    def strip(d: dict) -> dict:
        out = {**d, "version": 0, "status": None, "approval": None,
               "lineage": {**d.get("lineage", {}), "run_id": None}}
        out.pop("invoice_number", None)
        if "issue" in out:
            out["issue"] = None
        return out
    return strip(a) == strip(b)


def _stored_html(doc: dict) -> tuple[bytes, str]:
    """The stored bytes of a document and its page (printing their SHA-256)."""
    raw = invoice_bytes(doc)
    return raw, render_html(doc, document_sha256=hashlib.sha256(raw).hexdigest())


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

    def document(self, version: int, run_id: str, issue: dict | None = None) -> dict:
        return invoice_document(self.result, self.stored, version=version, run_id=run_id,
                                data=self.data, adjusts=self.adjusts, extra=self.extra,
                                completeness=self.completeness, issue=issue)

    def issuer(self) -> str:
        """The numbering sequence of the contract's seller at the period's end."""
        return issuer_id(contract_at_period_end(self.stored, self.result.period).version)


class PublishedInvoice(NamedTuple):
    version: int
    created: bool          # False: the latest version already held the same invoice
    document: dict         # the invoice as stored (for ``created``) or as found


def publish_invoices(store: "ObjectStore", drafts: list[InvoiceDraft], *, run_id: str,
                     now_utc: datetime | None = None, index: "InvoiceIndex | None" = None
                     ) -> list[PublishedInvoice]:
    """Publish each draft (distinct contract-periods) as the next invoice version, all
    in one batch (``InvoiceStore.publish_many``). Nothing is written for a draft whose
    latest version already holds the same invoice (compared in that version's format).

    ``now_utc``, the publication instant, numbers every invoice and dates it (module
    docstring); without it the documents are those of before numbering (format 1:
    kept for reproducing and testing old invoices). ``index`` records what was
    published, with its events; a failure there is logged, never undoes a publication
    (``m2c invoices reindex`` repairs the index)."""
    invoices = InvoiceStore(store)

    def latest(d: InvoiceDraft) -> tuple[int, dict] | None:
        existing = invoices.versions(d.result.contract_id, d.result.period)
        return ((existing[-1], invoices.get(d.result.contract_id, d.result.period,
                                            existing[-1])[0]) if existing else None)
    out: dict[int, PublishedInvoice] = {}
    todo = []
    for i, (d, f) in enumerate(zip(drafts, map_io(latest, drafts))):
        if f is not None and _same_invoice(d.document(f[0], run_id, issue_of(f[1])), f[1]):
            out[i] = PublishedInvoice(f[0], False, f[1])
        else:
            todo.append(i)
    built: dict[int, dict] = {}            # draft -> its document as last built (= published)

    def parts_of(i: int) -> Callable[..., InvoiceParts]:
        d = drafts[i]
        detail = (d.detail_parquet if d.detail_parquet is not None
                  else detail_to_parquet(d.result.detail))

        def parts(version: int, number: int | None = None) -> InvoiceParts:
            issue = None
            if number is not None:
                assert now_utc is not None
                issue = {"issuer": d.issuer(), "sequence": number,
                         "issue_date": issue_date_at(now_utc, d.result.timezone).isoformat()}
            doc = built[i] = d.document(version, run_id, issue)
            raw, page = _stored_html(doc)
            return InvoiceParts(raw, page, detail)
        return parts
    entries: list[tuple[Any, ...]] = [
        (drafts[i].result.contract_id, drafts[i].result.period, parts_of(i),
         drafts[i].issuer() if now_utc is not None else None) for i in todo]
    versions = invoices.publish_many(entries)
    out.update((i, PublishedInvoice(v, True, built[i])) for i, v in zip(todo, versions))
    if index is not None and todo:
        try:
            index.published([built[i] for i in todo],
                             now_us=to_us(now_utc) if now_utc is not None else 0)
        except Exception:
            logger.exception("invoices %s published, but the invoice index was not updated; "
                             "run `m2c invoices reindex`", ", ".join(
                                 f"{drafts[i].result.contract_id} {drafts[i].result.period}"
                                 for i in todo))
    return [out[i] for i in range(len(drafts))]


def publish_invoice(store: "ObjectStore", result: SettlementResult, stored: list[StoredContract], *,
                    run_id: str, data: DataVersions, adjusts: int | None = None,
                    extra: dict | None = None, detail_parquet: bytes | None = None,
                    now_utc: datetime | None = None,
                    index: "InvoiceIndex | None" = None) -> tuple[int, bool]:
    """:func:`publish_invoices` of one result; (version, created)."""
    draft = InvoiceDraft(result, stored, data, detail_parquet, adjusts, extra)
    version, created, _ = publish_invoices(store, [draft], run_id=run_id, now_utc=now_utc,
                                           index=index)[0]
    return version, created
