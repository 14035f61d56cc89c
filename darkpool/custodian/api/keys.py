"""Public keys: evaluation keys by circuit id, and the custodian's signing identity."""

from __future__ import annotations

from fastapi import APIRouter, Response

from darkpool.custodian.api.deps import Core
from darkpool.custodian.api.schemas import IdentityView

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("/{circuit_id}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "serialized keys"}})
def evaluation_keys(circuit_id: str, core: Core, key_id: str | None = None) -> Response:
    """The evaluation keys (public) of the circuit's key set ``key_id`` (default: the latest epoch's)."""
    return Response(core.evaluation_keys(circuit_id, key_id), media_type="application/octet-stream")


identity_router = APIRouter(tags=["keys"])


@identity_router.get("/identity")
def identity(core: Core) -> IdentityView:
    """The address that signs this custodian's mask deliveries (clients pin it)."""
    return IdentityView(address=core.address)
