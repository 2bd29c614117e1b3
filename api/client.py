"""Typed HTTP client of the meter2cash API (``m2c --api URL``).

One method per endpoint; each returns the document the route returns (the same
documents ``api.views`` builds for the CLI's local path), and methods whose request
may change nothing (approve, add a contract, load sites, ingest) also say whether it
did. Problem responses map back onto the one error tree, so a CLI command behaves the
same locally and remotely: 400/413/422 -> ``InputError`` (exit 2), 404 ->
``NotFoundError``, 409 -> ``ConflictError``, anything else -> :class:`ApiError` (an
``M2CError``, exit 1). Connection failures are ``ApiError`` too, naming the URL; a 401
sent without a key says to set ``M2C_API_KEY``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from engine.errors import ConflictError, InputError, M2CError, NotFoundError
from jobs.states import TERMINAL_STATES



def _seg(value: str) -> str:
    """One URL path segment, percent-encoded."""
    return quote(str(value), safe="")


class ApiError(M2CError):
    """The API answered with an error outside the input/not-found/conflict classes."""

    def __init__(self, message: str, *, status: int | None = None,
                 problem: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


def _problem_message(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail") or body.get("title") or response.reason_phrase
    return f"{detail} (HTTP {response.status_code})", body


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the ``engine.errors`` exception matching an error response."""
    if response.is_success:
        return
    message, body = _problem_message(response)
    status = response.status_code
    if status in (400, 413, 422):
        raise InputError(message)
    if status == 404:
        raise NotFoundError(message)
    if status == 409:
        raise ConflictError(message)
    raise ApiError(message, status=status, problem=body)


