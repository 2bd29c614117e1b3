"""Where a command runs: in this process over the store, or through a remote API.

Every command handler asks :func:`open_backend` for its backend and calls the same few
operations on it; this is the one place that chooses. :class:`Local` calls
:mod:`api.views` over the configured store and catalog; :class:`Remote` calls the API
(``m2c --api URL`` or ``M2C_API_URL``, key from ``M2C_API_KEY``) through
:class:`api.client.ApiClient`, whose routes call the same :mod:`api.views` on the
server. Both return the same documents, so a command prints the same thing either
way, and nothing falls back to the local store when an API is named.

A command that only makes sense where it runs (``demo``, ``serve``, ``cluster``,
``invoices reproduce``, ``market rules|reconcile``) is wrapped in :func:`local_only`: with an API named it exits 2
and says why, instead of silently using this machine's store.

Imports are lazy: building the argument parser imports this module, and ``m2c --help``
must not pay for the client, the store or the catalog.
"""
from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import InputError

from ..settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from engine.sites import Site

__all__ = ["Backend", "Local", "Remote", "open_backend", "local_only", "is_remote"]

Handler = Callable[[argparse.Namespace, Settings], int]


def is_remote(settings: Settings) -> bool:
    return bool(settings.api_url)


def local_only(command: str, why: str) -> Callable[[Handler], Handler]:
    """Decorate the handler of a command that runs on this machine only: with an API
    named (``--api`` or ``M2C_API_URL``) it is refused with exit 2, saying why."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(args: argparse.Namespace, settings: Settings) -> int:
            if is_remote(settings):
                raise InputError(f"`m2c {command}` is local-only ({why}); it does not go through "
                                 f"--api {settings.api_url}: run it without --api (and without "
                                 "M2C_API_URL) where the data lives")
            return handler(args, settings)
        run.local_only = why  # type: ignore[attr-defined]
        return run
    return wrap


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _os_user() -> str | None:
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):          # no passwd entry and no USER/LOGNAME (containers)
        return None


class Backend(Protocol):
    """The operations commands need; every return value is a JSON-able document."""

    where: str                      # "local" or the API's URL, for messages

    # invoices
    def list_invoices(self, contract: str | None, period: str | None,
                      status: str | None) -> list[dict]: ...
    def get_invoice(self, contract: str, period: str, version: int | None) -> dict: ...
    def invoice_html(self, contract: str, period: str, version: int | None) -> str: ...
    def approve_invoice(self, contract: str, period: str, version: int | None, *,
                        accept_estimated: bool = False) -> tuple[dict, bool]: ...
    def explain_line(self, contract: str, period: str, version: int | None, line_id: str,
                     fmt: str) -> tuple[bytes, int]: ...
    # contracts
    def list_contracts(self) -> list[dict]: ...
    def get_contract(self, contract_id: str, version: int | None) -> dict: ...
    def add_contract(self, document: dict, *, source: str) -> tuple[dict, bool]: ...
    def contract_schema(self) -> dict: ...
    # sites and VEE
    def list_sites(self) -> dict: ...
    def load_sites(self, sites: "dict[str, Site]") -> tuple[dict, bool]: ...
    def vee_report(self, site_id: str, period: str, as_of: int | None) -> dict: ...
    # ingest
    def ingest(self, table: str, paths: Sequence[Path], file_format: str | None) -> dict: ...
    # jobs
    def submit_job(self, spec: dict, *, idempotency_key: str | None, wait: bool,
                   bar: Any) -> dict: ...
    def get_job(self, job_id: str) -> dict: ...
    def list_jobs(self, kind: str | None, state: str | None, limit: int,
                  cursor: str | None) -> dict: ...
    def cancel_job(self, job_id: str) -> dict: ...
    # market
    def market_statements(self) -> list[dict]: ...
    # bankability
    def bankability_schema(self) -> dict: ...
    def bankability_result(self, result_id: str, fmt: str, part: str) -> dict | str: ...
    # scenarios
    def scenario_schema(self) -> dict: ...
    def list_scenarios(self) -> list[dict]: ...
    def scenario_result(self, result_id: str, fmt: str) -> dict | str: ...
    # keys
    def create_key(self, role: str, label: str | None) -> dict: ...
    def list_keys(self) -> list[dict]: ...
    def revoke_key(self, key_id: str) -> dict: ...

    def close(self) -> None: ...


class Local:
    """This process, over the configured store (``M2C_STORAGE``) and catalog (``M2C_DB``)."""

    where = "local"

    def __init__(self, settings: Settings):
        self.settings = settings
        self._store = None
        self._catalog = None

    @property
    def store(self):
        if self._store is None:
            from storage.objectstore import ObjectStore
            self._store = ObjectStore.from_config(self.settings.storage_config())
        return self._store

    @property
    def catalog(self):
        if self._catalog is None:
            from jobs.catalog import JobCatalog
            self._catalog = JobCatalog(self.settings.db_url)
            self._catalog.init_schema()
        return self._catalog

    # -- invoices
    def list_invoices(self, contract, period, status):
        from .. import views
        return _all_pages(lambda cursor: views.invoice_page(
            self.store, contract=contract, period=period, status=status, limit=views.MAX_PAGE,
            cursor=cursor))

    def _invoices(self):
        from storage.invoices import InvoiceStore
        return InvoiceStore(self.store)

    def get_invoice(self, contract, period, version):
        return self._invoices().get(contract, period, version)[0]

    def invoice_html(self, contract, period, version):
        return self._invoices().get(contract, period, version)[1]

    def approve_invoice(self, contract, period, version, *, accept_estimated=False):
        from .. import views
        # no API key locally: the approval names the operating-system user instead
        return views.approve_invoice(
            self.store, contract, period, version=version, now_utc=_now(),
            approved_by={"key_id": None, "role": None, "source": "cli", "user": _os_user()},
            accept_estimated=accept_estimated)

    def explain_line(self, contract, period, version, line_id, fmt):
        from .. import views
        return views.explain_line(self.store, contract, period, version, line_id, fmt)

    # -- contracts
    def list_contracts(self):
        from .. import views
        return views.contract_summaries(self.store)

    def get_contract(self, contract_id, version):
        from .. import views
        return views.contract_view(self.store, contract_id, version)

    def add_contract(self, document, *, source):
        from .. import views
        return views.add_contract(self.store, document, source=source)

    def contract_schema(self):
        from engine.contract import contract_schema
        return contract_schema()

    # -- sites and VEE
    def list_sites(self):
        from .. import views
        return views.sites_view(self.store)

    def load_sites(self, sites):
        from .. import views
        return views.load_sites(self.store, sites)

    def vee_report(self, site_id, period, as_of):
        from .. import views
        return views.vee_report(self.store, site_id, period, as_of)

    # -- ingest
    def ingest(self, table, paths, file_format):
        from .. import views
        return views.ingest_files(self.store, table, paths, file_format=file_format,
                                  now_utc=_now())

    # -- jobs
    @staticmethod
    def job_doc(record: Any) -> dict:
        from ..models import JobPublic
        return JobPublic.from_record(record).model_dump(mode="json")

    def submit_job(self, spec, *, idempotency_key, wait, bar):
        from .submit import run_local
        return run_local(spec, settings=self.settings, idempotency_key=idempotency_key,
                         wait=wait, bar=bar)

    def get_job(self, job_id):
        return self.job_doc(self.catalog.get(job_id))

    def list_jobs(self, kind, state, limit, cursor):
        records, next_cursor = self.catalog.list(kind=kind, state=state, limit=limit,
                                                 cursor=cursor)
        return {"data": [self.job_doc(r) for r in records], "next_cursor": next_cursor}

    def cancel_job(self, job_id):
        return self.job_doc(self.catalog.request_cancel(job_id, _now()))

    # -- market
    def market_statements(self):
        from storage.market import list_statements
        from storage.tables import Tables
        return list_statements(Tables(self.store))

    # -- bankability
    def bankability_schema(self):
        from engine.finance.model import model_schema
        return model_schema()

    def bankability_result(self, result_id, fmt, part):
        from .. import views
        return views.bankability_result(self.store, result_id, fmt, part)
    # -- scenarios
    def scenario_schema(self):
        from engine.scenario import scenario_schema
        return scenario_schema()

    def list_scenarios(self):
        from .. import views
        return views.scenario_results(self.store)

    def scenario_result(self, result_id, fmt):
        from .. import views
        return views.scenario_result(self.store, result_id, fmt)

    # -- keys
    def _keys(self):
        from ..keystore import KeyStore
        return KeyStore(self.settings.db_url)

    def create_key(self, role, label):
        record, key = self._keys().create(role, label=label, now_utc=_now())
        return {**record.to_dict(), "key": key}

    def list_keys(self):
        return [r.to_dict() for r in self._keys().list()]

    def revoke_key(self, key_id):
        keys = self._keys()
        keys.revoke(key_id, now_utc=_now())
        return keys.get(key_id).to_dict()

    def close(self) -> None:
        pass


def _jsonable(doc: Any) -> Any:
    """A document read from YAML as JSON types (YAML dates become ISO strings)."""
    import json
    return json.loads(json.dumps(doc, default=lambda v: v.isoformat() if hasattr(v, "isoformat")
                                 else str(v)))


def _all_pages(page: Callable[[str | None], dict]) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        doc = page(cursor)
        out += doc["data"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return out


class Remote:
    """The API at ``settings.api_url`` (key ``M2C_API_KEY``); nothing is read locally."""

    def __init__(self, settings: Settings):
        from ..client import ApiClient
        self.where = str(settings.api_url)
        self.client = ApiClient(str(settings.api_url), settings.api_key)

    # -- invoices
    def list_invoices(self, contract, period, status):
        items = _all_pages(lambda cursor: self.client.list_invoices(
            contract=contract, period=period, status=status, limit=500, cursor=cursor))
        return [{k: v for k, v in i.items() if k != "href"} for i in items]

    def get_invoice(self, contract, period, version):
        return self.client.get_invoice(contract, period, version)

    def invoice_html(self, contract, period, version):
        return self.client.get_invoice(contract, period, version, fmt="html")

    def approve_invoice(self, contract, period, version, *, accept_estimated=False):
        return self.client.approve_invoice(contract, period, version, source="cli",
                                           accept_estimated=accept_estimated)

    def explain_line(self, contract, period, version, line_id, fmt):
        return self.client.explain_line(contract, period, line_id, version, fmt)

    # -- contracts
    def list_contracts(self):
        return self.client.list_contracts()

    def get_contract(self, contract_id, version):
        return self.client.get_contract(contract_id, version)

    def add_contract(self, document, *, source):
        return self.client.add_contract(_jsonable(document))

    def contract_schema(self):
        return self.client.contract_schema()

    # -- sites and VEE
    def list_sites(self):
        return self.client.list_sites()

    def load_sites(self, sites):
        from engine.sites import sites_to_doc
        return self.client.load_sites(sites_to_doc(sites))

    def vee_report(self, site_id, period, as_of):
        return self.client.vee_report(site_id, period, as_of)

    # -- ingest
    def ingest(self, table, paths, file_format):
        return self.client.ingest(table, paths, file_format)

    # -- jobs
    def submit_job(self, spec, *, idempotency_key, wait, bar):
        from .submit import follow
        job = self.client.submit_job(spec, idempotency_key=idempotency_key)
        return follow(lambda: self.client.get_job(job["id"]), bar) if wait else job

    def get_job(self, job_id):
        return self.client.get_job(job_id)

    def list_jobs(self, kind, state, limit, cursor):
        return self.client.list_jobs(kind=kind, state=state, limit=limit, cursor=cursor)

    def cancel_job(self, job_id):
        return self.client.cancel_job(job_id)

    # -- market
    def market_statements(self):
        return self.client.market_statements()

    # -- bankability
    def bankability_schema(self):
        return self.client.bankability_schema()

    def bankability_result(self, result_id, fmt, part):
        return self.client.get_bankability(result_id, fmt, part)
    # -- scenarios
    def scenario_schema(self):
        return self.client.scenario_schema()

    def list_scenarios(self):
        return self.client.list_scenarios()["data"]

    def scenario_result(self, result_id, fmt):
        return self.client.get_scenario(result_id, fmt)

    # -- keys
    def create_key(self, role, label):
        return self.client.create_key(role, label)

    def list_keys(self):
        return self.client.list_keys()

    def revoke_key(self, key_id):
        return self.client.revoke_key(key_id)

    def close(self) -> None:
        self.client.close()


@contextmanager
def open_backend(settings: Settings) -> Iterator[Backend]:
    """The backend for ``settings``: :class:`Remote` when an API URL is set, else
    :class:`Local`; closed on exit."""
    backend: Backend = Remote(settings) if is_remote(settings) else Local(settings)
    try:
        yield backend
    finally:
        backend.close()
