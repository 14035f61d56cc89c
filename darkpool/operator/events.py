"""The operator's journal events: one frozen dataclass per kind, encoded and decoded here only.

An event is a *decision* the operator has checked: appliers (:mod:`darkpool.operator.apply`) take it and
cannot fail, live and on replay alike. Every payload carries the journal format ``v``; a journal of another
format is refused on replay with "journal format N, expected M" (format 1, the first release's, has no ``v``).
Times (``at``) are the operator's clock when it accepted the request, never read again on replay.
Bytes travel as ``0x`` hex; signed messages that auditors check travel in their wire form
(``wire``, canonical JSON text), which appliers never parse.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

from darkpool.domain import Account, OrderId
from darkpool.errors import StorageError
from darkpool.operator._columns import columns, rows

__all__ = [
    "JOURNAL_FORMAT", "PRIVATE_KINDS", "BatchPosted", "BatchPrepared", "CommitEntry", "CommitsAccepted",
    "DepositCredited", "Event", "FheCapsBasis", "FheEvaluated", "FheEvaluationFailed", "FheFillsBooked",
    "FheLiquidation", "FheLiquidationsPlaced", "FheOrderAccepted", "FheRoundInfo", "FheSidesDecrypted", "FundingPaid",
    "InstrumentsExpired", "LiquidationEntry", "MarkSet", "Mode", "OracleRefused", "OrderCancelled", "RevealEntry",
    "RevealsAccepted", "RoundAbandoned", "RoundCleared", "RoundOpened", "RoundSealed", "SealPosted", "SlotReserved",
    "VolSurfaceSet", "WithdrawalRequested", "decode", "encode",
]

JOURNAL_FORMAT = 3

PRIVATE_KINDS = frozenset({"slot", "fhe_order", "fhe_caps", "fhe_sides", "batch"})
"""Kinds the public sees only as digests: who holds which FHE slot, its order, the margin its cap came from,
its fill's side, and the leaves of every batch (balances, fills). See :meth:`JournalEntry.redacted`."""


class Mode(enum.StrEnum):
    COMMIT_REVEAL = "commit_reveal"
    FHE = "fhe"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every journal event; ``KIND`` names it in the journal."""
    KIND: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class DepositCredited(Event):
    KIND: ClassVar[str] = "deposit"
    deposit_id: int
    account: Account
    amount: int
    at: int


@dataclass(frozen=True, slots=True)
class MarkSet(Event):  # from price feed ``feed`` (round ``feed_round``, stamped ``observed_at``) or by hand
    KIND: ClassVar[str] = "mark"
    underlying: str
    price: float
    at: int
    feed: str = ""
    feed_round: int = 0
    observed_at: int = 0


@dataclass(frozen=True, slots=True)
class FheRoundInfo:
    """The custodian's public description of an FHE round's masks and circuit."""

    circuit_id: str
    key_id: str
    slots: int
    levels: int
    quantity_digits: int
    digits_per_slot: int
    max_quantity: int
    masks_digest: str
    custodian: str = ""
    """The address that signs the custodian's mask deliveries (empty in journals written before it)."""
    groups: int = 1
    """Slot groups of a split round (1: the unsplit circuit; journals written before split rounds)."""


@dataclass(frozen=True, slots=True)
class FundingPaid(Event):
    """A perpetual's funding for ``intervals`` intervals up to ``interval`` (``at // interval_s``; 0 starts its
    clock): ``per_lot`` base units per long lot to the shorts each, from the clamped premium of the price."""
    KIND: ClassVar[str] = "funding"
    symbol: str
    interval: int
    intervals: int
    last_price_ticks: int
    index_price: float
    tick_size: float
    lot_units: float  # contract size x collateral scale: base units per quote unit of one lot
    cap: float
    rate: float
    per_lot: int
    at: int
    long_lots: int = 0  # open lots paying per_lot each, and receiving it: equal, so it nets to zero
    short_lots: int = 0


@dataclass(frozen=True, slots=True)
class OracleRefused(Event):  # a price feed's answer refused: the underlying halts until a good mark
    KIND: ClassVar[str] = "oracle_refused"
    underlying: str
    reason: str
    at: int
    feed_round: int = 0


