"""Frozen service settings from the environment (``DARKPOOL_*``) or keyword arguments; unknown keys are refused.

Secrets are handled as secrets: tokens come from the environment or from a 0600 ``*_token_file``
(never the command line, see :mod:`darkpool.cli`), and a service refuses to start
(:meth:`OperatorSettings.check_startable`) without an absolute secrets directory or with a token
shorter than :data:`MIN_TOKEN_CHARS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from darkpool.crypto.sealing import read_secret
from darkpool.errors import ValidationError
from darkpool.margin import parse_correlations

__all__ = ["MIN_TOKEN_CHARS", "CustodianSettings", "OperatorSettings", "VerifierSettings", "parse_shapes"]

MIN_TOKEN_CHARS = 16
"""Shortest bearer token a service starts with (``secrets.token_urlsafe(16)`` gives 22)."""


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """Parse ``"4x4x255,8x8x255"`` into integer tuples."""
    try:
        return [tuple(int(x) for x in part.strip().split("x")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(f"shapes must look like 4x4x255,8x8x63, got {text!r}") from None


def _tokens_from_files(data: Any, names: tuple[str, ...]) -> Any:
    """Fill each token ``name`` from the file ``name_file`` names, if one is given."""
    if not isinstance(data, dict):
        return data
    for name in names:
        file = data.get(f"{name}_file")
        if file:
            if data.get(name):
                raise ValidationError(f"give {name} or {name}_file, not both")
            data = {**data, name: read_secret(Path(file))}
    return data


def _require_token(name: str, value: str | None, env: str) -> None:
    if len(value or "") < MIN_TOKEN_CHARS:
        raise ValidationError(f"{name} must be at least {MIN_TOKEN_CHARS} characters, got {len(value or '')}: "
                              f"set {env} or {name}_file (a 0600 file), e.g. from secrets.token_urlsafe(32)")


def _absolute_dir(name: str, value: str | None, env: str) -> Path:
    if not value:
        raise ValidationError(f"{name} is required: the absolute directory (0700) of the service's secret keys; "
                              f"set {env}")
    path = Path(value)
    if not path.is_absolute():
        raise ValidationError(f"{name} must be an absolute path, got {value!r}")
    return path


class OperatorSettings(BaseSettings):
    """Settings of ``darkpool serve``.

    ``journal`` is a SQLite path or a ``postgresql://`` URL. ``rpc_url`` with ``vault`` and
    ``operator_address`` connects settlement to a JSON-RPC chain; without them the operator runs
    without a chain unless the app factory is handed one. ``admin_token`` guards operator-only
    endpoints (round control, deposit feed, batches). ``secrets_dir`` holds the sealing key and the
    receipt-signing key (0600 files in a 0700 directory). Each ``*_token`` may instead be read from
    the 0600 file its ``*_token_file`` names.
    """

    model_config = SettingsConfigDict(env_prefix="DARKPOOL_", frozen=True, extra="forbid")

    journal: str = "darkpool-journal.db"
    chain_id: int = 31337
    vault: str = "0x" + "00" * 19 + "01"
    token: str = "0x" + "00" * 19 + "02"
    operator_address: str | None = None
    rpc_url: str | None = None
    admin_token: str = Field(default="", repr=False)
    admin_token_file: str | None = None
    auditor_token: str = Field(default="", repr=False)
    """Lets the designated auditors read the private journal entries and batch leaves (empty: none)."""
    auditor_token_file: str | None = None
    secrets_dir: str | None = None
    rate_per_s: float = 200.0
    rate_burst: float = 400.0
    mark_max_age_s: int = 60
    funding_interval_s: int = Field(default=8 * 3600, ge=1)
    """Perpetual funding accrues once per this many seconds (POST /admin/funding pays what is due)."""
    oracles: str = ""
    """``UNDERLYING=0xFEED,...``: read marks from these AggregatorV3Interface price feeds (needs ``rpc_url``)."""
    oracle_max_move: float = Field(default=0.25, gt=0, lt=10)
    """A feed answer further than this fraction from the last good mark is refused (and halts the underlying)."""
    margin_correlations: str = ""
    """``BTC:ETH=0.8,...``: correlations of the listed underlyings' returns, so hedged pairs offset in margin
    (off when empty; each in [-1, 1], together positive semidefinite; see :mod:`darkpool.margin._offsets`)."""
    option_expiry: int = Field(default=1_830_000_000, gt=0, le=2**40)
    """Unix time the listed ETH options expire, cash-settled at the oracle mark then (default 2027-12-27 UTC)."""
    deposit_poll_s: float = 0.0
    """Poll the vault's Deposited events this often (0: only on POST /admin/deposits/sync)."""
    market_poll_s: float = Field(default=0.0, ge=0)
    """Read the price feeds, settle due expiries and pay due funding this often (0: only on the admin calls)."""
    custodian_url: str | None = None
    custodian_token: str | None = Field(default=None, repr=False)
    custodian_token_file: str | None = None
    fhe_cache_dir: str | None = None
    fhe_simulate: bool = False
    fhe_max_quantity: int = 255
    fhe_shapes: str = ""
    """Round shapes ``SLOTSxLEVELS`` (comma separated) to compile at start-up, e.g. ``4x4,8x8``."""
    fhe_split_groups: int = Field(default=1, ge=1, le=16)
    """Evaluate each FHE round in at most this many slot groups (a split module: the groups in parallel, on Ray
    workers with ``fhe_backend = ray``, then their combine); 1: the unsplit circuit."""
    fhe_backend: str = Field(default="local", pattern="^(local|ray)$")
    """Where the operator evaluates FHE rounds: ``local`` (in the operator's process) or ``ray``."""
    ray_address: str | None = None
    """The Ray cluster for ``fhe_backend = ray`` (``ray://…`` or ``host:port``); unset: a local Ray is started."""
    ray_cpus: int | None = Field(default=None, ge=1)
    """CPUs of the local Ray this operator starts (unset: all)."""
    verifier_urls: str = ""
    """Base URLs (comma separated) of the verifiers that re-evaluate each FHE round for the custodian."""
    verifier_token: str | None = Field(default=None, repr=False)
    verifier_token_file: str | None = None
    data_dir: str = "."
    host: str = "127.0.0.1"
    port: int = 8400

    @model_validator(mode="before")
    @classmethod
    def _read_token_files(cls, data: Any) -> Any:
        return _tokens_from_files(data, ("admin_token", "auditor_token", "custodian_token", "verifier_token"))

    @field_validator("margin_correlations")
    @classmethod
    def _check_correlations(cls, value: str) -> str:
        parse_correlations(value)  # a malformed pair, |rho| > 1 or a non-PSD matrix is refused here
        return value

    def secrets_path(self) -> Path:
        """The absolute directory of the operator's secret keys; refuse a missing or relative one."""
        return _absolute_dir("secrets_dir", self.secrets_dir, "DARKPOOL_SECRETS_DIR")

    def check_startable(self) -> None:
        """Refuse to start without an absolute secrets directory or with a missing or short token."""
        self.secrets_path()
        _require_token("admin_token", self.admin_token, "DARKPOOL_ADMIN_TOKEN")
        if self.auditor_token:
            _require_token("auditor_token", self.auditor_token, "DARKPOOL_AUDITOR_TOKEN")
        if self.custodian_url is not None:
            _require_token("custodian_token", self.custodian_token, "DARKPOOL_CUSTODIAN_TOKEN")
        if self.verifier_urls.strip():
            _require_token("verifier_token", self.verifier_token, "DARKPOOL_VERIFIER_TOKEN")

    def verifier_url_list(self) -> tuple[str, ...]:
        """The configured verifiers' base URLs."""
        return tuple(part.strip().rstrip("/") for part in self.verifier_urls.split(",") if part.strip())


