"""Cross-underlying offsets: correlated underlyings share margin, conservatively, the same in both engines."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from darkpool.domain import Instrument, InstrumentKind, Lots, OptionRight, Side, Ticks
from darkpool.errors import MarginError
from darkpool.margin import (
    CapRequest,
    MarginConfig,
    MarginEngine,
    engine_from_snapshot,
    joint_caps,
    margin_snapshot,
    parse_correlations,
    portfolio_margin,
    portfolio_margin_loop,
)
from darkpool.margin._black_scholes import FloatArray
from darkpool.operator.instruments import default_instruments
from darkpool.web.settings import OperatorSettings

from .helpers import INSTRUMENTS, T0, VOLS, addr, engine, mark_ticks, trade
from .test_caps import A, assert_exact_cap
from .test_portfolio import initial_margin

SOL = (
    Instrument("SOL-PERP", InstrumentKind.PERPETUAL, "SOL", tick_size=0.01, lot_size=0.01),
    Instrument("SOL-30D-150-P", InstrumentKind.OPTION, "SOL", 0.01, 0.01, expiry=T0 + 30 * 86_400,
               strike_ticks=Ticks(15_000), right=OptionRight.PUT),
)
THREE = INSTRUMENTS + SOL
N = len(THREE)


def correlated(*pairs: tuple[str, str, float]) -> MarginConfig:
    return MarginConfig(correlations=pairs)


def three(config: MarginConfig | None = None) -> MarginEngine:
    """An engine over ETH, BTC and SOL instruments, marked at T0."""
    e = MarginEngine(THREE, config, implied_vols={**VOLS, "SOL-30D-150-P": 0.8})
    e.set_mark("ETH", 3000.0, T0)
    e.set_mark("BTC", 60_000.0, T0)
    e.set_mark("SOL", 150.0, T0)
    return e


HEDGE = {"ETH-PERP": 200, "BTC-PERP": -100}  # 0.2 ETH long against 0.01 BTC short: 600 quote units each
SAME = {"ETH-PERP": 200, "BTC-PERP": 100}

rho = st.floats(-1.0, 1.0, allow_nan=False)
# Valid three-underlying configs: a correlation matrix built as a Gram matrix is positive semidefinite.
unit_vectors = hnp.arrays(np.float64, (3, 3), elements=st.floats(-1.0, 1.0)).filter(
    lambda m: bool(np.all(np.linalg.norm(m, axis=1) > 0.1)))


def gram_config(vectors: FloatArray) -> MarginConfig:
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    gram = np.clip(unit @ unit.T, -1.0, 1.0)
    names = ("BTC", "ETH", "SOL")
    pairs = tuple((names[i], names[j], round(float(gram[i, j]), 6) * 0.999) for i in range(3) for j in range(i + 1, 3))
    return MarginConfig(correlations=pairs)


positions = hnp.arrays(np.float64, (6, N), elements=st.integers(-500, 500).map(float))


# -- the two engines agree ----------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(positions, hnp.arrays(np.float64, (6, N), elements=st.floats(-1e9, 1e9)), unit_vectors)
def test_margin_when_correlated_then_vectorized_equals_python_loop_exactly(
    lots: FloatArray, cost: FloatArray, vectors: FloatArray
) -> None:
    risk = three(gram_config(vectors)).risk(T0)
    assert risk.offsets
    m = portfolio_margin(lots, cost, np.full(6, 10.0**9), risk, 0.75)
    loop = portfolio_margin_loop(lots.tolist(), cost.tolist(), [10.0**9] * 6, risk, 0.75)
    assert list(zip(m.equity.tolist(), m.initial.tolist(), m.maintenance.tolist(), strict=True)) == loop


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(positions, unit_vectors)
def test_margin_when_correlated_then_between_largest_underlying_and_sum(lots: FloatArray, vectors: FloatArray) -> None:
    correlated_risk = three(gram_config(vectors)).risk(T0)
    plain_risk = three().risk(T0)
    zeros = np.zeros_like(lots)
    with_offsets = portfolio_margin(lots, zeros, np.zeros(6), correlated_risk, 0.75).worst_loss
    without = portfolio_margin(lots, zeros, np.zeros(6), plain_risk, 0.75).worst_loss
    largest = np.zeros(6)
    for g in range(3):  # each underlying's own requirement: the book cut down to that underlying
        alone = np.where(plain_risk.group[None, :] == g, lots, 0.0)
        largest = np.maximum(largest, portfolio_margin(alone, zeros, np.zeros(6), plain_risk, 0.75).worst_loss)
    assert np.all(with_offsets <= without)
    assert np.all(with_offsets >= largest)
    assert np.all(with_offsets == np.round(with_offsets))


# -- off, or zero, is today's margin ------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(positions)
def test_margin_when_correlation_zero_or_off_then_equals_uncorrelated_bit_for_bit(lots: FloatArray) -> None:
    cost = lots * 7.25
    balance = np.full(6, 5.0 * 10**8)
    today = portfolio_margin(lots, cost, balance, three().risk(T0), 0.75)
    for config in (MarginConfig(), correlated(("BTC", "ETH", 0.0), ("SOL", "ETH", 0.0))):
        risk = three(config).risk(T0)
        assert risk.offsets == ()
        m = portfolio_margin(lots, cost, balance, risk, 0.75)
        for name in ("equity", "initial", "maintenance", "worst_loss"):
            assert getattr(m, name).tobytes() == getattr(today, name).tobytes()


def test_margin_when_correlation_zero_then_hedged_book_pays_the_sum_of_its_parts() -> None:
    assert initial_margin(HEDGE, engine(correlated(("BTC", "ETH", 0.0)))) == initial_margin(HEDGE)


# -- what the offset gives ----------------------------------------------------------------------


@pytest.mark.parametrize("sign", [1, -1])  # long ETH against short BTC, and long BTC against short ETH
def test_margin_when_hedged_btc_eth_correlated_then_less_than_sum_and_at_least_largest_part(sign: int) -> None:
    config = correlated(("BTC", "ETH", 0.8))
    eth = initial_margin({"ETH-PERP": 200 * sign}, engine(config))
    btc = initial_margin({"BTC-PERP": -100 * sign}, engine(config))
    hedged = initial_margin({"ETH-PERP": 200 * sign, "BTC-PERP": -100 * sign}, engine(config))
    assert hedged < eth + btc
    assert hedged >= max(eth, btc)
    # The rule exactly: 80% of the smaller leg's scenario loss (about 96 quote units, +-16% of 600) is credited.
    legs = []
    for symbol, lots in (("ETH-PERP", 200 * sign), ("BTC-PERP", -100 * sign)):
        e = engine(config)
        initial_margin({symbol: lots}, e)
        legs.append(e.account_margin(addr(1), T0).worst_loss)
    assert abs(min(legs) - 96 * 10**6) <= 200
    assert eth + btc - hedged == math.floor(0.8 * min(legs))


def test_margin_when_correlation_grows_then_hedged_book_needs_less() -> None:
    margins = [initial_margin(HEDGE, engine(correlated(("BTC", "ETH", r)))) for r in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert margins == sorted(margins, reverse=True) and len(set(margins)) == 5


def test_margin_when_anticorrelated_then_same_direction_book_is_the_hedge() -> None:
    config = correlated(("BTC", "ETH", -0.8))
    assert initial_margin(SAME, engine(config)) < initial_margin(SAME)
    assert initial_margin(HEDGE, engine(config)) == initial_margin(HEDGE)


def test_margin_when_correlated_then_cap_is_exact_and_larger_for_the_hedging_side() -> None:
    plain, offset = engine(), engine(correlated(("BTC", "ETH", 0.9)))
    caps = []
    for e in (plain, offset):
        e.deposit(A, 150 * 10**6)
        e.apply_fills([trade(A, "ETH-PERP", Side.BUY, Lots(200), Ticks(mark_ticks(e, "ETH-PERP")))], T0)
        caps.append(assert_exact_cap(e, "BTC-PERP", Side.SELL, mark_ticks(e, "BTC-PERP"), None))
        assert_exact_cap(e, "BTC-PERP", Side.BUY, mark_ticks(e, "BTC-PERP"), None)
    assert caps[1] > caps[0]


PAIR_SYMBOLS = ["ETH-PERP", "ETH-F90", "ETH-30D-3000-C", "ETH-30D-2400-P", "BTC-PERP", "BTC-30D-60000-C"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    deposit=st.integers(1, 10**9),
    held=st.dictionaries(st.sampled_from(PAIR_SYMBOLS), st.integers(-300, 300), max_size=4),
    symbol=st.sampled_from(PAIR_SYMBOLS),
    side=st.sampled_from(list(Side)),
    r=rho,
)
def test_cap_when_correlated_then_cap_passes_every_smaller_fill_passes_and_one_more_lot_fails(
    deposit: int, held: dict[str, int], symbol: str, side: Side, r: float
) -> None:
    # Offsets keep margin convex in the position, so the caps' search stays exact and partial fills stay safe.
    e = engine(correlated(("BTC", "ETH", r)))
    e.deposit(A, deposit)
    e.apply_fills([trade(A, s, Side.BUY if q > 0 else Side.SELL, Lots(abs(q)), Ticks(mark_ticks(e, s)))
                   for s, q in held.items() if q], T0)
    limit = mark_ticks(e, symbol)
    cap = assert_exact_cap(e, symbol, side, limit, None)
    threshold = min(0, e.free_collateral_after(A, symbol, side, 0, limit, T0))
    for q in range(0, cap, max(1, cap // 17)):
        assert e.free_collateral_after(A, symbol, side, q, limit, T0) >= threshold
    assert e.caps([CapRequest(A, symbol, side, Ticks(limit), Lots(cap + 5))], T0) == [min(cap, cap + 5)]


def test_snapshot_when_correlated_then_auditors_rebuild_the_same_margin_and_caps() -> None:
    original = engine(correlated(("BTC", "ETH", 0.8)))
    original.deposit(A, 300 * 10**6)
    original.apply_fills([trade(A, s, Side.BUY if q > 0 else Side.SELL, Lots(abs(q)), Ticks(mark_ticks(original, s)))
                          for s, q in HEDGE.items()], T0)
    snapshot = json.loads(json.dumps(margin_snapshot(original, [A], T0)))  # through JSON, as journaled
    assert snapshot["config"]["correlations"] == [["BTC", "ETH", 0.8]]
    rebuilt = engine_from_snapshot(snapshot)
    assert rebuilt.config == original.config
    assert rebuilt.account_margin(A, T0) == original.account_margin(A, T0)
    for side in Side:
        price = mark_ticks(original, "BTC-PERP")
        assert rebuilt.cap(A, "BTC-PERP", side, price, T0) == original.cap(A, "BTC-PERP", side, price, T0)
    snapshot["config"]["correlations"] = []  # an operator hiding the offsets from the auditors' replay
    assert engine_from_snapshot(snapshot).account_margin(A, T0) != original.account_margin(A, T0)


# -- configuration ------------------------------------------------------------------------------


def test_parse_correlations_when_well_formed_then_canonical_pairs() -> None:
    assert parse_correlations("") == ()
    assert parse_correlations(" ETH:BTC=0.8 , SOL:ETH=-0.25,") == (("BTC", "ETH", 0.8), ("ETH", "SOL", -0.25))
    assert MarginConfig.from_mapping({"correlations": [["ETH", "BTC", 1]]}).correlations == (("BTC", "ETH", 1.0),)


@pytest.mark.parametrize(("text", "message"), [
    ("BTC-ETH=0.8", "must look like BTC:ETH=0.8"),
    ("BTC:ETH", "must look like BTC:ETH=0.8"),
    ("BTC:ETH=high", "must look like BTC:ETH=0.8"),
    ("BTC:ETH=nan", "must look like BTC:ETH=0.8"),
    (":ETH=0.5", "must look like BTC:ETH=0.8"),
    ("BTC:ETH=1.01", r"must be a number in \[-1, 1\], got 1.01"),
    ("BTC:ETH=-2", r"must be a number in \[-1, 1\], got -2"),
    ("BTC:BTC=0.5", "with itself"),
    ("BTC:ETH=0.5,ETH:BTC=0.5", "given twice"),
    ("BTC:ETH=0.9,ETH:SOL=0.9,BTC:SOL=-0.9", "not positive semidefinite"),
    ("BTC:ETH=0.9,ETH:SOL=0.9", "not positive semidefinite"),
])
def test_parse_correlations_when_invalid_then_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(MarginError, match=message):
        parse_correlations(text)


def test_operator_settings_when_correlations_invalid_then_refused_at_start() -> None:
    assert OperatorSettings(margin_correlations="BTC:ETH=0.8").margin_correlations == "BTC:ETH=0.8"
    assert OperatorSettings().margin_correlations == ""
    with pytest.raises(pydantic.ValidationError, match=r"must be a number in \[-1, 1\]"):
        OperatorSettings(margin_correlations="BTC:ETH=1.5")


def test_engine_when_correlation_names_an_unlisted_underlying_then_refused() -> None:
    # The operator lists ETH only: a BTC correlation is refused when its margin engine is built.
    with pytest.raises(MarginError, match="names 'BTC', not an underlying of the instruments"):
        MarginEngine(default_instruments(), MarginConfig(correlations=parse_correlations("BTC:ETH=0.8")))


# -- attacks --------------------------------------------------------------------------------------


@pytest.mark.attack
def test_attack_when_same_direction_book_claims_a_hedge_then_no_credit() -> None:
    # Long both positively correlated underlyings: they fall together, so nothing is offset.
    for r in (0.5, 0.8, 1.0):
        assert initial_margin(SAME, engine(correlated(("BTC", "ETH", r)))) == initial_margin(SAME)
    # Short calls on both: they lose together on a joint rally (and on their tails), also no credit.
    both_short = {"ETH-30D-3000-C": -100, "BTC-30D-60000-C": -10}
    assert initial_margin(both_short, engine(correlated(("BTC", "ETH", 0.9)))) == initial_margin(both_short)


@pytest.mark.attack
@pytest.mark.parametrize("pairs", [
    (("BTC", "ETH", 1.5),),
    (("BTC", "ETH", float("inf")),),
    (("BTC", "ETH", True),),
    (("BTC", "ETH", "0.8"),),
    (("BTC", "BTC", 1.0),),
    (("BTC", "ETH", 0.5), ("ETH", "BTC", 1.0)),
    (("BTC", "ETH", 1.0), ("ETH", "SOL", 1.0), ("BTC", "SOL", -1.0)),
    "BTC:ETH=0.8",
    None,
    {"BTC": "ETH"},
])
def test_attack_when_config_claims_impossible_correlation_then_refused(pairs: object) -> None:
    with pytest.raises(MarginError):
        MarginConfig(correlations=pairs)  # type: ignore[arg-type]


@pytest.mark.attack
def test_attack_when_unknown_underlying_or_tampered_snapshot_then_refused() -> None:
    with pytest.raises(MarginError, match="names 'DOGE'"):
        engine(correlated(("BTC", "DOGE", 0.9)))
    original = engine(correlated(("BTC", "ETH", 0.8)))
    snapshot = json.loads(json.dumps(margin_snapshot(original, [], T0)))
    snapshot["config"]["correlations"] = [["BTC", "ETH", 1.7]]
    with pytest.raises(MarginError, match=r"\[-1, 1\]"):
        engine_from_snapshot(snapshot)


@pytest.mark.attack
def test_attack_when_many_pairs_share_one_leg_then_it_is_credited_at_most_once() -> None:
    # One long BTC "hedges" short ETH and short SOL at once: the BTC leg's loss is shared between the two
    # pairs (weights scaled so an underlying's shares sum to at most 1), never credited twice.
    config = correlated(("BTC", "ETH", 0.9), ("BTC", "SOL", 0.9), ("ETH", "SOL", 0.9))
    book = {"BTC-PERP": 100, "ETH-PERP": -200, "SOL-PERP": -400}
    margins = {}
    for name, e in (("offset", three(config)), ("plain", three())):
        margins[name] = initial_margin(book, e)
    legs = [initial_margin({s: q}, three()) for s, q in book.items()]
    assert max(legs) <= margins["offset"] < margins["plain"] == sum(legs)
    assert three(config).risk(T0).offsets[0].weight == pytest.approx(0.9 / 1.8)


def test_mark_update_when_correlated_then_incremental_table_equals_full_recompute() -> None:
    e = engine(correlated(("BTC", "ETH", 0.7)))
    books = [HEDGE, SAME, {"BTC-PERP": 30, "ETH-30D-3000-C": -40}, {}] + [{"ETH-PERP": -5 * k} for k in range(1, 20)]
    for n, book in enumerate(books, start=1):
        who = addr(n)
        e.deposit(who, 10**9)
        e.apply_fills([trade(who, s, Side.BUY if q > 0 else Side.SELL, Lots(abs(q)), Ticks(mark_ticks(e, s)))
                       for s, q in book.items()], T0)
    before = e.margin_table(T0).initial.copy()
    e.set_mark("BTC", 52_000.0, T0)  # the same second: only the accounts holding BTC are recomputed
    e.risk(T0)
    assert sorted(e._dirty) == [0, 1, 2]
    incremental = e.margin_table(T0).initial.copy()
    assert incremental[0] != before[0] and incremental[1] != before[1]
    assert incremental.tolist() == e.recompute_all(T0).initial.tolist()


def test_joint_caps_when_correlated_then_no_subset_of_fills_at_any_accepted_price_breaks_initial_margin() -> None:
    e = engine(correlated(("BTC", "ETH", 0.8)))
    e.deposit(A, 80 * 10**6)  # long 0.15 ETH needs about 74 quote units alone
    e.apply_fills([trade(A, "ETH-PERP", Side.BUY, Lots(150), Ticks(mark_ticks(e, "ETH-PERP")))], T0)
    mark = mark_ticks(e, "BTC-PERP")
    orders = [(Side.SELL, mark - 20), (Side.BUY, mark + 10), (Side.SELL, mark), (Side.SELL, mark + 30),
              (Side.BUY, mark - 10)]
    requests = [CapRequest(A, "BTC-PERP", side, Ticks(limit), Lots(60)) for side, limit in orders]
    caps = joint_caps(e, requests, T0)
    assert 0 < sum(caps) < 300 and caps != e.caps(requests, T0)
    for size in range(1, 6):
        for subset in itertools.combinations(range(5), size):
            sells = [orders[i][1] for i in subset if orders[i][0] is Side.SELL]
            buys = [orders[i][1] for i in subset if orders[i][0] is Side.BUY]
            low, high = max(sells, default=0), min(buys, default=2 * mark)
            net = sum(caps[i] * orders[i][0].sign for i in subset)
            for price in {low, high} if low <= high else set():  # a uniform price every order in it accepts
                side = Side.BUY if net > 0 else Side.SELL
                assert e.free_collateral_after(A, "BTC-PERP", side, abs(net), price, T0) >= 0, (subset, price)
