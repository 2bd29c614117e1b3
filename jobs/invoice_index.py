"""The invoice index: one row per published invoice version, in the catalog database.

The object store is the record (``storage.invoices``); listing it means listing every
key under ``invoices/`` and reading every document, which a console page cannot do
with 100,000 invoices. The index holds what a list shows (contract, period, version,
list status, total, number, dates, approval) with indexed, keyset-paginated queries
(:meth:`InvoiceIndex.page`), and is kept current by the writers:

* ``jobs.invoicing.publish_invoices`` records every version it publishes
  (:meth:`InvoiceIndex.published`), with its ``invoice.published`` or
  ``invoice.adjusted`` event (``jobs.outbox``) in the same transaction;
* ``api.views.approve_invoice`` records an approval (:meth:`InvoiceIndex.approved`),
  with its ``invoice.approved`` event.

List statuses follow ``storage.invoices`` exactly (recomputed per contract-period at
each write, :func:`list_statuses`): ``approved``, ``superseded`` (with
``superseded_by``), else the stored ``draft`` / ``estimated``.

An index is *built* for one store (``index_meta``: the store URI and when it was
built). :meth:`InvoiceIndex.rebuild` walks the store once (``m2c invoices reindex``,
and automatically the first time a list is asked of an index never built for this
store, e.g. after upgrading a deployment that has invoices): reads run side by side
and rows are written in batches. If a write at publication fails (the catalog was
unreachable), the publication stands and the error is logged; ``m2c invoices reindex``
repairs the index.

The tables are the ``invoice_index`` component of the catalog database
(:data:`MIGRATIONS`, applied by ``JobCatalog.init_schema``), the same on SQLite and
PostgreSQL (:mod:`jobs.db`). A write that recomputes a contract-period's list statuses
names its lock (``invoice_index:<contract>:<period>``), so a publication and an approval
of one contract-period on two replicas run one after the other.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine.errors import InputError
from engine.money import cents_to_str

from .db import Connection, Migration, Migrations, upsert_sql
from .outbox import emit

if TYPE_CHECKING:  # pragma: no cover
    from storage.objectstore import ObjectStore

    from .catalog import JobCatalog

logger = logging.getLogger(__name__)

__all__ = ["MIGRATIONS", "InvoiceIndex", "list_statuses", "LIST_STATUSES", "MAX_PAGE", "encode_cursor",
           "decode_cursor", "event_data"]

LIST_STATUSES = ("draft", "estimated", "approved", "superseded")
MAX_PAGE = 500

#: version 1 (SQLite): ``IF NOT EXISTS`` throughout, so a catalog that has the tables
#: already adopts it unchanged
_V1_SQLITE = """
CREATE TABLE IF NOT EXISTS invoice_index (
    contract_id      TEXT NOT NULL,
    period           TEXT NOT NULL,
    version          INTEGER NOT NULL,
    stored_status    TEXT NOT NULL,              -- as published: draft | estimated
    list_status      TEXT NOT NULL,              -- draft | estimated | approved | superseded
    superseded_by    INTEGER,
    total_cents      INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    adjusts          INTEGER,
    invoice_number   TEXT,
    issue_date       TEXT,
    due_date         TEXT,
    run_id           TEXT,
    approval_json    TEXT,                       -- the approval record, when approved
    published_us     INTEGER NOT NULL,
    PRIMARY KEY (contract_id, period, version)
);
CREATE INDEX IF NOT EXISTS invoice_index_status ON invoice_index (list_status, contract_id, period, version);
CREATE INDEX IF NOT EXISTS invoice_index_period ON invoice_index (period, contract_id, version);
CREATE UNIQUE INDEX IF NOT EXISTS invoice_index_number ON invoice_index (invoice_number)
    WHERE invoice_number IS NOT NULL;
CREATE TABLE IF NOT EXISTS index_meta (
    name        TEXT PRIMARY KEY,
    store_uri   TEXT NOT NULL,
    built_us    INTEGER NOT NULL
);
"""

#: the same on PostgreSQL: the keys that order pages compare bytewise (``COLLATE "C"``,
#: whatever the database's locale) so keyset pages order exactly as on SQLite; 64-bit
#: cents and times
_V1_POSTGRESQL = """
CREATE TABLE invoice_index (
    contract_id      TEXT COLLATE "C" NOT NULL,
    period           TEXT COLLATE "C" NOT NULL,
    version          INTEGER NOT NULL,
    stored_status    TEXT NOT NULL,
    list_status      TEXT NOT NULL,
    superseded_by    INTEGER,
    total_cents      BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    adjusts          INTEGER,
    invoice_number   TEXT COLLATE "C",
    issue_date       TEXT,
    due_date         TEXT,
    run_id           TEXT,
    approval_json    TEXT,
    published_us     BIGINT NOT NULL,
    PRIMARY KEY (contract_id, period, version)
);
CREATE INDEX invoice_index_status ON invoice_index (list_status, contract_id, period, version);
CREATE INDEX invoice_index_period ON invoice_index (period, contract_id, version);
CREATE UNIQUE INDEX invoice_index_number ON invoice_index (invoice_number)
    WHERE invoice_number IS NOT NULL;
