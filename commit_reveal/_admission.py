"""Admitting a batch of signed commitments: every check, in two passes around signature recovery.

:meth:`Admission.screen` runs every check short of the signature and computes each digest;
the round recovers the signers (in process or on a pool); :meth:`Admission.admit` compares them
and checks nonces and order ids. Nothing here changes the round: the accepted records are its
decision, applied by :meth:`CommitRevealRound.apply_commits`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import NamedTuple

from commit_reveal._commitment import CommitKey, CommitmentHash
from commit_reveal._config import RoundConfig
from commit_reveal._records import CommitRecord
from commit_reveal._signatures import CommitmentDigester
from darkpool.crypto.secp256k1 import check_canonical
from darkpool.domain import Account, BaseUnits, OrderId, account
from darkpool.errors import (
    DarkPoolError,
    DuplicateNonce,
    ExpiredMessage,
    InsufficientBond,
    InvalidSignature,
    ReplayedMessage,
    ValidationError,
    WrongChainId,
    WrongRound,
    WrongVerifyingContract,
)
from darkpool.signing import Commitment, Signed

__all__ = ["Admission", "Candidate"]


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


class Candidate(NamedTuple):
    position: int
    message: Commitment
    signer: Account
    address: bytes
    digest: bytes


@dataclass(slots=True)
class Admission:
    """One ``check_commits`` call: what it reads of the round, and what it has accepted and refused."""

    config: RoundConfig
    digester: CommitmentDigester
    commits: Mapping[CommitKey, CommitRecord]
    used_ids: Set[str]
    is_spent: Callable[[str, int], bool]
    signed: Sequence[Signed]
    order_ids: Sequence[str] | None
    priorities: Sequence[int] | None
    sequence: int
    accepted: dict[CommitKey, CommitRecord] = field(default_factory=dict)
    new_ids: set[str] = field(default_factory=set)
    rejected: dict[int, DarkPoolError] = field(default_factory=dict)

    def screen(self, indices: range, now: int) -> list[Candidate]:
        """Every check short of the signature; return the survivors with their digests."""
        config, signed, rejected = self.config, self.signed, self.rejected
        chain_id, contract = config.domain.chain_id, config.domain.verifying_contract
        round_id, instrument, min_bond = config.round_id, config.market.instrument, config.bond_base_units
        digest_of = self.digester.digest
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
            candidates.append(Candidate(i, message, signer, raw, digest))
        return candidates

    def admit(self, candidates: list[Candidate], recovered: list[bytes | None]) -> None:
        """The signature, nonce and id checks; admit each survivor."""
        batch, signed = self, self.signed
        accepted, new_ids, rejected = batch.accepted, batch.new_ids, batch.rejected
        commits, used_ids, is_spent = self.commits, self.used_ids, self.is_spent
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
                order_id, priority, message.expiry, signed[i].signature,
            )