class CustodianSettings(BaseSettings):
    """Settings of ``darkpool custodian``; ``operator_token`` authenticates the operator to it.

    ``key_dir`` is the absolute directory (0700) of the custodian's secret keys (0600 files).
    """

    model_config = SettingsConfigDict(env_prefix="DARKPOOL_CUSTODIAN_", frozen=True, extra="forbid")

    chain_id: int = 31337
    vault: str = "0x" + "00" * 19 + "01"
    operator_token: str = Field(default="", repr=False)
    operator_token_file: str | None = None
    log: str = "darkpool-custodian-log.jsonl"
    key_dir: str | None = None
    cache_dir: str | None = None
    simulate: bool = False
    shapes: str = ""
    """Round shapes ``SLOTSxLEVELSxMAXLOTS[xGROUPS]`` (comma separated) to compile and key at start-up."""
    verifiers: str = ""
    """Addresses (comma separated) of the verifiers whose signed re-evaluations the custodian accepts."""
    verifier_quorum: int = Field(default=1, ge=0)
    """How many distinct configured verifiers must attest a round before its outputs are released.
    0 trusts the operator's evaluation alone (a custodian then decrypts whatever the operator sends
    as a round's outputs: for tests of other parts only)."""
    operator_url: str | None = None
    """The operator whose journal announces FHE rounds: a round it did not announce (with the Enc(R)
    issued for it) is not decrypted. Unset: no announcement check (tests of other parts only)."""
    epoch_rounds: int = Field(default=100, ge=0)
    """Rounds per key epoch: round r's masks are encrypted under the key set of epoch (r-1)//epoch_rounds,
    and a past epoch's secret key is destroyed once its rounds are spent (0: one key set, never rotated)."""
    halt_after_void_rounds: int = Field(default=1, ge=0)
    """Stop decrypting once the log holds this many void rounds (0: never). A void round is an
    evaluation that disagreed with a verifier's, or outputs that did not decode: each answers the
    operator one chosen bit, so a custodian that goes on is a slow decryption oracle."""
    host: str = "127.0.0.1"
    port: int = 8401

    @model_validator(mode="before")
    @classmethod
    def _read_token_files(cls, data: Any) -> Any:
        return _tokens_from_files(data, ("operator_token",))

    def secrets_path(self) -> Path:
        """The absolute directory of the custodian's secret keys; refuse a missing or relative one."""
        return _absolute_dir("key_dir", self.key_dir, "DARKPOOL_CUSTODIAN_KEY_DIR")

    def check_startable(self) -> None:
        """Refuse to start without an absolute key directory or with a missing or short token."""
        self.secrets_path()
        _require_token("operator_token", self.operator_token, "DARKPOOL_CUSTODIAN_OPERATOR_TOKEN")
        if self.verifier_quorum > len(self.verifier_addresses()):
            raise ValidationError(f"verifier_quorum is {self.verifier_quorum} but {len(self.verifier_addresses())} "
                                  "verifier(s) are configured: set DARKPOOL_CUSTODIAN_VERIFIERS to their addresses "
                                  "(GET /identity of each `darkpool verifier`)")

    def verifier_addresses(self) -> tuple[str, ...]:
        """The configured verifiers' addresses (lowercase); refuse a malformed one."""
        from darkpool.domain import account

        return tuple(account(part.strip()) for part in self.verifiers.split(",") if part.strip())


