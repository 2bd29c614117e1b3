"""What the routes get injected: the per-app context, built by :func:`api.app.create_app`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from jobs.catalog import JobCatalog

from .dispatch import JobDispatcher
from .keystore import KeyStore
from .settings import Settings
from .telemetry import ApiMetrics

if TYPE_CHECKING:  # pragma: no cover
    from storage.invoices import InvoiceStore
    from storage.objectstore import ObjectStore


@dataclass
class AppContext:
    """Everything one API process holds; ``app.state.ctx``."""

    settings: Settings
    catalog: JobCatalog
    keys: KeyStore
    dispatcher: JobDispatcher
    metrics: ApiMetrics
    clock: Callable[[], datetime]        # aware UTC "now"; read here, passed down as now_utc
    executor_connected: bool = False     # the dispatcher connected to Ray
    reconciled: bool = False             # the full reconcile ran since connecting
    watched_jobs: set[str] = field(default_factory=set)   # non-terminal at the last pass
    _invoices: "InvoiceStore | None" = field(default=None, repr=False)
    _store: "ObjectStore | None" = field(default=None, repr=False)

    def object_store(self) -> "ObjectStore":
        """The configured object store (built on first use)."""
        if self._store is None:
            from storage.objectstore import ObjectStore
            self._store = ObjectStore.from_config(self.settings.storage_config())
        return self._store

    def invoices(self) -> "InvoiceStore":
        """The invoice store over the configured object store (built on first use)."""
        if self._invoices is None:
            from storage.invoices import InvoiceStore
            from storage.objectstore import ObjectStore
            self._invoices = InvoiceStore(ObjectStore.from_config(self.settings.storage_config()))
        return self._invoices

    def store(self) -> "ObjectStore":
        """The configured object store (for ``api.views``; one per process)."""
        return self.invoices().store


async def get_ctx(request: Request) -> AppContext:
    """``async``: a sync dependency would cost a thread-pool hop on every request."""
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(get_ctx)]
