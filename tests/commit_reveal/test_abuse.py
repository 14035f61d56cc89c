"""Every abuse gets its own error and changes nothing; a double reveal never makes a second order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from coincurve import PrivateKey

from commit_reveal import CommitRevealRound, Reveal, SealedOrder, sign_message
from darkpool.domain import Lots, Side, Ticks
from darkpool.errors import (
    AlreadyRevealed,
    DarkPoolError,
    DuplicateNonce,
    ExpiredMessage,
    InsufficientBond,
    InvalidReveal,
    InvalidSignature,
    MalleableSignature,
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
from darkpool.signing import SECP256K1_N, SigningDomain
from tests.commit_reveal.helpers import BOND, DOMAIN, SCHEDULE, Clock, key, new_round, seal_order


@dataclass
class World:
    clock: Clock
    round: CommitRevealRound
    alice: SealedOrder
    bob: SealedOrder


def _world(phase: str) -> World:
    """A round with Alice's and Bob's commitments, moved to ``phase`` ("open" turns the clock back)."""
    clock = Clock(SCHEDULE.commit_opens_at)
    round_ = new_round(clock)
    alice, bob = seal_order(1, Side.BUY, 300_004, 10), seal_order(2, Side.SELL, 299_990, 6)
    round_.commit_many([alice.signed, bob.signed]).raise_first()
    if phase == "open":
        clock.now = SCHEDULE.commit_opens_at - 1
    if phase in ("sealing", "reveal", "revealed", "late"):
        clock.now = SCHEDULE.commit_closes_at
    if phase in ("reveal", "revealed", "late"):
        round_.seal()
    if phase == "revealed":
        round_.reveal(alice.reveal)
    if phase == "late":
        clock.now = SCHEDULE.reveal_closes_at
    return World(clock, round_, alice, bob)


def _resigned(sealed: SealedOrder, n: int, **changes: object) -> object:
    message = dataclasses.replace(sealed.signed.message, **changes)
    return sign_message(message, DOMAIN, key(n))  # type: ignore[arg-type]


def _high_s(sealed: SealedOrder) -> object:
    signature = sealed.signed.signature
    s = SECP256K1_N - int.from_bytes(signature[32:64], "big")
    flipped = signature[:32] + s.to_bytes(32, "big") + bytes([55 - signature[64]])
    return dataclasses.replace(sealed.signed, signature=flipped)


def _other_domain(sealed: SealedOrder, domain: SigningDomain) -> object:
    signed = sign_message(sealed.signed.message, domain, key(1))  # type: ignore[arg-type]
    return signed


def _wrong(reveal: Reveal, **changes: object) -> Reveal:
    return dataclasses.replace(reveal, **changes)


Action = Callable[[World], object]

CASES: list[tuple[str, str, Action, type[DarkPoolError]]] = [
    # commits
    ("open", "commit before the round opens", lambda w: w.round.commit(seal_order(3).signed), TooEarly),
    ("sealing", "commit after the commit phase closed", lambda w: w.round.commit(seal_order(3).signed), TooLate),
    ("commit", "replayed commitment", lambda w: w.round.commit(w.alice.signed), ReplayedMessage),
    ("commit", "second commitment with the same nonce",
     lambda w: w.round.commit(seal_order(1, Side.SELL, 299_000, 1).signed), DuplicateNonce),
    ("commit", "signature from another account",
     lambda w: w.round.commit(_resigned(seal_order(1, nonce=5), 2)), InvalidSignature),  # type: ignore[arg-type]
    ("commit", "signature over other fields",
     lambda w: w.round.commit(dataclasses.replace(seal_order(1, nonce=5).signed, signature=w.bob.signed.signature)),
     InvalidSignature),
    ("commit", "high-s signature", lambda w: w.round.commit(_high_s(seal_order(1, nonce=5))),  # type: ignore[arg-type]
     MalleableSignature),
    ("commit", "expired commitment",
     lambda w: w.round.commit(seal_order(3, expiry=SCHEDULE.commit_opens_at).signed), ExpiredMessage),
    ("commit", "bond below the round's", lambda w: w.round.commit(seal_order(3, bond=BOND - 1).signed),
     InsufficientBond),
    ("commit", "commitment for another round", lambda w: w.round.commit(seal_order(3, round_id=8).signed),
     WrongRound),
    ("commit", "commitment for another instrument",
     lambda w: w.round.commit(seal_order(3, instrument="BTC-PERP").signed), WrongRound),
    ("commit", "commitment for another chain",
     lambda w: w.round.commit(seal_order(3, domain=SigningDomain(1, DOMAIN.verifying_contract)).signed), WrongChainId),
    ("commit", "commitment for another contract",
     lambda w: w.round.commit(seal_order(3, domain=SigningDomain(31337, "0x" + "77" * 20)).signed),
     WrongVerifyingContract),
    ("commit", "commitment of the wrong length",
     lambda w: w.round.commit(_resigned(seal_order(3, nonce=5), 3, commitment=bytes(31))),  # type: ignore[arg-type]
     ValidationError),
    ("commit", "order id already in use",
     lambda w: w.round.commit(seal_order(3).signed, order_id=f"{w.alice.reveal.account}:1"), ValidationError),
    # seal and clear out of phase
    ("commit", "seal before the commit phase closed", lambda w: w.round.seal(), TooEarly),
    ("reveal", "seal twice", lambda w: w.round.seal(), PhaseError),
    ("reveal", "clear before the reveal deadline", lambda w: w.round.clear(), TooEarly),
    # reveals
    ("commit", "reveal during the commit phase", lambda w: w.round.reveal(w.alice.reveal), TooEarly),
    ("sealing", "reveal before the seal", lambda w: w.round.reveal(w.alice.reveal), TooEarly),
    ("late", "reveal after the deadline", lambda w: w.round.reveal(w.alice.reveal), TooLate),
    ("reveal", "reveal with the wrong salt",
     lambda w: w.round.reveal(_wrong(w.alice.reveal, salt=bytes(32))), InvalidReveal),
    ("reveal", "reveal with the wrong side", lambda w: w.round.reveal(_wrong(w.alice.reveal, side=Side.SELL)),
     InvalidReveal),
    ("reveal", "reveal with the wrong limit", lambda w: w.round.reveal(_wrong(w.alice.reveal, limit_ticks=Ticks(1))),
     InvalidReveal),
    ("reveal", "reveal with the wrong quantity",
     lambda w: w.round.reveal(_wrong(w.alice.reveal, quantity_lots=Lots(11))), InvalidReveal),
    ("reveal", "reveal of another account's commitment with its own salt",
     lambda w: w.round.reveal(_wrong(w.bob.reveal, account=w.alice.reveal.account)), InvalidReveal),
    ("reveal", "reveal without a commitment", lambda w: w.round.reveal(seal_order(3).reveal), UnknownCommitment),
    ("reveal", "reveal of an unknown nonce", lambda w: w.round.reveal(_wrong(w.alice.reveal, nonce=2)),
     UnknownCommitment),
    ("revealed", "second reveal", lambda w: w.round.reveal(w.alice.reveal), AlreadyRevealed),
    ("revealed", "second reveal with other fields",
     lambda w: w.round.reveal(_wrong(w.alice.reveal, quantity_lots=Lots(99))), AlreadyRevealed),
]


@pytest.mark.parametrize(("phase", "action", "error"), [pytest.param(p, a, e, id=name) for p, name, a, e in CASES])
def test_abuse_when_attempted_raises_its_error_and_changes_nothing(
    phase: str, action: Action, error: type[DarkPoolError]
) -> None:
    world = _world(phase)
    before = world.round.snapshot()
    with pytest.raises(error):
        action(world)
    assert world.round.snapshot() == before


def test_commit_many_when_one_item_is_bad_accepts_the_rest_exactly_as_alone() -> None:
    good = [seal_order(n) for n in (3, 4)]
    bad = seal_order(5, bond=0)
    mixed = _world("commit")
    outcome = mixed.round.commit_many([good[0].signed, bad.signed, good[1].signed])
    assert list(outcome.rejected) == [1]
    assert isinstance(outcome.rejected[1], InsufficientBond)
    clean = _world("commit")
    clean.round.commit_many([g.signed for g in good]).raise_first()
    assert mixed.round.snapshot() == clean.round.snapshot()


def test_commit_many_when_the_same_nonce_twice_in_one_batch_accepts_only_the_first() -> None:
    world = _world("commit")
    first, second = seal_order(3, quantity=1), seal_order(3, quantity=2)
    outcome = world.round.commit_many([first.signed, second.signed, first.signed])
    assert len(outcome.accepted) == 1
    assert isinstance(outcome.rejected[1], DuplicateNonce)
    assert isinstance(outcome.rejected[2], ReplayedMessage)


def test_reveal_when_repeated_never_adds_a_second_order() -> None:
    world = _world("reveal")
    outcome = world.round.reveal_many([world.alice.reveal, world.alice.reveal, world.bob.reveal])
    assert isinstance(outcome.rejected[1], AlreadyRevealed)
    with pytest.raises(AlreadyRevealed):
        world.round.reveal(world.alice.reveal)
    world.clock.now = SCHEDULE.reveal_closes_at
    result = world.round.clear()
    assert len(result.fills) == 2
    assert result.volume_lots == 6


def test_commit_when_nonce_spent_in_a_shared_nonce_book_raises_replayed_message() -> None:
    world = _world("commit")
    world.round.nonces.spend(seal_order(3).reveal.account, 1)
    before = world.round.snapshot()
    with pytest.raises(ReplayedMessage):
        world.round.commit(seal_order(3).signed)
    assert world.round.snapshot() == before


def test_operator_key_when_config_printed_is_not_shown() -> None:
    from tests.commit_reveal.helpers import OPERATOR_KEY, config

    assert OPERATOR_KEY.hex() not in repr(config())
    assert PrivateKey(OPERATOR_KEY).public_key is not None
