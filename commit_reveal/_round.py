"""The operator's side of one commit-reveal round: commit, seal, reveal, clear, cancel.

Why a reveal carries no signature: the commitment is signed (EIP-712, nonce, expiry) and binds
the account, round, instrument, side, limit, quantity, nonce and a 32-byte secret salt. Opening it
needs that salt, which only the committer has, and can only yield the exact order the account
signed, in this round. A second signature on the reveal would authenticate nothing new and
double the cost of a round (two secp256k1 recoveries per order instead of one). A party that
somehow learns a salt could at most reveal the signed order on its owner's behalf.

Every action checks everything first and changes state last, so a rejected action changes
nothing: ``commit_many`` and ``reveal_many`` apply their accepted items together after the checks
and report each rejected item with its error. Time comes only from the injected ``clock``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import numpy as np

from commit_reveal._batching import cyclic_gc_paused
from commit_reveal._bonds import BondLedger, BondState
from commit_reveal._commitment import (
    LEAF_ENCODING,
    CommitKey,
    CommitmentHash,
    CommitmentScheme,
    Reveal,
)
from commit_reveal._config import CapFn, RoundConfig
from commit_reveal._receipts import CommitmentsSealed, Receipt, sign_statement
from commit_reveal._schedule import Phase
from commit_reveal._signatures import CommitmentDigester, Recoverer, SerialRecoverer, check_canonical
from darkpool.clearing import OrderArrays, clear_arrays, clear_reference

# The C binding darkpool.crypto.keccak wraps, called bare in per-order loops to save a call per hash.
from darkpool.crypto.keccak import new_keccak as _keccak
from darkpool.crypto.merkle import IndexedValue, StandardMerkleTree, make_tree
from darkpool.domain import Account, BaseUnits, Lots, Order, OrderId, RoundResult, Side, Ticks, account
from darkpool.errors import (
    AlreadyRevealed,
    DarkPoolError,
    DuplicateNonce,
    ExpiredMessage,
    InsufficientBond,
    InvalidReveal,
    InvalidSignature,
    PhaseError,
    ReplayedMessage,
    TooEarly,
    TooLate,
    UnknownCommitment,
    ValidationError,
    WrongChainId,
    WrongRound,
    WrongVerifyingContract,
)
from darkpool.signing import Commitment, NonceBook, Signed

__all__ = ["BatchOutcome", "CommitRecord", "CommitRevealRound", "RevealRecord", "RoundState", "Seal"]

T = TypeVar("T")
SettleFn = Callable[[int, bytes], None]
"""Settlement hook, called as ``settle(round_id, commitments_root)`` (``sealCommitments`` on chain)."""


class CommitRecord(NamedTuple):
    """An accepted commitment, with the operator's id and sequence number for its order."""

    account: Account
    address: bytes
    """The account as 20 raw bytes."""
    nonce: int
    commitment: CommitmentHash
    bond: BaseUnits
    digest: bytes
    order_id: OrderId
    priority: int


class RevealRecord(NamedTuple):
    """An opened commitment: the order it revealed and what trades after the margin cap."""

    side: Side
    limit_ticks: Ticks
    revealed_lots: Lots
    quantity_lots: Lots
    """The quantity that trades: ``min(revealed, margin cap)``."""
    salt: bytes


@dataclass(frozen=True, slots=True)
class BatchOutcome(Generic[T]):
    """Accepted items (in input order) and the error of each rejected one, by input index."""

    accepted: tuple[T, ...]
    rejected: dict[int, DarkPoolError]

    def raise_first(self) -> None:
        """Raise the error of the first rejected item, if any."""
        if self.rejected:
            raise self.rejected[min(self.rejected)]


class Seal:
    """A sealed root and the operator's signed statement of it.

    The tree itself (``None`` for a round without commitments) is wrapped as an OpenZeppelin
    :class:`StandardMerkleTree` on first use: sealing needs only the root.
    """

    __slots__ = ("_layout", "_records", "_tree", "root", "statement")

    def __init__(self, root: bytes, statement: Signed, records: Sequence[CommitRecord],
                 layout: tuple[list[bytes], list[int]] | None) -> None:
        self.root = root
        self.statement = statement
        self._records = records
        self._layout = layout
        self._tree: StandardMerkleTree | None = None

    @property
    def tree(self) -> StandardMerkleTree | None:
        if self._tree is None and self._layout is not None:
            self._tree = _wrap_tree(self._records, self._layout)
        return self._tree


