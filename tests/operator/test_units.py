from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from darkpool.errors import MarginError, RateLimited
from darkpool.operator.api.app import create_operator_core
from darkpool.web.ratelimit import RateLimiter
from darkpool.web.settings import OperatorSettings
from tests.operator.helpers import settings as operator_settings


def test_rate_limiter_when_burst_spent_refuses_until_refilled() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=3.0, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")
    limiter.take("b")
    now[0] = 0.5
    limiter.take("a")
    with pytest.raises(RateLimited):
        limiter.take("a")


def test_settings_when_unknown_key_given_refuse_it(tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError):
        OperatorSettings(admin_token="x", journl=str(tmp_path))  # type: ignore[call-arg]


def test_settings_when_built_are_frozen() -> None:
    settings = OperatorSettings(admin_token="x")
    with pytest.raises(pydantic.ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_operator_when_margin_correlation_names_an_unlisted_underlying_then_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(MarginError, match="names 'BTC', not an underlying of the instruments \\['ETH'\\]"):
        create_operator_core(operator_settings(tmp_path, margin_correlations="BTC:ETH=0.8"))
    with pytest.raises(pydantic.ValidationError, match="not positive semidefinite"):
        operator_settings(tmp_path, margin_correlations="BTC:ETH=0.9,ETH:SOL=0.9,BTC:SOL=-0.9")
