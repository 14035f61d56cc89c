"""EIP-712 signed messages: the message definitions, the wire form, and the verification policy.

The primitives underneath (EIP-712 hashing, secp256k1) are :mod:`darkpool.crypto.eip712` and
:mod:`darkpool.crypto.secp256k1`; ``SECP256K1_N`` and ``recover_digest`` are re-exported here for
the callers that check signatures by hand.
"""

from darkpool.crypto.secp256k1 import SECP256K1_N, recover_digest
from darkpool.signing.messages import (
    MESSAGE_TYPES,
    AccountRead,
    Cancel,
    Commitment,
    FheOrder,
    MaskRequest,
    SigningDomain,
    SlotReservation,
    TypedMessage,
    WithdrawalRequest,
    digits_commitment,
)
from darkpool.signing.statements import MaskDelivery, SlotGrant, statement_signer
from darkpool.signing.verify import NonceBook, Signed, Verifier, sign
from darkpool.signing.wire import signed_from_wire, signed_to_wire

__all__ = [
    "AccountRead",
    "MESSAGE_TYPES",
    "SECP256K1_N",
    "Cancel",
    "Commitment",
    "FheOrder",
    "MaskDelivery",
    "MaskRequest",
    "NonceBook",
    "Signed",
    "SigningDomain",
    "SlotGrant",
    "SlotReservation",
    "TypedMessage",
    "Verifier",
    "WithdrawalRequest",
    "recover_digest",
    "digits_commitment",
    "sign",
    "statement_signer",
    "signed_from_wire",
    "signed_to_wire",
]