@dataclass(frozen=True, slots=True)
class RoundState:
    """An immutable picture of everything a round holds, for checking that nothing changed."""

    phase: Phase
    root: bytes | None
    commits: tuple[tuple[CommitKey, CommitRecord], ...]
    reveals: tuple[tuple[CommitKey, RevealRecord], ...]
    bonds: tuple[object, ...]
    spent_nonces: frozenset[tuple[str, int]]
    order_ids: frozenset[str]
    result: RoundResult | None


def _address(claimed: object) -> tuple[Account, bytes]:
    """The account a message names, lowercase and as 20 raw bytes; raise if it is not an address."""
    if type(claimed) is str and len(claimed) == 42 and claimed[:2] == "0x" and claimed.islower():
        try:
            raw = bytes.fromhex(claimed[2:])
        except ValueError:
            raw = b""
        if len(raw) == 20:
            return Account(claimed), raw
    normalised = account(claimed)  # type: ignore[arg-type]  # raises ValidationError on a non-address
    return normalised, bytes.fromhex(normalised[2:])


def _tree_layout(records: Sequence[CommitRecord]) -> tuple[list[bytes], list[int]]:
    """The commitments tree's node array and each record's tree index, as ``StandardMerkleTree.of``."""
    # commitment_leaf() written inline: the records were checked when they were accepted.
    pad12, pad24, keccak = bytes(12), bytes(24), _keccak
    hashes = [
        keccak(keccak(b"".join((pad12, r.address, pad24, r.nonce.to_bytes(8, "big"), r.commitment))).digest()).digest()
        for r in records
    ]
    order = sorted(range(len(hashes)), key=hashes.__getitem__)
    nodes = make_tree([hashes[i] for i in order])
    tree_index = [0] * len(hashes)
    last = len(nodes) - 1
    for position, value_index in enumerate(order):
        tree_index[value_index] = last - position
    return nodes, tree_index


def _wrap_tree(records: Sequence[CommitRecord], layout: tuple[list[bytes], list[int]]) -> StandardMerkleTree:
    nodes, tree_index = layout
    values = [IndexedValue((r.account, r.nonce, r.commitment), i) for r, i in zip(records, tree_index, strict=True)]
    return StandardMerkleTree(nodes, values, LEAF_ENCODING)


def _build_tree(records: Sequence[CommitRecord]) -> StandardMerkleTree:
    """The commitments tree (leaf hashes computed here equal ``StandardMerkleTree.of``, tested)."""
    return _wrap_tree(records, _tree_layout(records))


class _Candidate(NamedTuple):
    position: int
    message: Commitment
    signer: Account
    address: bytes
    digest: bytes


@dataclass(slots=True)
class _Admission:
    """What one ``commit_many`` call has accepted and refused so far."""

    order_ids: Sequence[str] | None
    priorities: Sequence[int] | None
    sequence: int
    accepted: dict[CommitKey, CommitRecord] = field(default_factory=dict)
    new_ids: set[str] = field(default_factory=set)
    rejected: dict[int, DarkPoolError] = field(default_factory=dict)


