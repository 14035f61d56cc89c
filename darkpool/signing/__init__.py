"""EIP-712 signed messages: typed messages, signing, canonical verification, nonces."""

from darkpool.signing.messages import (
    MESSAGE_TYPES,
    Cancel,
    Commitment,
    MaskedOrder,
    SignedOrder,
    SigningDomain,
    TypedMessage,
    WithdrawalRequest,
    domain_separator,
)
from darkpool.signing.verify import SECP256K1_N, NonceBook, Signed, Verifier, recover_digest, sign

__all__ = [
    "MESSAGE_TYPES",
    "SECP256K1_N",
    "Cancel",
    "Commitment",
    "MaskedOrder",
    "NonceBook",
    "Signed",
    "SignedOrder",
    "SigningDomain",
    "TypedMessage",
    "Verifier",
    "WithdrawalRequest",
    "domain_separator",
    "recover_digest",
    "sign",
]
