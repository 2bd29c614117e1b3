"""``/v1/esg``: carbon reports, the emission factors and granular certificates (read-only).

* ``GET /v1/esg/sites/{site_id}`` and ``GET /v1/esg/contracts/{contract_id}`` with
  ``?period=YYYY-MM`` or ``?year=YYYY`` (and ``?gwp=AR4|AR5``, ``?format=json|csv|html``):
  the ESG report (``jobs.carbon.esg_report``: GHG Protocol Scope 1, Scope 2 location- and
  market-based, the 24/7 CFE score beside volumetric matching, per month and per site, the
  hourly CFE heat map), computed on request as of the current data versions it states.
  **Every role** may read these summaries (the scheduler and investor too: they hold no
  interval data and no amount).
* ``GET /v1/esg/factors``: the emission-factor document in use (every row cited) and the GWP
  sets; every role.
* ``GET /v1/esg/sites/{site_id}/certificates`` (``?account=``, ``?as_of=`` a registry
  version): the site's certificates in EnergyTag's GC Registry API v2 shape; roles that
  read data (analyst, admin), as they are per generator and hour.

Plain ``def`` routes: a report validates meter data (CPU and store reads), so it runs in
the thread pool, off the event loop. The writes (issue, transfer, cancel) are ``m2c esg
certificates`` commands on the machine holding the store.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import CurrentPrincipal, Principal, require_data
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import ProblemError, problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/esg", tags=["esg"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


class Gwp(StrEnum):
    AR4 = "AR4"
    AR5 = "AR5"


def _store(ctx):
    return ctx.invoices().store


def _report(ctx, *, site: str | None, contract: str | None, period: str | None, year: int | None,
            gwp: Gwp | None, fmt: ReportFormat):
    from engine.carbon.report import render_csv, render_html
    from jobs.carbon import esg_report
    from storage.tables import Tables
    if (period is None) == (year is None):
        raise ProblemError(422, "invalid-query", "give period=YYYY-MM or year=YYYY (one of them)")
    store = _store(ctx)
    doc = esg_report(store, Tables(store), site=site, contract=contract, period=period, year=year,
                     gwp=gwp.value if gwp else None)
    if fmt is ReportFormat.CSV:
        return PlainTextResponse(render_csv(doc), media_type="text/csv")
    if fmt is ReportFormat.HTML:
        return HTMLResponse(render_html(doc))
    return JSONResponse(doc)


class ReportQuery(BaseModel):
    """Query of the ESG reports; unknown parameters are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")

    period: str | None = Field(None, pattern=PERIOD_PATTERN, description="a billing month YYYY-MM (or year)")
    year: int | None = Field(None, ge=1970, le=2199, description="a calendar year of months (or period)")
    gwp: Gwp | None = Field(None, description="GWP set for CO2e (default: the regulatory default, AR5)")
    format: ReportFormat = Field(ReportFormat.JSON, description="json, csv or an offline html page")


class CertificatesQuery(BaseModel):
    """Query of ``GET /v1/esg/sites/{site_id}/certificates``; unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid")

    account: str | None = Field(None, pattern=ID_PATTERN, description="certificates held by this account")
    as_of: int | None = Field(None, ge=0, description="the registry as of this version (default: latest)")


class NoQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")


@router.get("/sites/{site_id}", summary="ESG report of a site",
            description="Scope 1, Scope 2 (location- and market-based), CFE score and heat map of one "
                        "traced site over a month or a year; every role.",
            responses=problem_responses(400, 401, 422))
def site_report(ctx: Ctx, _: CurrentPrincipal, site_id: Annotated[str, Path(pattern=ID_PATTERN)],
                query: Annotated[ReportQuery, Query()]):
    return _report(ctx, site=site_id, contract=None, period=query.period, year=query.year, gwp=query.gwp,
                   fmt=query.format)


@router.get("/contracts/{contract_id}", summary="ESG report of a contract",
            description="The ESG report of a contract's traced sites, with its delivered energy's "
                        "intensity, over a month or a year; every role.",
            responses=problem_responses(400, 401, 422))
def contract_report(ctx: Ctx, _: CurrentPrincipal, contract_id: Annotated[str, Path(pattern=ID_PATTERN)],
                    query: Annotated[ReportQuery, Query()]):
    return _report(ctx, site=None, contract=contract_id, period=query.period, year=query.year, gwp=query.gwp,
                   fmt=query.format)


@router.get("/factors", summary="The emission factors and GWP sets in use",
            responses=problem_responses(401, 422))
def factors(_: CurrentPrincipal, query: Annotated[NoQuery, Query()]) -> JSONResponse:
    from engine.carbon.factors import factor_set
    fs = factor_set()
    return JSONResponse({"ref": fs.ref, "sha256": fs.sha256, **fs.document})


@router.get("/sites/{site_id}/certificates",
            summary="A site's granular certificates (EnergyTag GC Registry API v2 shape)",
            responses=problem_responses(401, 403, 404, 422))
def certificates(ctx: Ctx, _: Annotated[Principal, Depends(require_data)],
                 site_id: Annotated[str, Path(pattern=ID_PATTERN)],
                 query: Annotated[CertificatesQuery, Query()]) -> JSONResponse:
    from storage.certificates import CertificateRegistry
    reg = CertificateRegistry(_store(ctx))
    return JSONResponse(CertificateRegistry.export(reg.state(query.as_of), site_id=site_id,
                                                   account=query.account))
