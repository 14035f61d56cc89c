"""Evaluation keys: public, by circuit id."""

from __future__ import annotations

from fastapi import APIRouter, Response

from darkpool.custodian.api.deps import Core

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("/{circuit_id}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "serialized keys"}})
def evaluation_keys(circuit_id: str, core: Core) -> Response:
    """The circuit's evaluation keys (public)."""
    return Response(core.evaluation_keys(circuit_id), media_type="application/octet-stream")
