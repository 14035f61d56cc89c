"""Dependencies of the custodian routers: its core and the operator's bearer check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from darkpool.custodian.core import CustodianCore
from darkpool.web.http import check_bearer
from darkpool.web.settings import CustodianSettings

__all__ = ["Core", "OperatorOnly", "Settings"]


async def get_core(request: Request) -> CustodianCore:
    core: CustodianCore = request.app.state.core
    return core


async def get_settings(request: Request) -> CustodianSettings:
    settings: CustodianSettings = request.app.state.settings
    return settings


async def require_operator(settings: Annotated[CustodianSettings, Depends(get_settings)],
                           authorization: Annotated[str | None, Header()] = None) -> None:
    """Let only the operator (its bearer token) open rounds, name slot owners and ask for decryptions."""
    check_bearer(authorization, settings.operator_token)


Core = Annotated[CustodianCore, Depends(get_core)]
Settings = Annotated[CustodianSettings, Depends(get_settings)]
OperatorOnly = Annotated[None, Depends(require_operator)]