CREATE TABLE index_meta (
    name        TEXT COLLATE "C" PRIMARY KEY,
    store_uri   TEXT NOT NULL,
    built_us    BIGINT NOT NULL
);
"""

MIGRATIONS = Migrations("invoice_index", (
    Migration(1, "invoice index and its build record", sqlite=_V1_SQLITE, postgresql=_V1_POSTGRESQL),
))

_COLUMNS = ("contract_id, period, version, list_status, superseded_by, total_cents, currency, adjusts, "
            "invoice_number, issue_date, due_date, approval_json, published_us, stored_status")


def list_statuses(rows: list[tuple[int, str, bool]]) -> dict[int, tuple[str, int | None]]:
    """``{version: (list status, superseded_by)}`` of one contract-period's versions
    ``(version, stored status, approved)``: the rule of ``storage.invoices``."""
    rows = sorted(rows)
    out = {}
    for i, (v, stored, approved) in enumerate(rows):
        later = rows[i + 1:]
        if not approved:
            out[v] = ("superseded", later[0][0]) if later else (stored, None)
        else:
            replaced = next((w for w, _, a in later if a), None)
            out[v] = ("approved", None) if replaced is None else ("superseded", replaced)
    return out


def encode_cursor(key: tuple[str, str, int]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]}\n{key[1]}\n{key[2]}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, int]:
    """The cursor of ``api.views.invoice_page`` (same encoding with or without the index)."""
    invalid = InputError("invalid cursor: pass back the next_cursor of the previous page")
    if not cursor or len(cursor) > 512:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        cid, period, version = raw.split("\n")
        return cid, period, int(version)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise invalid from None


def event_data(doc: dict) -> dict[str, Any]:
    """What an invoice event says: the version, its number and total, where to read it."""
    return {"contract_id": doc["contract_id"], "period": doc["period"], "version": doc["version"],
            "invoice_number": doc.get("invoice_number"), "status": doc.get("status"),
            "total_usd": doc["total_usd"], "currency": doc.get("currency", "USD"),
            "adjusts": doc.get("adjusts"), "approval": doc.get("approval"),
            "href": f"/v1/invoices/{doc['contract_id']}/{doc['period']}?version={doc['version']}"}


def _cents(total_usd: str) -> int:
    sign = -1 if total_usd.startswith("-") else 1
    whole, _, frac = total_usd.lstrip("-").partition(".")
    return sign * (int(whole) * 100 + int((frac + "00")[:2]))


class InvoiceIndex:
    """The ``invoice_index`` table of a catalog, for the store at ``store_uri``."""

    NAME = "invoice_index"

    def __init__(self, catalog: "JobCatalog", store_uri: str):
        self.catalog = catalog
        self.store_uri = store_uri

    # -- writes ---------------------------------------------------------------------------
    @staticmethod
    def _upsert(conn: Connection, doc: dict, approval: dict | None, now_us: int) -> None:
        issue = doc.get("issue") or {}
        conn.execute(
            "INSERT INTO invoice_index (contract_id, period, version, stored_status, list_status, "
            "total_cents, currency, adjusts, invoice_number, issue_date, due_date, run_id, approval_json, "
            "published_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (contract_id, period, version) DO UPDATE SET approval_json = "
            "COALESCE(excluded.approval_json, invoice_index.approval_json)",
            (doc["contract_id"], doc["period"], int(doc["version"]), doc["stored_status"],
             doc["stored_status"], _cents(doc["total_usd"]), doc.get("currency", "USD"), doc.get("adjusts"),
             doc.get("invoice_number"), issue.get("issue_date"), issue.get("due_date"),
             (doc.get("lineage") or {}).get("run_id"),
             json.dumps(approval, sort_keys=True) if approval else None, now_us))

    @staticmethod
    def _restatus(conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
        """Recompute the list statuses of these contract-periods (the caller holds their
        :func:`_locks`, so a concurrent publication or approval of one waits)."""
        for cid, period in sorted(set(pairs)):
            rows = conn.execute("SELECT version, stored_status, approval_json IS NOT NULL AS approved "
                                "FROM invoice_index WHERE contract_id = ? AND period = ?",
                                (cid, period)).fetchall()
            for v, (status, by) in list_statuses([(r["version"], r["stored_status"], bool(r["approved"]))
                                                  for r in rows]).items():
                conn.execute("UPDATE invoice_index SET list_status = ?, superseded_by = ? WHERE "
                             "contract_id = ? AND period = ? AND version = ?", (status, by, cid, period, v))

    def published(self, docs: list[dict], *, now_us: int) -> None:
        """Record newly published versions (documents as stored) and their events."""
        if not docs:
            return
        with self.catalog.transaction(locks=_locks((d["contract_id"], d["period"]) for d in docs)) as conn:
            for doc in docs:
                self._upsert(conn, {**doc, "stored_status": doc["status"]}, None, now_us)
            self._restatus(conn, ((d["contract_id"], d["period"]) for d in docs))
            for doc in docs:
                emit(conn, "invoice.adjusted" if doc.get("adjusts") is not None else "invoice.published",
                     event_data(doc), now_us=now_us)

    def approved(self, doc: dict, *, now_us: int) -> None:
        """Record the approval of a version (``doc``: the invoice as read, with its
        ``approval``) and its ``invoice.approved`` event."""
        with self.catalog.transaction(locks=_locks([(doc["contract_id"], doc["period"])])) as conn:
            stored = doc.get("stored_status") or ("estimated" if doc.get("completeness") else "draft")
            self._upsert(conn, {**doc, "stored_status": stored}, doc["approval"], now_us)
            self._restatus(conn, [(doc["contract_id"], doc["period"])])
            emit(conn, "invoice.approved", event_data(doc), now_us=now_us)

    # -- build ----------------------------------------------------------------------------
    def built(self) -> bool:
        with self.catalog.connection() as conn:
            row = conn.execute("SELECT store_uri FROM index_meta WHERE name = ?", (self.NAME,)).fetchone()
        return row is not None and row["store_uri"] == self.store_uri

    def rebuild(self, store: "ObjectStore", *, now_us: int, batch: int = 500) -> int:
        """Rebuild from the store: every committed version, its stored status and
        approval; returns the number of versions. No events are sent."""
        from storage.invoices import InvoiceStore
        from storage.parallel_io import map_io
        inv = InvoiceStore(store)
        keys = inv.list()

        def read(key: tuple[str, str, int]) -> tuple[dict, dict | None]:
            cid, period, v = key
            return json.loads(inv.raw_json(cid, period, v)), inv.approval(cid, period, v)
        with self.catalog.transaction() as conn:
            conn.execute("DELETE FROM invoice_index")
            conn.execute("DELETE FROM index_meta WHERE name = ?", (self.NAME,))
        for b in range(0, len(keys), batch):
            chunk = keys[b:b + batch]
            docs = map_io(read, chunk)
            with self.catalog.transaction(locks=_locks((d["contract_id"], d["period"]) for d, _ in docs)) as conn:
                for doc, approval in docs:
                    self._upsert(conn, {**doc, "stored_status": doc["status"]}, approval, now_us)
                self._restatus(conn, ((d["contract_id"], d["period"]) for d, _ in docs))
        self.mark_built(now_us=now_us)
        logger.info("invoice index rebuilt from %s: %d versions", self.store_uri, len(keys))
        return len(keys)

    def mark_built(self, *, now_us: int) -> None:
        """Mark an index built without walking the store (a store known to be empty)."""
        with self.catalog.transaction() as conn:
            conn.execute(upsert_sql("index_meta", ["name"], ["name", "store_uri", "built_us"]),
                         (self.NAME, self.store_uri, now_us))

    # -- reads ----------------------------------------------------------------------------
    def page(self, *, contract: str | None = None, period: str | None = None,
             status: str | None = None, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        """One page of versions by (contract, period, version), as ``api.views.invoice_page``."""
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if status is not None and status not in LIST_STATUSES:
            raise InputError(f"unknown invoice status {status!r}; one of {', '.join(LIST_STATUSES)}")
        where, params = [], []
        for column, value in (("contract_id", contract), ("period", period), ("list_status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if cursor:
            cid, p, v = decode_cursor(cursor)
            where.append("(contract_id > ? OR (contract_id = ? AND (period > ? OR (period = ? AND version > ?))))")
            params += [cid, cid, p, p, v]
        sql = (f"SELECT {_COLUMNS} FROM invoice_index {'WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY contract_id, period, version LIMIT ?")
        with self.catalog.connection() as conn:
            rows = conn.execute(sql, (*params, limit + 1)).fetchall()
        data = [_summary(r) for r in rows[:limit]]
        nxt = (encode_cursor((data[-1]["contract_id"], data[-1]["period"], data[-1]["version"]))
               if len(rows) > limit else None)
        return {"data": data, "next_cursor": nxt}

    def count(self, *, status: str | None = None) -> int:
        sql, params = "SELECT COUNT(*) AS n FROM invoice_index", []
        if status:
            sql += " WHERE list_status = ?"
            params.append(status)
        with self.catalog.connection() as conn:
            return int(conn.execute(sql, params).fetchone()["n"])

    def by_number(self, number: str) -> dict | None:
        with self.catalog.connection() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM invoice_index WHERE invoice_number = ?",
                               (number,)).fetchone()
        return None if row is None else _summary(row)


def _locks(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """The advisory locks of these contract-periods: a write that recomputes their list
    statuses holds them (PostgreSQL; SQLite's one write lock already covers it)."""
    return [f"invoice_index:{cid}:{period}" for cid, period in sorted(set(pairs))]


def _summary(r: Any) -> dict[str, Any]:
    return {"contract_id": r["contract_id"], "period": r["period"], "version": r["version"],
            "status": r["list_status"], "total_usd": cents_to_str(r["total_cents"]),
            "adjusts": r["adjusts"], "superseded_by": r["superseded_by"],
            "approval": json.loads(r["approval_json"]) if r["approval_json"] else None,
            "invoice_number": r["invoice_number"], "issue_date": r["issue_date"],
            "due_date": r["due_date"]}
