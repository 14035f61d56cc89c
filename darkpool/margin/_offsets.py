"""Cross-underlying offsets: a configured correlation lets a hedged pair of underlyings share margin.

Off by default. Without correlations an account's scenario loss is the sum over underlyings of
each one's worst loss ``L_i`` (the worst over every way the underlyings' scenarios could combine).
With a correlation ``rho`` between underlyings ``i`` and ``j`` the rule is, per account:

1. **The joint loss** ``J_ij`` couples the two grids by price move: each core move of ``i`` is
   paired with the *same* move of ``j`` when ``rho > 0`` (both fall 16% together) and with the
   *mirrored* move when ``rho < 0`` (``i`` falls 16%, ``j`` rises 16%). Volatility is not coupled:
   at each paired move each underlying takes its own worst volatility shift. Extended scenarios
   (large moves on short options) are not coupled either: an extended stress of one underlying is
   combined with the worst scenario of the other. ``J_ij`` is the worst of these joint PnLs as a
   loss (never below zero), so ``J_ij <= L_i + L_j``.
2. **The pair's credit** is ``w_ij * (L_i + L_j - max(J_ij, L_i, L_j))``: a share ``w_ij`` of what
   the pair would save if the underlyings moved exactly together, never below the larger leg. The
   weight is ``|rho_ij|`` divided by ``max(1, S_i, S_j)``, where ``S_i`` sums ``|rho|`` over the
   configured pairs of ``i``: each underlying's loss is shared among its pairs and never credited
   more than once in all (SPAN's inter-commodity spread credit, with the credit rate ``|rho|``).
3. **The scenario loss** is ``max(sum_i L_i - floor(sum of credits), max_i L_i)``.

So the requirement never exceeds today's (credits are non-negative) and never falls below the
largest single underlying's; a book long on both of two positively correlated underlyings gets
no credit (its joint loss is the sum), while long BTC against short ETH with ``rho = 0.8`` saves
80% of the smaller leg. The rule is a positive combination of maxima of linear functions of the
positions (the weights leave each underlying at least a zero share of its own), so it stays
convex: the caps' search and the joint caps keep their guarantees. Losses are integers of base
units; the credits add in one fixed order in both the vectorized engine and the per-account loop,
so the two agree exactly. Correlations must form a positive semidefinite matrix (pairs not given
count as 0), so contradictory hedges cannot be configured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from darkpool.errors import MarginError
from darkpool.margin._black_scholes import FloatArray

__all__ = ["Correlation", "Offset", "check_correlations", "correlated_loss", "correlated_loss_one", "offsets",
           "parse_correlations"]

Correlation = tuple[str, str, float]
"""``(underlying, underlying, rho)``: the correlation of two underlyings' returns."""

_PSD_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Offset:
    """A configured pair as the engines use it: group indexes, the credit weight and the pairing."""

    first: int
    second: int
    weight: float
    mirrored: bool


def parse_correlations(text: str) -> tuple[Correlation, ...]:
    """Parse ``"BTC:ETH=0.8,SOL:ETH=0.6"`` and check it (:func:`check_correlations`); empty text gives none."""
    pairs: list[Correlation] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        names, equals, value = part.partition("=")
        first, colon, second = names.partition(":")
        try:
            rho = float(value)
        except ValueError:
            rho = math.nan
        if not equals or not colon or not first.strip() or not second.strip() or not math.isfinite(rho):
            raise MarginError(f"margin correlation {part!r} must look like BTC:ETH=0.8 (two underlyings and a number)")
        pairs.append((first.strip(), second.strip(), rho))
    return check_correlations(pairs)


