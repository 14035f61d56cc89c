"""Seal statements and commitment receipts: what a committer keeps to prove inclusion.

At the seal the operator signs one EIP-712 :class:`CommitmentsSealed` statement naming the round,
the commitments root and the number of leaves. A committer's :class:`Receipt` is that signed
statement plus its own leaf ``(account, nonce, commitment)``, the leaf's position in the tree and
its Merkle proof. Signature and proof together are a batch signature over every leaf: the operator
has signed "this leaf is at this position under this root" for each committer, at the cost of one
signature per round rather than one per commitment. If the operator later drops a sealed
commitment (leaves it out of the clearing or the publication), its owner shows the receipt and the
reveal; anyone can check both against the root on chain.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import ClassVar

from commit_reveal._commitment import CommitmentHash, commitment_leaf
from darkpool.crypto.merkle import parse_hash, process_proof
from darkpool.domain import Account, account
from darkpool.errors import InvalidProof, InvalidSignature
from darkpool.signing import Signed, SigningDomain, TypedMessage, recover_digest, sign

__all__ = ["CommitmentsSealed", "Receipt", "sign_statement", "verify_receipt"]


@dataclass(frozen=True, slots=True)
class CommitmentsSealed(TypedMessage):
    """The operator's signed word that a round's commitments root is final."""

    TYPE_NAME: ClassVar[str] = "CommitmentsSealed"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "operator": "address", "instrument": "string", "round_id": "uint64",
        "commitments_root": "bytes32", "commitment_count": "uint64",
    }
    operator: str
    instrument: str
    round_id: int
    commitments_root: bytes
    commitment_count: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof for one committer that its commitment is in the sealed root."""

    sealed: Signed
    account: Account
    nonce: int
    commitment: CommitmentHash
    tree_index: int
    proof: tuple[bytes, ...]

    @property
    def statement(self) -> CommitmentsSealed:
        message = self.sealed.message
        assert isinstance(message, CommitmentsSealed)
        return message

    @property
    def leaf(self) -> tuple[str, int, bytes]:
        return (self.account, self.nonce, self.commitment)


def sign_statement(statement: CommitmentsSealed, domain: SigningDomain, operator_key: bytes) -> Signed:
    """Sign a seal statement with the operator's key, as any EIP-712 wallet would."""
    return sign(statement, domain, operator_key)


def verify_receipt(receipt: Receipt, *, domain: SigningDomain, operator: str) -> None:
    """Raise unless ``receipt`` is signed by ``operator`` for ``domain`` and its leaf is in the root.

    Raises the opaque :class:`InvalidSignature` for any flaw of the signed statement and
    :class:`InvalidProof` for a leaf, position or proof that does not fit the root.
    """
    signed = receipt.sealed
    statement = signed.message
    if (
        not isinstance(statement, CommitmentsSealed)
        or signed.chain_id != domain.chain_id
        or account(signed.verifying_contract) != domain.verifying_contract
        or account(statement.operator) != account(operator)
    ):
        raise InvalidSignature("receipt statement does not verify")
    try:
        statement.check_ranges()
        signer = recover_digest(statement.digest(domain), signed.signature)
    except ValueError:
        raise InvalidSignature("receipt statement does not verify") from None
    if signer != account(operator):
        raise InvalidSignature("receipt statement does not verify")
    count, index = statement.commitment_count, receipt.tree_index
    # Leaves sit at tree indices count-1 .. 2*count-2, at the depth the proof length must match.
    if not (count - 1 <= index <= 2 * count - 2 and len(receipt.proof) == (index + 1).bit_length() - 1):
        raise InvalidProof("Merkle proof does not verify")
    try:
        leaf = commitment_leaf(bytes.fromhex(account(receipt.account)[2:]), receipt.nonce, receipt.commitment)
        root = process_proof(leaf, [parse_hash(node) for node in receipt.proof])
    except (ValueError, TypeError):
        raise InvalidProof("Merkle proof does not verify") from None
    if not hmac.compare_digest(root, statement.commitments_root):
        raise InvalidProof("Merkle proof does not verify")