class CommitRevealRound:
    """One round on the operator: phases from ``clock``, bonds, nonces, seal, reveals, clearing.

    ``settle`` receives the commitments root at the seal (the settlement contract's
    ``sealCommitments``); if it raises, the round stays unsealed. ``cap`` is the margin engine's
    per-order cap, applied at reveal. ``recoverer`` chooses where signature recovery runs.
    """

    def __init__(
        self,
        config: RoundConfig,
        *,
        clock: Callable[[], int],
        settle: SettleFn | None = None,
        cap: CapFn | None = None,
        nonces: NonceBook | None = None,
        bonds: BondLedger | None = None,
        recoverer: Recoverer | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._settle = settle
        self._cap = cap
        self.nonces = NonceBook() if nonces is None else nonces
        self.bonds = BondLedger() if bonds is None else bonds
        self._recoverer = SerialRecoverer() if recoverer is None else recoverer
        market = config.market
        self._scheme = CommitmentScheme(market.instrument, config.round_id)
        self._digester = CommitmentDigester(config.domain, market.instrument, config.round_id)
        self._commits: dict[CommitKey, CommitRecord] = {}
        self._order_ids: set[str] = set()
        self._reveals: dict[CommitKey, Reveal] = {}
        self._capped: dict[CommitKey, Lots] = {}
        """Quantities the margin cap lowered; every other reveal trades its revealed quantity."""
        self._seal: Seal | None = None
        self._positions: dict[CommitKey, int] | None = None
        self._result: RoundResult | None = None
        self._cleared_columns: tuple[list[OrderId], list[Side], list[Ticks], list[Lots], list[int]] | None = None
        self._cancelled = False

    # --- state ----------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self.config.schedule.phase(
            self._clock(), sealed=self._seal is not None, cleared=self._result is not None, cancelled=self._cancelled
        )

    @property
    def seal_record(self) -> Seal | None:
        return self._seal

    @property
    def result(self) -> RoundResult | None:
        return self._result

    @property
    def cleared_orders(self) -> tuple[Order, ...]:
        """The orders that went into clearing (revealed, capped, in commit order); empty before clearing."""
        if self._cleared_columns is None:
            return ()
        return tuple(map(Order, *self._cleared_columns))

    def commitments(self) -> list[CommitRecord]:
        """Every accepted commitment, in sequence order."""
        return list(self._commits.values())

    def reveal_of(self, key: CommitKey) -> RevealRecord | None:
        reveal = self._reveals.get(key)
        if reveal is None:
            return None
        quantity = self._capped.get(key, reveal.quantity_lots)
        return RevealRecord(reveal.side, reveal.limit_ticks, reveal.quantity_lots, quantity, reveal.salt)

    def snapshot(self) -> RoundState:
        spent = frozenset((a, n) for a, ns in self.nonces._spent.items() for n in ns)
        return RoundState(
            self.phase, None if self._seal is None else self._seal.root, tuple(self._commits.items()),
            tuple((k, r) for k in self._reveals if (r := self.reveal_of(k)) is not None), self.bonds.snapshot(),
            spent, frozenset(self._order_ids), self._result,
        )

    def _require(self, wanted: Phase, action: str) -> Phase:
        phase = self.phase
        if phase is wanted:
            return phase
        order = [Phase.OPEN, Phase.COMMIT, Phase.SEALING, Phase.REVEAL, Phase.CLEARING]
        if phase in order and order.index(phase) < order.index(wanted):
            raise TooEarly(f"cannot {action} in phase {phase.value}: it opens in phase {wanted.value}")
        if phase in order:
            raise TooLate(f"cannot {action} in phase {phase.value}: phase {wanted.value} is over")
        raise PhaseError(f"cannot {action}: round is {phase.value}")

    # --- commit ---------------------------------------------------------------------------

    def commit(self, signed: Signed, *, order_id: str | None = None, priority: int | None = None) -> CommitKey:
        """Accept one signed commitment and its bond; return its key ``(account, nonce)``."""
        outcome = self.commit_many(
            [signed], order_ids=None if order_id is None else [order_id],
            priorities=None if priority is None else [priority],
        )
        outcome.raise_first()
        return outcome.accepted[0]

    @cyclic_gc_paused()
    def commit_many(
        self,
        signed: Sequence[Signed],
        *,
        order_ids: Sequence[str] | None = None,
        priorities: Sequence[int] | None = None,
    ) -> BatchOutcome[CommitKey]:
        """Check many signed commitments, accept the valid ones together and report the rest.

        ``order_ids`` and ``priorities`` are the operator's labels and sequence numbers; by default
        the id is ``"<account>:<nonce>"`` and the priority the commitment's arrival number.
        Errors per item: :class:`ValidationError`, :class:`WrongChainId`,
        :class:`WrongVerifyingContract`, :class:`WrongRound`, :class:`ExpiredMessage`,
        :class:`InsufficientBond`, :class:`MalleableSignature`, :class:`InvalidSignature`,
        :class:`ReplayedMessage` (the same message again), :class:`DuplicateNonce` (another
        message with a spent nonce). A commit out of phase raises :class:`TooEarly`/:class:`TooLate`.
        """
        self._require(Phase.COMMIT, "commit")
        for name, labels in (("order ids", order_ids), ("priorities", priorities)):
            if labels is not None and len(labels) != len(signed):
                raise ValidationError(f"expected {len(signed)} {name}, got {len(labels)}")
        batch = _Admission(order_ids, priorities, len(self._commits))
        # Chunks keep each message in cache from its first checks to its signature check.
        chunk = self._recoverer.batch_size or max(1, len(signed))
        for first in range(0, len(signed), chunk):
            candidates = self._screen(signed, range(first, min(first + chunk, len(signed))), batch.rejected)
            recovered = self._recoverer.recover([c.digest for c in candidates],
                                                [signed[c.position].signature for c in candidates])
            self._admit(candidates, recovered, batch)

        # Every check has passed for the accepted items: only now does state change.
        accepted = batch.accepted
        for signer, nonce in accepted:
            self.nonces.spend(signer, nonce)
        self.bonds.post_many(accepted, (r.bond for r in accepted.values()))
        self._commits.update(accepted)
        self._order_ids |= batch.new_ids
        return BatchOutcome(tuple(accepted), dict(sorted(batch.rejected.items())))

    def _screen(
        self, signed: Sequence[Signed], indices: range, rejected: dict[int, DarkPoolError]
    ) -> list[_Candidate]:
        """Every check short of the signature; return the survivors with their digests."""
        now = self._clock()
        config = self.config
        chain_id, contract = config.domain.chain_id, config.domain.verifying_contract
        round_id, instrument, min_bond = config.round_id, config.market.instrument, config.bond_base_units
        digest_of = self._digester.digest
        candidates = []
        for i in indices:
            item = signed[i]
            try:
                message = item.message
                if not isinstance(message, Commitment):
                    raise ValidationError(f"expected a Commitment message, got {type(message).__name__}")
                if item.chain_id != chain_id:
                    raise WrongChainId(f"expected chain id {chain_id}, got {item.chain_id}")
                if item.verifying_contract != contract and account(item.verifying_contract) != contract:
                    raise WrongVerifyingContract(
                        f"expected verifying contract {contract}, got {item.verifying_contract}"
                    )
                if message.round_id != round_id or message.instrument != instrument:
                    raise WrongRound(
                        f"expected round {round_id} of {instrument}, got round {message.round_id} "
                        f"of {message.instrument}"
                    )
                bond, nonce, expiry = message.bond, message.nonce, message.expiry
                if type(bond) is not int or type(nonce) is not int or type(expiry) is not int:
                    raise ValidationError(
                        f"Commitment bond, nonce and expiry must be integers, got {bond!r}, {nonce!r}, {expiry!r}"
                    )
                if type(message.commitment) is not bytes:
                    raise ValidationError("Commitment.commitment must be 32 bytes")
                if expiry <= now:
                    raise ExpiredMessage(f"message expired at {expiry}, now is {now}")
                if bond < min_bond:
                    raise InsufficientBond(f"round requires a bond of {min_bond} base units, got {bond}")
                signer, raw = _address(message.account)
                digest = digest_of(raw, message.commitment, bond, nonce, expiry)
                check_canonical(item.signature)
            except DarkPoolError as exc:
                rejected[i] = exc
                continue
            candidates.append(_Candidate(i, message, signer, raw, digest))
        return candidates

    def _admit(self, candidates: list[_Candidate], recovered: list[bytes | None], batch: _Admission) -> None:
        """The signature, nonce and id checks; admit each survivor into ``batch``."""
        accepted, new_ids, rejected = batch.accepted, batch.new_ids, batch.rejected
        commits, used_ids, is_spent = self._commits, self._order_ids, self.nonces.is_spent
        for (i, message, signer, raw, digest), address in zip(candidates, recovered, strict=True):
            nonce = message.nonce
            key = (signer, nonce)
            try:
                if address != raw:  # None when recovery fails
                    raise InvalidSignature("signature does not verify")
                previous = commits.get(key) or accepted.get(key)
                if previous is not None:
                    if hmac.compare_digest(previous.digest, digest):
                        raise ReplayedMessage(f"commitment with nonce {nonce} of {signer} was already accepted")
                    raise DuplicateNonce(f"nonce {nonce} of {signer} is already used by another commitment")
                if is_spent(signer, nonce):
                    raise ReplayedMessage(f"nonce {nonce} of {signer} was already used")
                order_id = OrderId(f"{signer}:{nonce}" if batch.order_ids is None else batch.order_ids[i])
                if not isinstance(order_id, str) or not order_id:
                    raise ValidationError(f"order id must be a non-empty string, got {order_id!r}")
                if order_id in used_ids or order_id in new_ids:
                    raise ValidationError(f"order id {order_id!r} is already in use in this round")
                priority = batch.sequence + len(accepted) if batch.priorities is None else batch.priorities[i]
                if type(priority) is not int:
                    raise ValidationError(f"priority must be an integer, got {priority!r}")
            except DarkPoolError as exc:
                rejected[i] = exc
                continue
            new_ids.add(order_id)
            accepted[key] = CommitRecord(
                signer, raw, nonce, CommitmentHash(message.commitment), BaseUnits(message.bond), digest,
                order_id, priority,
            )

    # --- seal -----------------------------------------------------------------------------

    @cyclic_gc_paused()
    def seal(self) -> Seal:
        """Build the commitments root, sign it, hand it to settlement and open the reveals.

        A round without commitments seals the zero root and skips settlement (the contract
        refuses a zero root; there is nothing to prove).
        """
        self._require(Phase.SEALING, "seal")
        if self._clock() >= self.config.schedule.reveal_closes_at:
            raise TooLate("cannot seal after the reveal deadline: cancel the round instead")
        config = self.config
        records = list(self._commits.values())
        layout = _tree_layout(records) if records else None
        root = bytes(32) if layout is None else layout[0][0]
        statement = CommitmentsSealed(config.operator, config.market.instrument, config.round_id, root, len(records))
        signed = sign_statement(statement, config.domain, config.operator_key)
        if layout is not None and self._settle is not None:
            self._settle(config.round_id, root)
        self._seal = Seal(root, signed, records, layout)
        return self._seal

    def receipt(self, account_: str, nonce: int) -> Receipt:
        """The receipt proving that commitment ``(account, nonce)`` is in the sealed root."""
        if self._seal is None:
            raise TooEarly("receipts exist once the round is sealed")
        tree = self._seal.tree
        if tree is None:
            raise UnknownCommitment(f"no commitment of {account_} with nonce {nonce}")
        key = (account(account_), nonce)
        if self._positions is None:
            self._positions = {k: i for i, k in enumerate(self._commits)}
        position = self._positions.get(key)
        if position is None:
            raise UnknownCommitment(f"no commitment of {account_} with nonce {nonce}")
        record = self._commits[key]
        return Receipt(
            self._seal.statement, record.account, record.nonce, record.commitment,
            tree.values[position].tree_index, tuple(tree.get_proof_bytes(position)),
        )

    # --- reveal ---------------------------------------------------------------------------

    def reveal(self, reveal: Reveal) -> OrderId:
        """Open one commitment; return the order id it trades under."""
        outcome = self.reveal_many([reveal])
        outcome.raise_first()
        return self._commits[outcome.accepted[0]].order_id

    @cyclic_gc_paused()
    def reveal_many(self, reveals: Sequence[Reveal]) -> BatchOutcome[CommitKey]:
        """Check many reveals in constant time against their commitments; accept the valid ones.

        Errors per item: :class:`UnknownCommitment`, :class:`AlreadyRevealed`, and the opaque
        :class:`InvalidReveal` for any wrong field or salt. Out of phase: :class:`TooEarly`
        before the seal, :class:`TooLate` after the deadline.
        """
        self._require(Phase.REVEAL, "reveal")
        commitment_of = self._scheme.hasher()
        commits, reveals_done, cap = self._commits, self._reveals, self._cap
        accepted: dict[CommitKey, Reveal] = {}
        capped: dict[CommitKey, Lots] = {}
        rejected: dict[int, DarkPoolError] = {}
        compare = hmac.compare_digest
        for i, reveal in enumerate(reveals):
            try:
                if not isinstance(reveal, Reveal):
                    raise ValidationError(f"expected a Reveal, got {type(reveal).__name__}")
                key = (reveal.account, reveal.nonce)
                record = commits.get(key)
                if record is None:
                    raise UnknownCommitment(f"no commitment of {reveal.account} with nonce {reveal.nonce}")
                if key in reveals_done or key in accepted:
                    raise AlreadyRevealed(f"commitment of {reveal.account} with nonce {reveal.nonce} is already open")
                if not compare(commitment_of(reveal), record.commitment):
                    raise InvalidReveal("reveal does not open its commitment")
                if cap is not None:
                    quantity = reveal.quantity_lots
                    allowed = Lots(max(0, min(quantity, int(cap(reveal.account, reveal.side, reveal.limit_ticks,
                                                                 quantity)))))
                    if allowed < quantity:
                        capped[key] = allowed
            except DarkPoolError as exc:
                rejected[i] = exc
                continue
            accepted[key] = reveal
        self.bonds.release_many(accepted)
        reveals_done.update(accepted)
        self._capped.update(capped)
        return BatchOutcome(tuple(accepted), rejected)

    # --- clear and cancel -----------------------------------------------------------------

    @cyclic_gc_paused()
    def clear(self) -> RoundResult:
        """Clear the revealed orders with the vectorized engine; forfeit unrevealed bonds.

        Allowed after the reveal deadline, or earlier once every commitment is revealed. Orders
        capped to zero lots take no part. Fills are keyed by order id, in commit order.
        """
        phase = self.phase
        if not (phase is Phase.REVEAL and len(self._reveals) == len(self._commits)):
            self._require(Phase.CLEARING, "clear")
        commits, reveals, capped = self._commits, self._reveals, self._capped
        keys = [k for k in commits if k in reveals and capped.get(k) != 0]
        opened = [reveals[k] for k in keys]
        ids = [commits[k].order_id for k in keys]
        side = [r.side for r in opened]
        limits = [r.limit_ticks for r in opened]
        quantities = [capped.get(k, r.quantity_lots) for k, r in zip(keys, opened, strict=True)]
        priorities = [commits[k].priority for k in keys]
        market = self.config.market
        try:
            arrays = OrderArrays(
                is_buy=np.array([s is Side.BUY for s in side], dtype=np.bool_),
                limit_ticks=np.array(limits, dtype=np.int64),
                quantity_lots=np.array(quantities, dtype=np.int64),
                priority=np.array(priorities, dtype=np.int64),
            )
            cleared = clear_arrays(market, arrays)
            price = None if cleared.price_ticks is None else Ticks(cleared.price_ticks)
            result = RoundResult(price, Lots(cleared.volume_lots), dict(zip(ids, cleared.fills.tolist(), strict=True)))
        except OverflowError:  # beyond int64: the reference engine's Python integers
            result = clear_reference(market, list(map(Order, ids, side, limits, quantities, priorities)))
        self.bonds.forfeit_many(key for key in commits if key not in reveals)
        self._cleared_columns = (ids, side, limits, quantities, priorities)
        self._result = result
        return result

    def cancel(self) -> None:
        """Call the round off before clearing; every bond still posted goes back."""
        phase = self.phase
        if phase in (Phase.CLEARED, Phase.CANCELLED):
            raise PhaseError(f"cannot cancel: round is {phase.value}")
        bonds = self.bonds
        bonds.release_many(k for k in self._commits if (b := bonds.get(k)) is not None and b.state is BondState.POSTED)
        self._cancelled = True
