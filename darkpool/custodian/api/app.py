"""``create_custodian_app``: the key custodian's FastAPI app (``darkpool custodian``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI

from darkpool.crypto.sealing import load_or_create_key, private_dir
from darkpool.custodian.announcements import AnnouncedRounds
from darkpool.custodian.api import keys, log, operations, rounds
from darkpool.custodian.core import CustodianCore
from darkpool.signing import SigningDomain
from darkpool.web.http import ERROR_RESPONSES, install_error_handlers
from darkpool.web.observability import install_observability
from darkpool.web.settings import CustodianSettings, parse_shapes

__all__ = ["create_custodian_app"]


def create_custodian_app(settings: CustodianSettings, *, clock: Callable[[], int] | None = None) -> FastAPI:
    """Build the custodian app; keys are generated (or loaded) per circuit shape now or on first use."""
    settings.check_startable()
    key_dir = private_dir(settings.secrets_path())
    core = CustodianCore(SigningDomain(settings.chain_id, settings.vault), clock or (lambda: int(time.time())),
                         key_dir, Path(settings.log), Path(settings.cache_dir) if settings.cache_dir else None,
                         settings.simulate, signing_key=load_or_create_key(key_dir / "mask-signing.key"),
                         verifiers=settings.verifier_addresses(), verifier_quorum=settings.verifier_quorum,
                         halt_after_void_rounds=settings.halt_after_void_rounds, epoch_rounds=settings.epoch_rounds,
                         announcements=AnnouncedRounds(settings.operator_url) if settings.operator_url else None)
    for slots, levels, max_quantity, *groups in parse_shapes(settings.shapes):
        core.prepare(slots, levels, max_quantity, *groups[:1])
    app = FastAPI(title="darkpool key custodian", version="1", responses=ERROR_RESPONSES,
                  description="Per-round masks, Enc(R), decryption of declared round outputs once, its log.")
    app.state.core = core
    app.state.settings = settings
    install_error_handlers(app)
    install_observability(app, operations.CustodianMetrics(core))
    for module in (rounds, keys, log, operations):
        app.include_router(module.router)
    app.include_router(keys.identity_router)
    return app