class ApiClient:
    """A small synchronous client; one connection pool per instance (use as a context manager)."""

    def __init__(self, base_url: str, api_key: str | None, *, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None):
        if not base_url:
            raise InputError("no API URL: pass --api URL or set M2C_API_URL")
        headers = {"Accept": "application/json", "User-Agent": "m2c-client"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.has_key = bool(api_key)
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(f"cannot reach the m2c API at {self.base_url}: {exc}") from exc
        try:
            raise_for_problem(response)
        except ApiError as exc:
            if exc.status == 401 and not self.has_key:
                raise ApiError(f"{exc} -- no API key was sent: set M2C_API_KEY to a key from "
                               "`m2c keys create --role ROLE`", status=401,
                               problem=exc.problem) from None
            raise
        return response

    # -- jobs ---------------------------------------------------------------------------
    def submit_job(self, spec: dict[str, Any], idempotency_key: str | None = None) -> dict:
        """Submit a job spec; returns the job (new, or the one this request repeats)."""
        headers = {"Idempotency-Key": f'"{idempotency_key}"'} if idempotency_key else None
        return self._request("POST", "/v1/jobs", json=spec, headers=headers).json()

    def get_job(self, job_id: str) -> dict:
        return self._request("GET", f"/v1/jobs/{_seg(job_id)}").json()

    def list_jobs(self, kind: str | None = None, state: str | None = None, limit: int = 50,
                  cursor: str | None = None) -> dict:
        """One page: ``{"data": [...], "next_cursor": str | None}``."""
        params = {k: v for k, v in {"kind": kind, "state": state, "limit": limit,
                                    "cursor": cursor}.items() if v is not None}
        return self._request("GET", "/v1/jobs", params=params).json()

    def cancel_job(self, job_id: str) -> dict:
        return self._request("POST", f"/v1/jobs/{_seg(job_id)}/cancel").json()

    def wait_job(self, job_id: str, poll_s: float = 0.5,
                 on_progress: Callable[[dict], None] | None = None,
                 timeout_s: float | None = None) -> dict:
        """Poll until the job is terminal; ``on_progress(job)`` after every poll.

        Returns the terminal job document (its ``state`` says how it ended; this does not
        raise for a failed job). ``timeout_s`` bounds the wait (``ApiError``).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = self.get_job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["state"] in TERMINAL_STATES:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(f"job {job_id} still {job['state']} after {timeout_s:.0f} s")
            time.sleep(poll_s)

    # -- invoices -----------------------------------------------------------------------
    def get_invoice(self, contract: str, period: str, version: int | None = None,
                    fmt: str = "json", detail: bool = False) -> dict | str:
        """The invoice document (``fmt='json'``) or its HTML (``fmt='html'``).

        ``detail=True`` adds the interval-level rows (``doc["detail"]``; analyst and admin
        keys only).
        """
        if fmt not in ("json", "html"):
            raise InputError(f"invoice format must be json or html, got {fmt!r}")
        params: dict[str, Any] = {"format": fmt}
        if version is not None:
            params["version"] = version
        if detail:
            params["detail"] = "intervals"
        response = self._request("GET", f"/v1/invoices/{_seg(contract)}/{_seg(period)}", params=params)
        return response.text if fmt == "html" else response.json()

    def list_invoices(self, *, contract: str | None = None, period: str | None = None,
                      status: str | None = None, limit: int = 100,
                      cursor: str | None = None) -> dict:
        """One page: ``{"data": [summary, ...], "next_cursor": str | None}``."""
        params = {k: v for k, v in {"contract": contract, "period": period, "status": status,
                                    "limit": limit, "cursor": cursor}.items() if v is not None}
        return self._request("GET", "/v1/invoices", params=params).json()

    def approve_invoice(self, contract: str, period: str, version: int | None = None, *,
                        source: str = "cli", accept_estimated: bool = False) -> tuple[dict, bool]:
        """Approve; ``(invoice, created)``: created False if it was already approved."""
        body: dict[str, Any] = {"source": source}
        if version is not None:
            body["version"] = version
        if accept_estimated:
            body["accept_estimated"] = True
        response = self._request("POST", f"/v1/invoices/{_seg(contract)}/{_seg(period)}/approve",
                                 json=body)
        return response.json(), response.status_code == 201

    def explain_line(self, contract: str, period: str, line_id: str, version: int | None = None,
                     fmt: str = "csv") -> tuple[bytes, int]:
        """The interval rows behind one line as ``fmt`` (csv, json or parquet) bytes, and
        how many rows they are."""
        params: dict[str, Any] = {"format": fmt}
        if version is not None:
            params["version"] = version
        response = self._request("GET", f"/v1/invoices/{_seg(contract)}/{_seg(period)}/lines/"
                                        f"{_seg(line_id)}", params=params)
        return response.content, int(response.headers.get("X-Row-Count", "0"))

    # -- contracts ----------------------------------------------------------------------
    def list_contracts(self) -> list[dict]:
        return self._request("GET", "/v1/contracts").json()["data"]

    def get_contract(self, contract_id: str, version: int | None = None) -> dict:
        params = {"version": version} if version is not None else None
        return self._request("GET", f"/v1/contracts/{_seg(contract_id)}", params=params).json()

    def add_contract(self, document: dict[str, Any]) -> tuple[dict, bool]:
        """Store a contract version; ``(summary, created)``."""
        response = self._request("POST", "/v1/contracts", json=document)
        return response.json(), response.status_code == 201

    def contract_schema(self) -> dict:
        return self._request("GET", "/v1/contracts/schema").json()

    # -- sites and VEE ------------------------------------------------------------------
    def list_sites(self) -> dict:
        """``{"version": N | None, "sites": [...]}``."""
        return self._request("GET", "/v1/sites").json()

    def load_sites(self, document: dict[str, Any]) -> tuple[dict, bool]:
        """Merge a registry document; ``({"status", "version", "added", "replaced"}, created)``."""
        response = self._request("POST", "/v1/sites", json=document)
        return response.json(), response.status_code == 201

    def vee_report(self, site_id: str, period: str, as_of: int | None = None) -> dict:
        params = {"as_of": as_of} if as_of is not None else None
        return self._request("GET", f"/v1/sites/{_seg(site_id)}/vee/{_seg(period)}",
                             params=params).json()

    # -- carbon -------------------------------------------------------------------------
    def esg(self, path: str, params: dict[str, Any] | None = None) -> dict:
        """``GET /v1/esg/<path>`` (``api.routes.esg``): a report, the factors, certificates."""
        return self._request("GET", f"/v1/esg/{'/'.join(_seg(p) for p in path.split('/'))}",
                             params=params or None).json()

    # -- ingest -------------------------------------------------------------------------
    def ingest(self, table: str, paths: Sequence[Path], file_format: str | None = None,
               timeout_s: float = 600.0) -> dict:
        """Upload files (one multipart request: all of them land in one commit or none)."""
        params = {"format": file_format} if file_format else None
        handles = []
        try:
            for p in paths:
                try:
                    handles.append(("file", (Path(p).name, open(p, "rb"),
                                             "application/octet-stream")))
                except OSError as exc:
                    raise InputError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
            return self._request("POST", f"/v1/ingest/{_seg(table)}", params=params,
                                 files=handles, timeout=timeout_s).json()
        finally:
            for _, (_, fh, _) in handles:
                fh.close()

    # -- market -------------------------------------------------------------------------
    def market_statements(self) -> list[dict]:
        """The stored ISO statements (``GET /v1/market/statements``)."""
        return self._request("GET", "/v1/market/statements").json()

    # -- keys ---------------------------------------------------------------------------
    def create_key(self, role: str, label: str | None = None) -> dict:
        """A new key (admin); the key itself is in ``["key"]``, returned only once."""
        return self._request("POST", "/v1/keys", json={"role": role, "label": label}).json()

    def list_keys(self) -> list[dict]:
        return self._request("GET", "/v1/keys").json()["data"]

    def revoke_key(self, key_id: str) -> dict:
        return self._request("POST", f"/v1/keys/{_seg(key_id)}/revoke").json()
    # -- bankability --------------------------------------------------------------------
    def get_bankability(self, result_id: str, fmt: str = "json", part: str = "cashflow") -> dict | str:
        """A bankability result: its summary (``json``), report (``html``) or a CSV part
        (``csv``: ``part`` cashflow or paths)."""
        response = self._request("GET", f"/v1/bankability/{_seg(result_id)}",
                                 params={"format": fmt, "part": part})
        return response.json() if fmt == "json" else response.text

    def bankability_schema(self) -> dict:
        return self._request("GET", "/v1/bankability/schema").json()

    # -- scenarios ----------------------------------------------------------------------
    def scenario_schema(self) -> dict:
        return self._request("GET", "/v1/scenarios/schema").json()

    def list_scenarios(self) -> dict:
        """Stored scenario results: ``{"data": [...]}``."""
        return self._request("GET", "/v1/scenarios").json()

    def get_scenario(self, result_id: str, fmt: str = "json") -> dict | str:
        """A scenario result: the summary (``json``), the result table (``csv``) or the
        report (``html``)."""
        if fmt not in ("json", "csv", "html"):
            raise InputError(f"scenario format must be json, csv or html, got {fmt!r}")
        response = self._request("GET", f"/v1/scenarios/{_seg(result_id)}", params={"format": fmt})
        return response.json() if fmt == "json" else response.text

    # -- health -------------------------------------------------------------------------
    def ready(self) -> bool:
        try:
            return self._http.get("/readyz").status_code == 200
        except httpx.TransportError:
            return False
