"""A commit-reveal round's configuration: market, domain, schedule, bond and operator key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coincurve import PublicKey

from commit_reveal._schedule import Schedule
from darkpool.crypto.keccak import keccak256
from darkpool.domain import Account, Lots, Round, Side, Ticks, account
from darkpool.errors import ValidationError
from darkpool.signing import SigningDomain

__all__ = ["CapFn", "RoundConfig", "address_of"]

CapFn = Callable[[Account, Side, Ticks, Lots], int]
"""Margin cap: the largest quantity ``account`` may trade on this side at this limit (0 for none)."""


def address_of(private_key: bytes) -> Account:
    """Return the Ethereum address of a secp256k1 private key; raise if the key is invalid."""
    try:
        public = PublicKey.from_secret(private_key).format(compressed=False)
    except Exception:  # coincurve raises plain ValueError/Exception on an invalid key
        raise ValidationError("expected a 32-byte secp256k1 private key in 1..n-1") from None
    return account("0x" + keccak256(public[1:])[12:].hex())


@dataclass(frozen=True, slots=True)
class RoundConfig:
    """Everything fixed when a round is announced; construction rejects unknown keys and bad values.

    ``operator_key`` signs the seal statement behind every receipt; it is kept out of ``repr``.
    """

    round_id: int
    market: Round
    domain: SigningDomain
    schedule: Schedule
    operator_key: bytes = field(repr=False)
    bond_base_units: int = 0
    operator: Account = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.round_id, bool) or not isinstance(self.round_id, int) or not 0 <= self.round_id < 1 << 64:
            raise ValidationError(f"round_id must fit uint64, got {self.round_id!r}")
        if not isinstance(self.market, Round) or not isinstance(self.domain, SigningDomain):
            raise ValidationError("market must be a Round and domain a SigningDomain")
        if not isinstance(self.schedule, Schedule):
            raise ValidationError(f"schedule must be a Schedule, got {self.schedule!r}")
        bond = self.bond_base_units
        if isinstance(bond, bool) or not isinstance(bond, int) or not 0 <= bond < 1 << 256:
            raise ValidationError(f"bond_base_units must fit uint256, got {bond!r}")
        if not isinstance(self.operator_key, bytes) or len(self.operator_key) != 32:
            raise ValidationError("operator_key must be 32 bytes")
        object.__setattr__(self, "operator", address_of(self.operator_key))
