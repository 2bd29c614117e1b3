"""``/v1/sites``: the site registry and the VEE report of a site-month (the HTTP twins of
``m2c sites list | load`` and ``m2c vee``).

``POST /v1/sites`` takes a registry document (``{"sites": [...]}``, what a registry YAML
file holds) and merges it into the stored registry as a new version: a site whose id is
new is added, a site whose id exists is replaced whole (channels included), the others
are kept. Admin only, validated before anything is written (errors name the field
path, e.g. ``sites[0].channels.gt1.kind``), and idempotent: a document whose every site
is already registered as given writes nothing (**200**; a new version is **201**).

``GET /v1/sites/{site}/vee/{period}`` is the report ``m2c vee`` prints: the site-local
month read and validated exactly as a settlement of it would be.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from .. import views
from ..auth import Principal, require_admin, require_data
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses
from .invoices import PERIOD_PATTERN

router = APIRouter(prefix=f"{API_PREFIX}/sites", tags=["sites"])

SITE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SitesPublic(BaseModel):
    version: int | None = Field(description="Registry version; null while none is saved.")
    sites: list[dict[str, Any]] = Field(description="The sites, by id (registry document form).")


class SitesLoaded(BaseModel):
    status: str = Field(description="`saved` (a new registry version) or `unchanged`.")
    version: int = Field(description="The registry version now current.")
    added: list[str] = Field(description="Site ids added.")
    replaced: list[str] = Field(description="Site ids replaced whole.")


@router.get("", response_model=SitesPublic, summary="The site registry",
            responses=problem_responses(401, 403, 500, 503))
def list_sites(ctx: Ctx, _: Annotated[Principal, Depends(require_data)]) -> SitesPublic:
    return SitesPublic(**views.sites_view(ctx.store()))


@router.post(
    "", status_code=201, response_model=SitesLoaded, summary="Load sites into the registry",
    description="Merge a registry document into the registry as a new version (new ids "
                "added, existing ids replaced whole). **201** for a new version, **200** when "
                "nothing changes. Admin only.",
    responses={200: {"model": SitesLoaded, "description": "Every site already registered as "
                                                          "given; nothing written."},
               **problem_responses(400, 401, 403, 409, 413, 422, 500, 503)},
)
def load_sites(ctx: Ctx, _: Annotated[Principal, Depends(require_admin)], response: Response,
               document: Annotated[dict[str, Any], Body(
                   description="A registry document: `{\"sites\": [...]}`.")]) -> SitesLoaded:
    from engine.sites import parse_sites
    incoming = parse_sites(document, "site registry")
    out, created = views.load_sites(ctx.store(), incoming)
    response.status_code = 201 if created else 200
    return SitesLoaded(**out)


@router.get(
    "/{site_id}/vee/{period}", summary="VEE report of a site-month",
    description="Validation and estimation of one site-local month, as a settlement of it "
                "reads it: counts of actual, estimated and missing intervals per channel, "
                "findings (gaps, spikes, DST, limits) and energy.",
    responses={200: {"description": "The VEE report document.",
                     "content": {"application/json": {"schema": {"type": "object"}}}},
               **problem_responses(400, 401, 403, 404, 422, 500, 503)},
)
def vee_report(ctx: Ctx, _: Annotated[Principal, Depends(require_data)],
               site_id: Annotated[str, Path(description="Site id.", pattern=SITE_PATTERN)],
               period: Annotated[str, Path(description="Site-local month YYYY-MM.",
                                           pattern=PERIOD_PATTERN)],
               as_of: Annotated[int | None, Query(ge=0, description="Meter data version to read; "
                                                                    "default the current one.")] = None
               ) -> dict:
    return views.vee_report(ctx.store(), site_id, period, as_of)
