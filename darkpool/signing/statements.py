"""Statements a service signs for a client: the operator's slot grant and the custodian's mask delivery.

They travel in the same wire form as client messages (:mod:`darkpool.signing.wire`) and are
checked by recovering the signer and comparing it with the party's known address, not by the
nonce and expiry policy of :class:`~darkpool.signing.Verifier` (a statement is evidence, not a
request).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from darkpool.crypto.abi import address_word, uint_word
from darkpool.crypto.keccak import keccak256
from darkpool.crypto.secp256k1 import recover_digest
from darkpool.domain import account as _account
from darkpool.errors import InvalidSignature, WrongChainId, WrongVerifyingContract
from darkpool.signing.messages import SigningDomain, TypedMessage
from darkpool.signing.verify import Signed

__all__ = ["EvaluationAttested", "MaskDelivery", "SlotGrant", "caps_digest", "mask_box_context", "outputs_digest",
           "statement_signer"]


@dataclass(frozen=True, slots=True)
class SlotGrant(TypedMessage):
    """The operator's countersignature of a client's slot reservation: ``slot`` of ``round_id`` is
    ``account``'s, for the reservation whose EIP-712 digest is ``reservation``.

    The custodian hands a slot's mask only to the account that shows its own signed reservation
    with this grant, so slot ownership never rests on the operator's unsigned word, and two grants
    of one slot to two accounts are the operator's signed evidence against itself.
    """

    TYPE_NAME: ClassVar[str] = "SlotGrant"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "operator": "address", "account": "address", "round_id": "uint64", "slot": "uint16",
        "reservation": "bytes32",
    }
    operator: str
    account: str
    round_id: int
    slot: int
    reservation: bytes

    @property
    def signer(self) -> str:
        return self.operator

    @property
    def message_nonce(self) -> int:
        return self.slot

    @property
    def message_expiry(self) -> int:
        return 2**64 - 1


@dataclass(frozen=True, slots=True)
class MaskDelivery(TypedMessage):
    """The custodian's signature over a mask it sealed to a client: the request it answers (its
    EIP-712 digest) and the sealed box's digest. A box that a relay altered or replaced fails it."""

    TYPE_NAME: ClassVar[str] = "MaskDelivery"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "custodian": "address", "account": "address", "round_id": "uint64", "slot": "uint16",
        "request": "bytes32", "box": "bytes32",
    }
    custodian: str
    account: str
    round_id: int
    slot: int
    request: bytes
    box: bytes

    @property
    def signer(self) -> str:
        return self.custodian

    @property
    def message_nonce(self) -> int:
        return self.slot

    @property
    def message_expiry(self) -> int:
        return 2**64 - 1


def statement_signer(signed: Signed, domain: SigningDomain) -> str:
    """Return the address that signed ``signed`` under ``domain``; raise if it is not its claimed signer."""
    if signed.chain_id != domain.chain_id:
        raise WrongChainId(f"expected chain id {domain.chain_id}, got {signed.chain_id}")
    if _account(signed.verifying_contract) != domain.verifying_contract:
        raise WrongVerifyingContract(f"expected verifying contract {domain.verifying_contract}, "
                                     f"got {signed.verifying_contract}")
    message = signed.message
    message.check_ranges()
    claimed = _account(message.signer)
    if recover_digest(message.digest(domain), signed.signature) != claimed:
        raise InvalidSignature(f"{message.TYPE_NAME} is not signed by {claimed}")
    return claimed


def mask_box_context(domain: SigningDomain, round_id: int, slot: int, holder: str) -> bytes:
    """What a slot's sealed mask is bound to: the signing domain, the round, the slot and its owner."""
    return domain.separator + uint_word(round_id, 64) + uint_word(slot, 16) + address_word(holder)


@dataclass(frozen=True, slots=True)
class EvaluationAttested(TypedMessage):
    """A verifier's signature over its own re-evaluation of an FHE round: the round's circuit and
    ``Enc(R)`` digest, the commitment to the clear inputs it evaluated (the operator's salt, its own
    checks of every slot's opening), the caps it evaluated (:func:`caps_digest`, which the custodian
    logs and auditors compare with the published ones) and the digest of the output ciphertexts."""

    TYPE_NAME: ClassVar[str] = "EvaluationAttested"
    SOL_TYPES: ClassVar[dict[str, str]] = {
        "verifier": "address", "round_id": "uint64", "circuit_id": "string", "masks_digest": "string",
        "inputs_commitment": "string", "caps": "bytes32", "outputs": "bytes32",
    }
    verifier: str
    round_id: int
    circuit_id: str
    masks_digest: str
    inputs_commitment: str
    caps: bytes
    outputs: bytes

    @property
    def signer(self) -> str:
        return self.verifier

    @property
    def message_nonce(self) -> int:
        return self.round_id

    @property
    def message_expiry(self) -> int:
        return 2**64 - 1


def caps_digest(caps: Sequence[int]) -> bytes:
    """``keccak256`` over every slot's cap (0 for an empty slot) as uint64 words, in slot order."""
    return keccak256(*(uint_word(int(cap), 64) for cap in caps))


def outputs_digest(outputs: Sequence[bytes]) -> bytes:
    """``keccak256`` over the output ciphertexts, each prefixed by its length."""
    return keccak256(*(len(o).to_bytes(8, "big") + bytes(o) for o in outputs))
