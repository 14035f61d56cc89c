"""Frozen service settings from the environment (``DARKPOOL_*``) or keyword arguments; unknown keys are refused."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from darkpool.errors import ValidationError

__all__ = ["CustodianSettings", "OperatorSettings", "parse_shapes"]


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """Parse ``"4x4x255,8x8x255"`` into integer tuples."""
    try:
        return [tuple(int(x) for x in part.strip().split("x")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(f"shapes must look like 4x4x255,8x8x63, got {text!r}") from None


class OperatorSettings(BaseSettings):
    """Settings of ``darkpool serve``.

    ``journal`` is a SQLite path or a ``postgresql://`` URL. ``rpc_url`` with ``vault`` and
    ``operator_address`` connects settlement to a JSON-RPC chain; without them the operator runs
    without a chain unless the app factory is handed one. ``admin_token`` guards operator-only
    endpoints (round control, deposit feed, batches).
    """

    model_config = SettingsConfigDict(env_prefix="DARKPOOL_", frozen=True, extra="forbid")

    journal: str = "darkpool-journal.db"
    chain_id: int = 31337
    vault: str = "0x" + "00" * 19 + "01"
    token: str = "0x" + "00" * 19 + "02"
    operator_address: str | None = None
    rpc_url: str | None = None
    admin_token: str
    rate_per_s: float = 200.0
    rate_burst: float = 400.0
    mark_max_age_s: int = 60
    deposit_poll_s: float = 0.0
    """Poll the vault's Deposited events this often (0: only on POST /admin/deposits/sync)."""
    custodian_url: str | None = None
    custodian_token: str | None = None
    fhe_cache_dir: str | None = None
    fhe_simulate: bool = False
    fhe_max_quantity: int = 255
    fhe_shapes: str = ""
    """Round shapes ``SLOTSxLEVELS`` (comma separated) to compile at start-up, e.g. ``4x4,8x8``."""
    data_dir: str = "."
    sealing_key_file: str | None = None
    host: str = "127.0.0.1"
    port: int = 8400


class CustodianSettings(BaseSettings):
    """Settings of ``darkpool custodian``; ``operator_token`` authenticates the operator to it."""

    model_config = SettingsConfigDict(env_prefix="DARKPOOL_CUSTODIAN_", frozen=True, extra="forbid")

    chain_id: int = 31337
    vault: str = "0x" + "00" * 19 + "01"
    operator_token: str
    log: str = "darkpool-custodian-log.jsonl"
    key_dir: str = ".darkpool-keys"
    cache_dir: str | None = None
    simulate: bool = False
    shapes: str = ""
    """Round shapes ``SLOTSxLEVELSxMAXLOTS`` (comma separated) to compile and key at start-up."""
    host: str = "127.0.0.1"
    port: int = 8401
