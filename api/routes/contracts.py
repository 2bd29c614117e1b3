"""``/v1/contracts``: list contracts, read a version, add a version, the JSON Schema (the
HTTP twins of ``m2c contracts list | show | add | schema``).

``POST /v1/contracts`` takes the contract document itself (JSON; what a contract YAML
file holds) and is admin-only: a contract version changes what is billed. It is
validated against the schema and the site registry before anything is written, and is
idempotent: a document identical to the latest version stores nothing (**200**); a new
version is **201** with ``Location``. ``GET /v1/contracts/{id}`` returns the version's
``document``, which ``POST`` takes back (without its ``version``): a read can be
edited and sent back as the next version.
"""
from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from .. import views
from ..auth import CurrentPrincipal, Principal, require_admin, require_data
from ..deps import Ctx
from ..models import API_PREFIX
from ..problems import problem_responses
from .invoices import CONTRACT_PATTERN

router = APIRouter(prefix=f"{API_PREFIX}/contracts", tags=["contracts"])

ContractId = Annotated[str, Path(description="Contract id.", pattern=CONTRACT_PATTERN)]


class ContractSummary(BaseModel):
    contract_id: str = Field(description="Contract id.")
    versions: int = Field(description="Number of stored versions.")
    latest_version: int = Field(description="The latest version number.")
    timezone: str = Field(description="The contract's time zone (billing periods, TOU).")
    sites: list[str] = Field(description="Sites the contract settles.")
    term_start: str = Field(description="First day of the term (contract-local date).")
    term_end: str = Field(description="Last day of the term (contract-local date).")
    terms: list[str] = Field(description="Term kinds of the latest version, in order.")


class ContractsPublic(BaseModel):
    data: list[ContractSummary] = Field(description="Every contract, by id.")


class ContractVersionPublic(BaseModel):
    contract_id: str = Field(description="Contract id.")
    version: int = Field(description="The version shown.")
    versions: list[int] = Field(description="Every stored version number.")
    effective_from: str = Field(description="Date the version takes effect.")
    sha256: str = Field(description="SHA-256 of the stored canonical document.")
    document: dict[str, Any] = Field(description="The stored contract document; `POST` takes it "
                                                 "back without its `version` (the store numbers "
                                                 "versions).")
    price_schedule: dict[str, Any] = Field(description="The escalated prices by contract year "
                                                       "(`columns`, `years`).")


class ContractAdded(BaseModel):
    contract_id: str = Field(description="Contract id.")
    version: int = Field(description="The version stored (or the identical latest one).")
    created: bool = Field(description="True if a new version was stored.")
    effective_from: str = Field(description="Date the version takes effect.")
    sha256: str = Field(description="SHA-256 of the stored canonical document.")


@router.get("", response_model=ContractsPublic, summary="List contracts",
            responses=problem_responses(401, 403, 500, 503))
def list_contracts(ctx: Ctx, _: Annotated[Principal, Depends(require_data)]) -> ContractsPublic:
    return ContractsPublic(data=[ContractSummary(**c) for c in views.contract_summaries(ctx.store())])


@router.get("/schema", summary="JSON Schema of contract documents",
            description="The published JSON Schema (2020-12) every contract document is "
                        "validated against.",
            responses=problem_responses(401, 500))
def contract_schema(_: CurrentPrincipal) -> dict:
    from engine.contract import contract_schema as schema
    return schema()


@router.get("/{contract_id}", response_model=ContractVersionPublic,
            summary="Get a contract version",
            responses=problem_responses(401, 403, 404, 422, 500, 503))
def get_contract(ctx: Ctx, _: Annotated[Principal, Depends(require_data)],
                 contract_id: ContractId,
                 version: Annotated[int | None, Query(ge=1, le=1_000_000,
                                                      description="Version; latest if omitted.")] = None
                 ) -> ContractVersionPublic:
    return ContractVersionPublic(**views.contract_view(ctx.store(), contract_id, version))


@router.post(
    "", status_code=201, response_model=ContractAdded, summary="Add a contract version",
    description="Validate the document (JSON Schema, then the sites it names against the "
                "registry, then amendments against earlier versions) and store it as the "
                "contract's next version. **201** for a new version; **200** when the document "
                "is identical to the latest version (nothing stored). Admin only.",
    responses={201: {"description": "Stored as a new version.",
                     "headers": {"Location": {"description": "URL of the version.",
                                              "schema": {"type": "string"}}}},
               200: {"model": ContractAdded, "description": "Identical to the latest version."},
               **problem_responses(400, 401, 403, 409, 413, 422, 500, 503)},
)
def add_contract(ctx: Ctx, _: Annotated[Principal, Depends(require_admin)], response: Response,
                 document: Annotated[dict[str, Any], Body(
                     description="The contract document (the content of a contract YAML "
                                 "file, as JSON).")]) -> ContractAdded:
    cid = document.get("contract_id")
    source = f"contract {cid}" if isinstance(cid, str) and len(cid) <= 128 else "contract document"
    out, created = views.add_contract(ctx.store(), document, source=source)
    response.status_code = 201 if created else 200
    response.headers["Location"] = (f"{router.prefix}/{quote(out['contract_id'], safe='')}"
                                   f"?version={out['version']}")
    return ContractAdded(**out)
