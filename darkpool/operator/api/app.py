"""``create_operator_app``: the operator's FastAPI app (``darkpool serve``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from darkpool.crypto.sealing import Sealer, load_or_create_key, private_dir
from darkpool.crypto.secp256k1 import address_of
from darkpool.errors import DarkPoolError, NotConfigured
from darkpool.ledger import Journal, open_store
from darkpool.margin import MarginConfig, parse_correlations
from darkpool.operator.api import accounts, admin, audit, batches, fhe, info, operations, rounds, withdrawals
from darkpool.operator.api.fast_path import OperatorApp
from darkpool.operator.api.recovery import SignerRecovery
from darkpool.operator.core import CoreConfig, OperatorCore, Settler
from darkpool.operator.instruments import DEFAULT_VOLS, default_instruments
from darkpool.signing import SigningDomain
from darkpool.web.http import ERROR_RESPONSES, DurableWaiter, install_error_handlers
from darkpool.web.limits import BodyLimit
from darkpool.web.observability import install_observability
from darkpool.web.ratelimit import RateLimiter
from darkpool.web.settings import OperatorSettings

__all__ = ["create_operator_app", "create_operator_core"]

_log = logging.getLogger("darkpool.operator")


def _key_path(settings: OperatorSettings, name: str) -> Path:
    """Where a secret key of the operator lives: a 0600 file in its 0700 secrets directory."""
    return private_dir(settings.secrets_path()) / f"{name}.key"


def _sealer(settings: OperatorSettings) -> Sealer:
    return Sealer(load_or_create_key(_key_path(settings, "sealing")))


def _operator_key(settings: OperatorSettings) -> bytes:
    """The key that signs commit-reveal receipts: a valid secp256k1 scalar, made on first start."""
    return load_or_create_key(_key_path(settings, "receipt-signing"))


def _fhe_backend(settings: OperatorSettings) -> Any:
    if settings.custodian_url is None:
        return None
    from darkpool.operator.fhe_backend import CustodianFheBackend
    from darkpool.web.settings import parse_shapes

    options: dict[str, Any] = {}
    backend_class: type[CustodianFheBackend] = CustodianFheBackend
    if settings.fhe_backend == "ray":
        from darkpool.operator.fhe_ray import RayFheBackend

        backend_class = RayFheBackend
        options = {"ray_address": settings.ray_address, "ray_cpus": settings.ray_cpus}
    backend = backend_class(settings.custodian_url, settings.custodian_token or "", settings.fhe_cache_dir,
                            simulate=settings.fhe_simulate, max_quantity=settings.fhe_max_quantity,
                            data_dir=settings.data_dir, operator_address=address_of(_operator_key(settings)),
                            verifiers=settings.verifier_url_list(), verifier_token=settings.verifier_token or "",
                            groups=settings.fhe_split_groups, **options)
    for slots, levels, *_ in parse_shapes(settings.fhe_shapes):
        backend.prepare(slots, levels)
    return backend


def create_operator_core(settings: OperatorSettings, *, clock: Callable[[], int] | None = None,
                         settler: Settler | None = None, chain: Any = None,
                         fhe_backend: Any = None) -> OperatorCore:
    """Open the journal, replay it and return the core (chain from ``settler``, ``chain`` or ``rpc_url``)."""
    settings.check_startable()
    if settler is None and settings.operator_address is not None and (chain is not None or settings.rpc_url):
        from darkpool.operator.settler import ChainSettler

        if chain is None:
            from darkpool.settlement import RpcChain

            chain = RpcChain(settings.rpc_url or "")
        settler = ChainSettler(chain, settings.vault, settings.operator_address)
    config = CoreConfig(
        domain=SigningDomain(settings.chain_id, settings.vault),
        token=settings.token.lower(),
        instruments=default_instruments(settings.option_expiry),
        margin=MarginConfig(mark_max_age_s=settings.mark_max_age_s, funding_interval_s=settings.funding_interval_s,
                            correlations=parse_correlations(settings.margin_correlations)),
        implied_vols=DEFAULT_VOLS,
        operator_key=_operator_key(settings),
    )
    core = OperatorCore(Journal(open_store(settings.journal)), config, clock or (lambda: int(time.time())), settler,
                        fhe_backend=fhe_backend if fhe_backend is not None else _fhe_backend(settings),
                        sealer=_sealer(settings))
    core.oracle_max_move = settings.oracle_max_move
    if settings.oracles:
        from darkpool.settlement import RpcChain
        from darkpool.settlement.oracle import PriceFeed

        if chain is None and not settings.rpc_url:
            raise NotConfigured("oracles need a chain: set rpc_url")
        feed_chain = chain if chain is not None else RpcChain(settings.rpc_url or "")
        for pair in settings.oracles.split(","):
            underlying, _, address = pair.partition("=")
            core.price_feeds[underlying.strip()] = PriceFeed(feed_chain, address.strip())
    return core


async def _attempt(step: Callable[[], Any], what: str) -> tuple[bool, Any]:
    """Run a background ``step`` in the thread pool: ``(True, its result)``, or ``(False, None)`` with the error
    logged (an unexpected one with its traceback). A background loop never dies of an error, as a dead poller
    would stop crediting deposits or reading marks with nothing to show for it."""
    from starlette.concurrency import run_in_threadpool

    try:
        return True, await run_in_threadpool(step)
    except (DarkPoolError, httpx.HTTPError) as exc:  # refused, or a peer (custodian, node) unreachable
        _log.warning("%s failed: %s", what, exc)
    except Exception:  # a node's or a library's own error
        _log.exception("%s failed unexpectedly", what)
    return False, None


async def _poll_deposits(core: OperatorCore, every_s: float) -> None:
    """Credit new vault deposits every ``every_s`` seconds (errors are logged and retried)."""
    from darkpool.operator.chain_watch import sync_deposits

    while True:
        await _attempt(lambda: sync_deposits(core), "deposit sync")
        await asyncio.sleep(every_s)


async def _poll_market(core: OperatorCore, every_s: float) -> None:
    """Every ``every_s`` seconds: read the price feeds (which settles due expiries), then pay due funding.

    What each step journals is durable at the next group commit; nobody waits on it. Errors, the
    unexpected ones too, are logged and the next tick retries: a feed that cannot be read halts
    nothing by itself, and the poller never dies.
    """
    while True:
        await _attempt(core.pull_marks, "market poll: pull_marks")
        await _attempt(core.accrue_funding, "market poll: accrue_funding")
        await asyncio.sleep(every_s)


async def _spend_orphans(core: OperatorCore, retry_s: float = 5.0) -> None:
    """Once at start-up: spend the rounds the custodian holds open that the journal does not know (an FHE open
    cut short by a crash), retrying every ``retry_s`` seconds until the custodian answers."""
    from darkpool.operator.rounds_fhe import spend_orphans

    while True:
        done, spent = await _attempt(lambda: spend_orphans(core), "custodian orphan check")
        if done:
            if spent:
                _log.info("custodian rounds the journal does not know spent", extra={"rounds": spent})
            return
        await asyncio.sleep(retry_s)


def create_operator_app(settings: OperatorSettings, *, clock: Callable[[], int] | None = None,
                        settler: Settler | None = None, chain: Any = None, fhe_backend: Any = None,
                        monotonic: Callable[[], float] = time.monotonic) -> FastAPI:
    """Build the operator app: open and replay the journal now, close it when the app shuts down."""
    core = create_operator_core(settings, clock=clock, settler=settler, chain=chain, fhe_backend=fhe_backend)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.recovery.start()
        pollers = []
        if settings.deposit_poll_s > 0 and core.settler is not None:
            pollers.append(asyncio.create_task(_poll_deposits(core, settings.deposit_poll_s)))
        if settings.market_poll_s > 0:
            pollers.append(asyncio.create_task(_poll_market(core, settings.market_poll_s)))
        if core.fhe_backend is not None:
            pollers.append(asyncio.create_task(_spend_orphans(core)))
        yield
        for poller in pollers:
            poller.cancel()
        await app.state.recovery.stop()
        core.journal.close()

    app = OperatorApp(title="darkpool operator", version="1", responses=ERROR_RESPONSES, lifespan=lifespan,
                  description="Sealed batch auctions (FHE and commit-reveal), margin, journal and settlement.")
    app.state.settings = settings
    app.state.core = core
    app.state.recovery = SignerRecovery()  # started with the app: recovers in a child process
    app.state.durable = DurableWaiter(core.journal)  # the order endpoint's acknowledgements wait on it
    app.state.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst, monotonic)
    # A network peer may carry many institutions (a gateway): ten accounts' worth before verification.
    app.state.peer_limiter = RateLimiter(10 * settings.rate_per_s, 10 * settings.rate_burst, monotonic)
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    install_observability(app, operations.OperatorMetrics(core))
    # The order endpoints come first: routes are matched in order and they carry the load.
    for module in (rounds, fhe, withdrawals, accounts, batches, audit, admin, info, operations):
        app.include_router(module.router)
    return app
