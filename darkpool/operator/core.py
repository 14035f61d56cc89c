"""The operator core: check a request, journal it, then apply it; replay the journal on start.

Every state change goes through :meth:`OperatorCore._accept`: the request is checked against the
current state (raising changes nothing), appended to the journal with the time it was accepted,
and applied by :meth:`_apply`, the one function replay also runs. Applying is deterministic in the
journal's contents (times come from the entries, never from the clock), so a restart that replays
the journal reaches the same state. Callers acknowledge only after the entry's future resolves.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from darkpool.crypto.sealing import Sealer
from darkpool.domain import Account, BaseUnits, Instrument, Round, Ticks, account
from darkpool.errors import NotFound, PhaseError, PolicyViolation, ServiceUnavailable, ValidationError
from darkpool.ledger import Appended, Books, Journal, JournalEntry
from darkpool.margin import MarginConfig, MarginEngine
from darkpool.operator.rounds import Mode, Phase, RoundState
from darkpool.signing import Signed, SigningDomain, Verifier, signed_from_wire

__all__ = ["CoreConfig", "OperatorCore", "Settler"]


class Settler(Protocol):
    """The chain side of the operator (web3 lives behind this)."""

    def seal_round(self, round_id: int, commitments_root: str) -> str: ...

    def settle(self, batch: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CoreConfig:
    """What the core needs to decide: signing domain, token, instruments and margin policy."""

    domain: SigningDomain
    token: str
    instruments: tuple[Instrument, ...]
    margin: MarginConfig = field(default_factory=MarginConfig)
    implied_vols: Mapping[str, float] = field(default_factory=dict)
    max_levels: int = 64
    max_slots: int = 64


class OperatorCore:
    """Sequencer, books, rounds and margin of one operator, rebuilt from its journal."""

    def __init__(self, journal: Journal, config: CoreConfig, clock: Callable[[], int],
                 settler: Settler | None = None, *, fhe_backend: Any = None, sealer: Sealer | None = None) -> None:
        self.fhe_backend = fhe_backend
        self.sealer = sealer or Sealer(secrets.token_bytes(32))
        self.journal = journal
        self.config = config
        self.clock = clock
        self.settler = settler
        self.lock = threading.RLock()
        self.verifier = Verifier(config.domain, clock=clock)
        self.books = Books()
        self.margin = MarginEngine(config.instruments, config.margin, dict(config.implied_vols))
        self.instruments = {i.symbol: i for i in config.instruments}
        self.rounds: dict[int, RoundState] = {}
        self.forfeited: dict[Account, int] = {}  # for display: margin.charge debits the bonds
        self.locked_bonds: dict[Account, int] = {}
        self.batches: list[dict[str, Any]] = []
        self.marks: dict[str, dict[str, Any]] = {}
        self._fills_batched = 0
        self._handlers: dict[str, Callable[[dict[str, Any], JournalEntry], None]] = {}
        self.extensions: list[Any] = []
        from darkpool.operator import apply as _apply

        _apply.register(self)
        for entry in journal.recovered():
            self._apply(entry)

    # -- the one path of every state change ------------------------------------------------------

    def register(self, kind: str, handler: Callable[[dict[str, Any], JournalEntry], None]) -> None:
        """Register the function that applies journal entries of ``kind``."""
        self._handlers[kind] = handler

    def _apply(self, entry: JournalEntry) -> None:
        handler = self._handlers.get(entry.kind)
        if handler is None:
            raise ValidationError(f"journal entry {entry.seq} has unknown kind {entry.kind!r}")
        handler(entry.data(), entry)

    def _accept(self, kind: str, payload: dict[str, Any]) -> Appended:
        """Append ``payload`` (already checked) and apply it; the caller holds the lock."""
        appended = self.journal.append(kind, payload)
        self._apply(appended.entry)
        return appended

    def now(self) -> int:
        return int(self.clock())

    # -- deposits and marks ----------------------------------------------------------------------

    def credit_deposit(self, deposit_id: int, holder: str, amount: int) -> Appended | None:
        """Credit an on-chain deposit event; a deposit already credited returns None."""
        who = account(holder)
        with self.lock:
            if deposit_id in self.books.deposits:
                return None
            if deposit_id != len(self.books.deposits) + 1:
                raise ValidationError(f"deposits are credited in order: expected id {len(self.books.deposits) + 1}, "
                                      f"got {deposit_id}")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise ValidationError(f"deposit amount must be a positive integer, got {amount!r}")
            return self._accept("deposit", {"deposit_id": deposit_id, "account": who, "amount": amount,
                                            "at": self.now()})

    def set_mark(self, underlying: str, price: float) -> Appended:
        """Record an oracle mark of ``underlying`` now."""
        with self.lock:
            if underlying not in {i.underlying for i in self.config.instruments}:
                raise NotFound(f"no instrument has underlying {underlying!r}")
            if isinstance(price, bool) or not isinstance(price, (int, float)) or not 0 < price < 1e18:
                raise ValidationError(f"mark price must be a positive number, got {price!r}")
            return self._accept("mark", {"underlying": underlying, "price": float(price), "at": self.now()})

    # -- rounds ----------------------------------------------------------------------------------

    def open_round(self, mode: Mode, instrument: str, reference_ticks: int, band_low_ticks: int, levels: int,
                   slot_count: int = 0) -> tuple[Appended, int]:
        """Announce a round with its reference price and band."""
        with self.lock:
            if instrument not in self.instruments:
                raise NotFound(f"unknown instrument {instrument!r}; known: {sorted(self.instruments)}")
            Round(instrument, Ticks(reference_ticks), Ticks(band_low_ticks), levels)
            if not 1 <= levels <= self.config.max_levels:
                raise ValidationError(f"levels must be in 1..{self.config.max_levels}, got {levels}")
            if mode is Mode.FHE and not 1 <= slot_count <= self.config.max_slots:
                raise ValidationError(f"an FHE round needs 1..{self.config.max_slots} slots, got {slot_count}")
            busy = [r.round_id for r in self.rounds.values()
                    if r.round.instrument == instrument and r.phase is not Phase.CLEARED]
            if busy:
                raise PhaseError(f"round {busy[0]} of {instrument} is still running")
            round_id = max(self.rounds, default=0) + 1
            fhe_info = None
            if mode is Mode.FHE:
                if self.fhe_backend is None:
                    raise ServiceUnavailable("this operator has no FHE backend (custodian) configured")
                fhe_info = self.fhe_backend.open_round(round_id, slot_count, levels)
            appended = self._accept("round_open", {
                "round_id": round_id, "mode": mode.value, "instrument": instrument,
                "reference_ticks": reference_ticks, "band_low_ticks": band_low_ticks, "levels": levels,
                "slot_count": slot_count if mode is Mode.FHE else 0, "fhe": fhe_info, "at": self.now()})
            return appended, round_id

    def get_round(self, round_id: int) -> RoundState:
        found = self.rounds.get(round_id)
        if found is None:
            raise NotFound(f"no round {round_id}")
        return found

    # -- withdrawals -----------------------------------------------------------------------------

    def request_withdrawal(self, signed: Signed) -> tuple[Appended, int]:
        """Debit a signed withdrawal request; it is paid once a batch commits it."""
        from darkpool.signing import WithdrawalRequest

        message = signed.message
        if not isinstance(message, WithdrawalRequest):
            raise ValidationError("expected a WithdrawalRequest")
        with self.lock:
            signer = Account(self.verifier.check(signed))
            if account(message.token) != account(self.config.token):
                raise ValidationError(f"token must be {self.config.token}, got {message.token}")
            if message.amount <= 0:
                raise ValidationError(f"withdrawal amount must be positive, got {message.amount}")
            free = self.free_balance(signer)
            if message.amount > free:
                raise PolicyViolation(f"withdrawal of {message.amount} exceeds free balance {free} of {signer}")
            now = self.now()
            margin_free = self.margin.account_margin(signer, now).free_collateral
            if message.amount > margin_free:
                raise PolicyViolation(f"withdrawal of {message.amount} exceeds free collateral {margin_free}")
            withdrawal_id = len(self.books.withdrawals) + 1
            from darkpool.signing import signed_to_wire

            appended = self._accept("withdraw", {"withdrawal_id": withdrawal_id, "signed": signed_to_wire(signed),
                                                 "at": now})
            return appended, withdrawal_id

    # -- reads -----------------------------------------------------------------------------------

    def bonds_locked(self, holder: Account) -> int:
        """Bonds of ``holder`` in rounds not yet cleared."""
        return self.locked_bonds.get(holder, 0)

    def balance(self, holder: Account) -> BaseUnits:
        """The balance of ``holder`` as the margin engine (owner of cash) books it, floored at zero."""
        return BaseUnits(max(0, self.margin.cash(holder)))

    def balances(self) -> dict[Account, BaseUnits]:
        """The balance of every account that ever deposited, sorted by account."""
        return {a: self.balance(a) for a in self.books.accounts()}

    def free_balance(self, holder: Account) -> int:
        """Balance not locked as bonds of running rounds."""
        return self.balance(holder) - self.bonds_locked(holder)

    def require_settler(self) -> Settler:
        if self.settler is None:
            raise ServiceUnavailable("this operator has no chain configured")
        return self.settler

    def balance_view(self, holder: Account) -> dict[str, Any]:
        return {"account": holder, "balance": self.balance(holder), "free": self.free_balance(holder),
                "bonds_locked": self.bonds_locked(holder), "forfeited": self.forfeited.get(holder, 0)}


def parse_signed(raw: object, expected: type[Any]) -> Signed:
    """Parse a wire-form signed message of type ``expected``."""
    return signed_from_wire(raw, expected)
