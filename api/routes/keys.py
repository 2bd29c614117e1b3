"""``/v1/keys``: API-key management for admins (the HTTP twin of ``m2c keys``).

A created key is returned once, in the 201 body; afterwards only its id, role and
dates are visible. Revocation is immediate in this process and reaches other API
processes within their key-cache TTL.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Principal, Role, require_admin
from ..deps import Ctx
from ..keystore import ApiKeyRecord
from ..models import API_PREFIX
from ..problems import problem_responses

router = APIRouter(prefix=f"{API_PREFIX}/keys", tags=["keys"])

Admin = Annotated[Principal, Depends(require_admin)]
KeyId = Annotated[str, Path(description="Public key id (12 hex characters).",
                            pattern=r"^[0-9a-f]{12}$")]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Field(description="scheduler, analyst, investor or admin.")
    label: str | None = Field(None, max_length=200,
                              description="Free text: who or what uses the key.")


class KeyPublic(BaseModel):
    key_id: str = Field(description="Public id; the prefix of the key itself.")
    role: Role = Field(description="The key's role.")
    label: str | None = Field(description="Free text given at creation.")
    created_at: datetime = Field(description="Creation time (UTC).")
    revoked_at: datetime | None = Field(description="Revocation time (UTC); null while active.")

    @classmethod
    def from_record(cls, r: ApiKeyRecord) -> "KeyPublic":
        return cls(key_id=r.key_id, role=r.role, label=r.label, created_at=r.created_at,
                   revoked_at=r.revoked_at)


class KeyCreated(KeyPublic):
    key: str = Field(description="The API key. Shown only in this response: store it now.")


class KeysPublic(BaseModel):
    data: list[KeyPublic] = Field(description="Every key, oldest first.")


@router.post("", status_code=201, response_model=KeyCreated, summary="Create an API key",
             responses={201: {"description": "Created; the key is in the body, once.",
                              "headers": {"Location": {"description": "URL of the key record.",
                                                       "schema": {"type": "string"}}}},
                        **problem_responses(400, 401, 403, 422, 500)})
def create_key(ctx: Ctx, _: Admin, response: Response,
               body: Annotated[KeyCreate, Body(description="Role and label of the new key.")]
               ) -> KeyCreated:
    record, key = ctx.keys.create(body.role, label=body.label, now_utc=ctx.clock())
    response.headers["Location"] = f"{router.prefix}/{record.key_id}"
    return KeyCreated(**KeyPublic.from_record(record).model_dump(), key=key)


@router.get("", response_model=KeysPublic, summary="List API keys",
            responses=problem_responses(401, 403, 500))
def list_keys(ctx: Ctx, _: Admin) -> KeysPublic:
    return KeysPublic(data=[KeyPublic.from_record(r) for r in ctx.keys.list()])


@router.get("/{key_id}", response_model=KeyPublic, summary="Get an API key's record",
            responses=problem_responses(401, 403, 404, 422, 500))
def get_key(ctx: Ctx, _: Admin, key_id: KeyId) -> KeyPublic:
    return KeyPublic.from_record(ctx.keys.get(key_id))


@router.post("/{key_id}/revoke", response_model=KeyPublic, summary="Revoke an API key",
             description="404 if no active key has this id (unknown or already revoked).",
             responses=problem_responses(401, 403, 404, 422, 500))
def revoke_key(ctx: Ctx, _: Admin, key_id: KeyId) -> KeyPublic:
    ctx.keys.revoke(key_id, now_utc=ctx.clock())
    return KeyPublic.from_record(ctx.keys.get(key_id))
