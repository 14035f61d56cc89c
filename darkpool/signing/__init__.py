"""EIP-712 signed messages: typed messages, signing, canonical verification, nonces."""

from darkpool.signing.messages import (
    MESSAGE_TYPES,
    Cancel,
    Commitment,
    FheOrder,
    MaskRequest,
    SignedOrder,
    SigningDomain,
    SlotReservation,
    TypedMessage,
    WithdrawalRequest,
    domain_separator,
    side_commitment,
)
from darkpool.signing.verify import SECP256K1_N, NonceBook, Signed, Verifier, recover_digest, sign
from darkpool.signing.wire import signed_from_wire, signed_to_wire

__all__ = [
    "MESSAGE_TYPES",
    "SECP256K1_N",
    "Cancel",
    "Commitment",
    "FheOrder",
    "MaskRequest",
    "NonceBook",
    "Signed",
    "SignedOrder",
    "SigningDomain",
    "SlotReservation",
    "TypedMessage",
    "Verifier",
    "WithdrawalRequest",
    "domain_separator",
    "recover_digest",
    "side_commitment",
    "sign",
    "signed_from_wire",
    "signed_to_wire",
]