@dataclass(frozen=True, slots=True)
class VolSurfaceSet(Event):
    """An underlying's implied volatility surface: smiles ``(expiry, atm, skew, curvature)`` by expiry."""
    KIND: ClassVar[str] = "vol_surface"
    underlying: str
    smiles: tuple[tuple[int, float, float, float], ...]
    at: int


@dataclass(frozen=True, slots=True)
class RoundOpened(Event):
    """A round announced; commit-reveal rounds carry their binding schedule and bond."""
    KIND: ClassVar[str] = "round_open"
    round_id: int
    mode: Mode
    instrument: str
    reference_ticks: int
    band_low_ticks: int
    levels: int
    at: int
    commit_closes_at: int = 0
    reveal_closes_at: int = 0
    bond: int = 0
    fhe: FheRoundInfo | None = None


@dataclass(frozen=True, slots=True)
class WithdrawalRequested(Event):
    KIND: ClassVar[str] = "withdraw"
    withdrawal_id: int
    account: Account
    amount: int
    nonce: int
    wire: str
    at: int


class CommitEntry(NamedTuple):
    """One accepted commitment: the signed fields, the signature and the operator's labels."""

    account: Account
    nonce: int
    commitment: bytes
    bond: int
    expiry: int
    signature: bytes
    order_id: OrderId
    priority: int


@dataclass(frozen=True, slots=True)
class CommitsAccepted(Event):
    KIND: ClassVar[str] = "commits"
    round_id: int
    commits: tuple[CommitEntry, ...]
    at: int


@dataclass(frozen=True, slots=True)
class OrderCancelled(Event):
    """A signed ``Cancel``: the account's order with ``order_nonce`` leaves the round before it closes."""
    KIND: ClassVar[str] = "cancel"
    round_id: int
    account: Account
    order_nonce: int
    nonce: int
    wire: str
    at: int


@dataclass(frozen=True, slots=True)
class RoundSealed(Event):
    """The commitments root and the operator's signature over its ``CommitmentsSealed`` statement."""
    KIND: ClassVar[str] = "seal"
    round_id: int
    root: bytes
    count: int
    signature: bytes
    at: int


@dataclass(frozen=True, slots=True)
class SealPosted(Event):
    """The sealed root is on chain (``tx`` None when it was found there on reconciliation)."""
    KIND: ClassVar[str] = "seal_posted"
    round_id: int
    tx: str | None
    at: int


class RevealEntry(NamedTuple):
    """One opened commitment and the quantity the margin cap let trade."""

    account: Account
    nonce: int
    side: int
    limit_ticks: int
    quantity_lots: int
    salt: bytes
    traded_lots: int


@dataclass(frozen=True, slots=True)
class RevealsAccepted(Event):
    KIND: ClassVar[str] = "reveals"
    round_id: int
    reveals: tuple[RevealEntry, ...]
    at: int


class LiquidationEntry(NamedTuple):
    """A reduce-only order the operator placed for an account under maintenance margin."""

    order_id: OrderId
    account: Account
    side: int
    limit_ticks: int
    quantity_lots: int
    priority: int


@dataclass(frozen=True, slots=True)
class RoundCleared(Event):
    """A commit-reveal round cleared; replay clears again and must find the same price and volume."""
    KIND: ClassVar[str] = "clear"
    round_id: int
    liquidations: tuple[LiquidationEntry, ...]
    price_ticks: int | None
    volume_lots: int
    at: int


@dataclass(frozen=True, slots=True)
class RoundAbandoned(Event):
    """A round called off before clearing: bonds go back, nothing trades."""
    KIND: ClassVar[str] = "abandon"
    round_id: int
    reason: str
    at: int


@dataclass(frozen=True, slots=True)
class SlotReserved(Event):
    KIND: ClassVar[str] = "slot"
    round_id: int
    slot: int
    account: Account
    nonce: int
    wire: str
    at: int


@dataclass(frozen=True, slots=True)
class FheOrderAccepted(Event):
    """A signed FHE order (hiding commitments only); its masked digits and their salt are sealed
    (``sealed_digits``), never in the clear."""
    KIND: ClassVar[str] = "fhe_order"
    round_id: int
    slot: int
    account: Account
    nonce: int
    sealed_digits: str
    wire: str
    at: int


