"""The margin config: defaults, frozen, unknown keys and bad values rejected."""

from __future__ import annotations

import dataclasses

import pytest

from darkpool.errors import MarginError
from darkpool.margin import MarginConfig, scenarios


def test_defaults_when_built_then_35_scenarios_over_16_percent_in_9_points() -> None:
    config = MarginConfig()
    assert config.scenario_count == 35 == len(scenarios(config))
    assert config.core_moves[0] == -0.16 and config.core_moves[-1] == 0.16 and len(config.core_moves) == 9
    assert config.core_moves[4] == 0.0


def test_from_mapping_when_unknown_key_then_rejected_naming_it() -> None:
    with pytest.raises(MarginError, match="price_rnage"):
        MarginConfig.from_mapping({"price_rnage": 0.2})


def test_from_mapping_when_known_keys_then_applied() -> None:
    config = MarginConfig.from_mapping({"price_range": 0.1, "extended_moves": [-0.5, 1.0]})
    assert config.price_range == 0.1 and config.extended_moves == (-0.5, 1.0)


@pytest.mark.parametrize(
    "bad",
    [
        {"price_range": 0.0},
        {"price_range": 1.5},
        {"price_points": 8},
        {"price_points": True},
        {"maintenance_fraction": 1.2},
        {"maintenance_fraction": 0},
        {"vol_up": -0.1},
        {"extended_moves": (-1.0,)},
        {"extended_fraction": float("nan")},
        {"collateral_scale": 0},
        {"mark_max_age_s": 1.5},
        {"liquidation_slippage": 1.0},
    ],
)
def test_config_when_value_out_of_range_then_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(MarginError):
        MarginConfig.from_mapping(bad)


def test_config_when_assigned_then_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        MarginConfig().price_range = 0.2  # type: ignore[misc]