class VerifierSettings(BaseSettings):
    """Settings of ``darkpool verifier``: its own secret key (in ``key_dir``), the custodian it fetches
    evaluation keys from, and the token the operator presents (re-evaluation is costly)."""

    model_config = SettingsConfigDict(env_prefix="DARKPOOL_VERIFIER_", frozen=True, extra="forbid")

    chain_id: int = 31337
    vault: str = "0x" + "00" * 19 + "01"
    operator_token: str = Field(default="", repr=False)
    operator_token_file: str | None = None
    custodian_url: str = "http://127.0.0.1:8401"
    key_dir: str | None = None
    cache_dir: str | None = None
    simulate: bool = False
    shapes: str = ""
    """Round shapes ``SLOTSxLEVELSxMAXLOTS`` to compile at start-up."""
    host: str = "127.0.0.1"
    port: int = 8402

    @model_validator(mode="before")
    @classmethod
    def _read_token_files(cls, data: Any) -> Any:
        return _tokens_from_files(data, ("operator_token",))

    def secrets_path(self) -> Path:
        """The absolute directory of the verifier's secret key; refuse a missing or relative one."""
        return _absolute_dir("key_dir", self.key_dir, "DARKPOOL_VERIFIER_KEY_DIR")

    def check_startable(self) -> None:
        self.secrets_path()
        _require_token("operator_token", self.operator_token, "DARKPOOL_VERIFIER_OPERATOR_TOKEN")