class FheLiquidation(NamedTuple):
    """A liquidation order in an FHE round: the queue's public reduce-only order of ``account``, in a slot the
    operator took as liquidator (``order``: its signed :class:`~darkpool.signing.FheOrder`, wire text), with the
    masked digits and salt opening that order's commitment, and ``mask``: the slot's mask disclosed (JSON text:
    the signed request, the custodian's signed delivery, the box and its one-off key). Public: it hides nothing."""

    slot: int
    order_id: OrderId
    account: Account
    side: int
    limit_ticks: int
    quantity_lots: int
    order: str
    digits: bytes
    salt: bytes
    mask: str


@dataclass(frozen=True, slots=True)
class FheLiquidationsPlaced(Event):
    """At an FHE round's close, the liquidation queue's orders of its instrument in the operator's own slots
    (each reserved by a :class:`SlotReserved` of the operator's first); their fills book to ``account``."""
    KIND: ClassVar[str] = "fhe_liquidations"
    round_id: int
    placed: tuple[FheLiquidation, ...]
    at: int


@dataclass(frozen=True, slots=True)
class FheEvaluated(Event):
    """The decrypted outputs of an FHE round: price, volume and each slot's fill (0 for none)."""
    KIND: ClassVar[str] = "fhe_result"
    round_id: int
    caps: tuple[int, ...]
    transcript_hash: str
    price_ticks: int | None
    volume_lots: int
    slot_fills: tuple[int, ...]
    at: int


@dataclass(frozen=True, slots=True)
class FheCapsBasis(Event):
    """What an FHE round's caps were computed from (private): the margin inputs of its slot holders
    (see :func:`darkpool.margin.margin_snapshot`), the band and the slot owners, as canonical JSON
    text, so auditors recompute every cap."""
    KIND: ClassVar[str] = "fhe_caps"
    round_id: int
    basis: str
    at: int


@dataclass(frozen=True, slots=True)
class FheSidesDecrypted(Event):
    """Each filled slot's side as the circuit output it (``None``: the slot filled nothing), journaled
    right after :class:`FheEvaluated`; private, as the public must not learn who bought or sold."""
    KIND: ClassVar[str] = "fhe_sides"
    round_id: int
    slot_sides: tuple[int | None, ...]
    at: int


@dataclass(frozen=True, slots=True)
class FheEvaluationFailed(Event):
    """An FHE round's evaluation failed (its Ray cluster lost or out of time): nothing was decrypted and the
    round stays open, to be cleared again or abandoned. Evidence only: no state changes."""
    KIND: ClassVar[str] = "fhe_failed"
    round_id: int
    reason: str
    at: int


@dataclass(frozen=True, slots=True)
class FheFillsBooked(Event):  # an FHE round's fills booked (after decryption, or at the next fresh mark)
    KIND: ClassVar[str] = "fhe_booked"
    round_id: int
    at: int


@dataclass(frozen=True, slots=True)
class InstrumentsExpired(Event):
    """Dated instruments past expiry settle in cash, orders stop; at their underlying's mark at expiry (``prices``)."""
    KIND: ClassVar[str] = "expire"
    symbols: tuple[str, ...]
    at: int
    prices: tuple[float, ...] = ()
    marked_at: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchPrepared(Event):
    """A batch frozen from the books, with its roots; posted on chain next (see :class:`BatchPosted`)."""
    KIND: ClassVar[str] = "batch"
    batch_id: int
    token: Account
    balances: tuple[tuple[Account, int], ...]
    journal_seq: int
    journal_head: str
    deposits_credited: int
    fills_from: int
    fills_to: int
    withdrawal_ids: tuple[int, ...]
    balances_root: str
    fills_root: str
    withdrawals_root: str
    at: int


@dataclass(frozen=True, slots=True)
class BatchPosted(Event):
    """A prepared batch is committed on chain (``tx`` None when found there on reconciliation)."""
    KIND: ClassVar[str] = "batch_posted"
    batch_id: int
    tx: str | None
    at: int