def check_correlations(pairs: Sequence[Sequence[object]]) -> tuple[Correlation, ...]:
    """Return ``pairs`` in canonical form (names in order, pairs sorted), or raise :class:`MarginError`.

    Each pair names two different underlyings once, with a finite ``rho`` in ``[-1, 1]``; together
    they must form a positive semidefinite correlation matrix (pairs not given count as 0).
    """
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise MarginError(f"margin config correlations must be (underlying, underlying, rho) triples, got {pairs!r}")
    seen: dict[tuple[str, str], float] = {}
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 3:
            raise MarginError(f"margin correlation must be (underlying, underlying, rho), got {pair!r}")
        first, second, rho = pair
        if not isinstance(first, str) or not isinstance(second, str) or not first or not second:
            raise MarginError(f"margin correlation must name two underlyings, got {pair!r}")
        if first == second:
            raise MarginError(f"margin correlation of {first} with itself is always 1: name two underlyings")
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not -1.0 <= rho <= 1.0:
            raise MarginError(f"margin correlation {first}:{second} must be a number in [-1, 1], got {rho!r}")
        key = (min(first, second), max(first, second))
        if key in seen:
            raise MarginError(f"margin correlation {key[0]}:{key[1]} is given twice")
        seen[key] = float(rho)
    _check_semidefinite(seen)
    return tuple((a, b, rho) for (a, b), rho in sorted(seen.items()))


def _check_semidefinite(pairs: dict[tuple[str, str], float]) -> None:
    names = sorted({name for key in pairs for name in key})
    if len(names) < 3:
        return  # a single pair with |rho| <= 1 is a correlation matrix
    index = {name: k for k, name in enumerate(names)}
    matrix = np.eye(len(names))
    for (a, b), rho in pairs.items():
        matrix[index[a], index[b]] = matrix[index[b], index[a]] = rho
    smallest = float(np.linalg.eigvalsh(matrix)[0])
    if smallest < -_PSD_TOLERANCE:
        raise MarginError(f"margin correlations of {names} are not a correlation matrix (not positive "
                          f"semidefinite, smallest eigenvalue {smallest:.4g}); pairs not given count as 0: "
                          "give every pair, consistently")


def offsets(correlations: Sequence[Correlation], underlyings: Sequence[str]) -> tuple[Offset, ...]:
    """Return the engines' pairs for ``underlyings`` (group order); refuse a correlation naming another."""
    index = {name: k for k, name in enumerate(underlyings)}
    spread = dict.fromkeys(underlyings, 0.0)
    for first, second, rho in correlations:
        for name in (first, second):
            if name not in index:
                raise MarginError(f"margin correlation {first}:{second} names {name!r}, not an underlying of the "
                                  f"instruments {sorted(index)}")
        spread[first] += abs(rho)
        spread[second] += abs(rho)
    return tuple(
        Offset(index[first], index[second], abs(rho) / max(1.0, spread[first], spread[second]), rho < 0)
        for first, second, rho in correlations if rho != 0
    )


def correlated_loss(
    loss: FloatArray, worst: FloatArray, extended: FloatArray, by_move: FloatArray, pairs: Sequence[Offset]
) -> FloatArray:
    """Return each account's scenario loss under ``pairs`` (see the module docstring).

    Per underlying and account: ``loss`` (``L``), ``worst`` (the worst scenario PnL), ``extended`` (the
    worst extended PnL), all underlyings x accounts; ``by_move`` is underlyings x core moves x accounts,
    the worst PnL over volatility shifts at each move.
    """
    credit = np.zeros(loss.shape[1])
    for pair in pairs:
        i, j = pair.first, pair.second
        paired = (by_move[i] + (by_move[j, ::-1] if pair.mirrored else by_move[j])).min(axis=0)
        joint = np.minimum(np.minimum(paired, extended[i] + worst[j]), worst[i] + extended[j])
        kept = np.maximum(np.maximum(np.maximum(-joint, 0.0), loss[i]), loss[j])
        credit += pair.weight * (loss[i] + loss[j] - kept)
    return np.asarray(np.maximum(loss.sum(axis=0) - np.floor(credit), loss.max(axis=0)), np.float64)


def correlated_loss_one(
    loss: Sequence[float], worst: Sequence[float], extended: Sequence[float], by_move: Sequence[Sequence[float]],
    pairs: Sequence[Offset],
) -> float:
    """:func:`correlated_loss` of one account in plain Python, operation for operation."""
    credit = 0.0
    for pair in pairs:
        i, j = pair.first, pair.second
        other = list(reversed(by_move[j])) if pair.mirrored else by_move[j]
        paired = min(a + b for a, b in zip(by_move[i], other, strict=True))
        joint = min(paired, extended[i] + worst[j], worst[i] + extended[j])
        kept = max(-joint, 0.0, loss[i], loss[j])
        credit += pair.weight * (loss[i] + loss[j] - kept)
    return max(sum(loss) - math.floor(credit), max(loss))
