"""Sign and verify EIP-712 messages: the policy (domain, expiry, per-account nonces) over crypto.

Signatures are made and recovered by :mod:`darkpool.crypto.secp256k1` (libsecp256k1 directly:
about 50 µs a recovery). Every check runs on every message; the nonce is spent last, only when
all checks have passed, so a rejected message changes no state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from darkpool.crypto.secp256k1 import recover_digest, sign_digest
from darkpool.domain import account as _account
from darkpool.errors import ExpiredMessage, InvalidSignature, ReplayedMessage, WrongChainId, WrongVerifyingContract
from darkpool.signing.messages import SigningDomain, TypedMessage

__all__ = ["NonceBook", "Signed", "Verifier", "sign"]


@dataclass(frozen=True, slots=True)
class Signed:
    """A message with the domain it claims and a 65-byte ``r ‖ s ‖ v`` signature."""

    message: TypedMessage
    chain_id: int
    verifying_contract: str
    signature: bytes


def sign(message: TypedMessage, domain: SigningDomain, private_key: bytes | str) -> Signed:
    """Sign ``message`` under ``domain`` as a wallet would (the same bytes as eth-account's typed-data signer)."""
    message.check_ranges()
    signature = sign_digest(message.digest(domain), private_key)
    return Signed(message, domain.chain_id, domain.verifying_contract, signature)


@dataclass(slots=True)
class NonceBook:
    """Per-account sets of spent nonces (unordered nonces, so clients may sign concurrently)."""

    _spent: dict[str, set[int]] = field(default_factory=dict)

    def is_spent(self, account: str, nonce: int) -> bool:
        return nonce in self._spent.get(account, ())

    def spend(self, account: str, nonce: int) -> None:
        if self.is_spent(account, nonce):
            raise ReplayedMessage(f"nonce {nonce} of {account} was already used")
        self._spent.setdefault(account, set()).add(nonce)

    def __len__(self) -> int:
        return sum(len(s) for s in self._spent.values())


@dataclass(slots=True)
class Verifier:
    """Check signed messages for one domain with an injected clock and a nonce book."""

    domain: SigningDomain
    clock: Callable[[], int]
    nonces: NonceBook = field(default_factory=NonceBook)

    def check(self, signed: Signed) -> str:
        """Run every check except spending the nonce; return the signer (lowercase address).

        Raises, in this order: :class:`WrongChainId`, :class:`WrongVerifyingContract`,
        :class:`ExpiredMessage`, :class:`MalleableSignature`/:class:`InvalidSignature`,
        :class:`ReplayedMessage`.
        """
        if signed.chain_id != self.domain.chain_id:
            raise WrongChainId(f"expected chain id {self.domain.chain_id}, got {signed.chain_id}")
        if _account(signed.verifying_contract) != self.domain.verifying_contract:
            raise WrongVerifyingContract(
                f"expected verifying contract {self.domain.verifying_contract}, got {signed.verifying_contract}"
            )
        message = signed.message
        now = self.clock()
        if message.message_expiry <= now:
            raise ExpiredMessage(f"message expired at {message.message_expiry}, now is {now}")
        message.check_ranges()
        claimed = _account(message.signer)
        if recover_digest(message.digest(self.domain), signed.signature) != claimed:
            raise InvalidSignature("signature does not verify")
        if self.nonces.is_spent(claimed, message.message_nonce):
            raise ReplayedMessage(f"nonce {message.message_nonce} of {claimed} was already used")
        return claimed

    def verify(self, signed: Signed) -> str:
        """Check ``signed`` and spend its nonce; return the signer."""
        signer = self.check(signed)
        self.nonces.spend(signer, signed.message.message_nonce)
        return signer