_EVENTS: dict[str, type[Event]] = {
    cls.KIND: cls for cls in (
        DepositCredited, MarkSet, OracleRefused, VolSurfaceSet, FundingPaid, RoundOpened, WithdrawalRequested,
        CommitsAccepted, OrderCancelled, RoundSealed, SealPosted, RevealsAccepted, RoundCleared, RoundAbandoned,
        SlotReserved, FheOrderAccepted, FheLiquidationsPlaced, FheEvaluated, FheEvaluationFailed, FheCapsBasis,
        FheSidesDecrypted, FheFillsBooked, InstrumentsExpired, BatchPrepared, BatchPosted,
    )
}


def _hex(raw: bytes) -> str:
    return "0x" + raw.hex()


def _unhex(text: str) -> bytes:
    return bytes.fromhex(text[2:])


_COMMIT_SIZES = {"commitment": 32, "signature": 65}
_REVEAL_SIZES = {"salt": 32}

# Fields whose JSON form differs from the value: bytes as hex, many rows as columns.
_TO_JSON: dict[str, Callable[[Any], Any]] = {
    "root": _hex, "signature": _hex, "salt": _hex,
    "commits": lambda cs: columns(cs, CommitEntry._fields, frozenset(_COMMIT_SIZES)),
    "reveals": lambda rs: columns(rs, RevealEntry._fields, frozenset(_REVEAL_SIZES)),
    "liquidations": lambda ls: [list(x) for x in ls],
    "placed": lambda ps: [[*x[:7], _hex(x.digits), _hex(x.salt), x.mask] for x in ps],
    "balances": lambda bs: [list(x) for x in bs],
    "fhe": lambda info: None if info is None else {f.name: getattr(info, f.name) for f in fields(info)},
    "mode": str,
}
_FROM_JSON: dict[str, Callable[[Any], Any]] = {
    "root": _unhex, "signature": _unhex, "salt": _unhex,
    "commits": lambda cs: tuple(CommitEntry(*row) for row in rows(cs, CommitEntry._fields, _COMMIT_SIZES)),
    "reveals": lambda rs: tuple(RevealEntry(*row) for row in rows(rs, RevealEntry._fields, _REVEAL_SIZES)),
    "liquidations": lambda ls: tuple(LiquidationEntry(OrderId(x[0]), Account(x[1]), *x[2:]) for x in ls),
    "placed": lambda ps: tuple(FheLiquidation(x[0], OrderId(x[1]), Account(x[2]), x[3], x[4], x[5], x[6],
                                              _unhex(x[7]), _unhex(x[8]), x[9]) for x in ps),
    "balances": lambda bs: tuple((Account(a), v) for a, v in bs),
    "fhe": lambda info: None if info is None else FheRoundInfo(**info),
    "mode": Mode,
    "symbols": tuple, "prices": tuple, "marked_at": tuple, "caps": tuple, "slot_fills": tuple, "slot_sides": tuple,
    "smiles": lambda rows: tuple(tuple(row) for row in rows), "withdrawal_ids": tuple,
}


def encode(event: Event) -> tuple[str, dict[str, Any]]:
    """Return the journal kind and JSON payload of ``event``."""
    payload: dict[str, Any] = {"v": JOURNAL_FORMAT}
    for f in fields(event):
        value = getattr(event, f.name)
        convert = _TO_JSON.get(f.name)
        payload[f.name] = value if convert is None else convert(value)
    return event.KIND, payload


def decode(kind: str, payload: Mapping[str, Any], seq: int = 0) -> Event:
    """Return the event of a journal entry; raise :class:`StorageError` on another format or kind."""
    version = payload.get("v", 1)
    if version != JOURNAL_FORMAT:
        raise StorageError(f"journal format {version}, expected {JOURNAL_FORMAT} (entry {seq}): this operator "
                           "cannot replay a journal written by another release")
    cls = _EVENTS.get(kind)
    if cls is None:
        raise StorageError(f"journal entry {seq} has unknown kind {kind!r}")
    try:
        values = {}
        for f in fields(cls):
            if f.name in payload:
                convert = _FROM_JSON.get(f.name)
                raw = payload[f.name]
                values[f.name] = raw if convert is None else convert(raw)
        return cls(**values)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise StorageError(f"journal entry {seq} ({kind}) does not decode: {exc}") from None


def wire_text(wire: Mapping[str, Any]) -> str:
    """A signed message's wire form as the canonical JSON text events carry."""
    return json.dumps(wire, sort_keys=True, separators=(",", ":"))
