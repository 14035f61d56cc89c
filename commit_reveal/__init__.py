"""Commit-reveal rounds: sealed commitments, reveals, bonds, commitments root, fast clearing.

A committer signs ``keccak256(abi.encode(order fields, salt))`` as an EIP-712 ``Commitment`` with a
bond; after the commit phase the operator seals the commitments' OpenZeppelin Merkle root (handing
it to settlement) and gives each committer a signed receipt; reveals are checked in constant time;
the revealed orders clear with the vectorized engine and are published for replay.

The flow, with time from an injected clock::

    round_ = CommitRevealRound(config, clock=clock, settle=vault_seal_commitments, cap=margin_cap)
    sealed = Committer(key, domain, instrument, round_id).seal(Side.BUY, 300_004, 12, nonce=1, expiry=t)
    round_.commit(sealed.signed)                      # commit phase: signature, nonce, expiry, bond
    round_.seal()                                     # after it closes: root to settlement, signed
    verify_receipt(round_.receipt(account, 1), domain=domain, operator=config.operator)
    round_.reveal(sealed.reveal)                      # reveal phase: constant-time opening
    result = round_.clear()                           # after the deadline: unrevealed bonds forfeit
    audit_publication(publish(round_)) == result      # anyone replays the published round

:func:`clear_commit_reveal` runs all of it in one process for ``darkpool clear --engine
commit-reveal``.
"""

from commit_reveal._batching import cyclic_gc_paused
from commit_reveal._bonds import Bond, BondLedger, BondState
from commit_reveal._client import Committer, SealedOrder, sign_message
from commit_reveal._commitment import (
    COMMITMENT_TYPES,
    LEAF_ENCODING,
    CommitKey,
    CommitmentHash,
    CommitmentScheme,
    Reveal,
    Salt,
    new_salt,
)
from commit_reveal._config import CapFn, RoundConfig, address_of
from commit_reveal._inprocess import InProcessRun, clear_commit_reveal, run_in_process
from commit_reveal._publication import audit_publication, publish
from commit_reveal._receipts import CommitmentsSealed, Receipt, verify_receipt
from commit_reveal._records import BatchOutcome, Clearing, CommitRecord, RevealDecision, RevealRecord
from commit_reveal._round import CommitRevealRound, RoundState
from commit_reveal._schedule import Phase, Schedule
from commit_reveal._seal import Seal
from commit_reveal._signatures import (
    CommitmentDigester,
    ParallelRecoverer,
    Recoverer,
    RememberingRecoverer,
    SerialRecoverer,
)

__all__ = [
    "COMMITMENT_TYPES",
    "LEAF_ENCODING",
    "BatchOutcome",
    "Bond",
    "BondLedger",
    "BondState",
    "CapFn",
    "Clearing",
    "CommitKey",
    "CommitRecord",
    "CommitRevealRound",
    "Committer",
    "CommitmentDigester",
    "CommitmentHash",
    "CommitmentScheme",
    "CommitmentsSealed",
    "InProcessRun",
    "ParallelRecoverer",
    "Phase",
    "Receipt",
    "Recoverer",
    "RememberingRecoverer",
    "Reveal",
    "RevealDecision",
    "RevealRecord",
    "RoundConfig",
    "RoundState",
    "Salt",
    "Schedule",
    "Seal",
    "SealedOrder",
    "SerialRecoverer",
    "address_of",
    "audit_publication",
    "clear_commit_reveal",
    "cyclic_gc_paused",
    "new_salt",
    "publish",
    "run_in_process",
    "sign_message",
    "verify_receipt",
]
