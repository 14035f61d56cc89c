"""Fast signature work for many commitments: EIP-712 digests and recovery over worker processes.

The low layer under :mod:`commit_reveal._round`. Digests are built from the round's constant
words (type hash, instrument hash, round id, domain separator) computed once, and match
:meth:`darkpool.signing.Commitment.digest` exactly (tests hold them equal to eth-account).
Recovery and the canonical-form checks are :mod:`darkpool.crypto.secp256k1`; here is only where
the work runs (this process, or a pool of workers).
"""

from __future__ import annotations

import abc
import multiprocessing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from typing import Any

from darkpool.crypto.abi import uint_word
from darkpool.crypto.eip712 import domain_separator
from darkpool.crypto.keccak import keccak256

# The C binding darkpool.crypto.keccak wraps, called bare in per-order loops to save a call per hash.
from darkpool.crypto.keccak import new_keccak as _keccak
from darkpool.crypto.secp256k1 import recover_addresses, recover_packed
from darkpool.errors import ValidationError
from darkpool.signing import Commitment, SigningDomain

__all__ = [
    "CommitmentDigester",
    "ParallelRecoverer",
    "Recoverer",
    "SerialRecoverer",
]

_UINT64 = 1 << 64
_UINT256 = 1 << 256


@dataclass(frozen=True, slots=True)
class CommitmentDigester:
    """EIP-712 digests of :class:`~darkpool.signing.Commitment` messages of one round and domain."""

    domain: SigningDomain
    instrument: str
    round_id: int
    prefix: bytes = field(init=False, repr=False)
    """``0x1901 ‖ domainSeparator``."""
    head: bytes = field(init=False, repr=False)
    """The type hash and the 12 zero bytes that pad the account's address."""
    constant: bytes = field(init=False, repr=False)
    """The encoded instrument and round id, the same in every message of the round."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", b"\x19\x01" + domain_separator(self.domain))
        object.__setattr__(self, "head", Commitment.type_hash() + bytes(12))
        object.__setattr__(self, "constant", keccak256(self.instrument.encode()) + uint_word(self.round_id, 64))

    def digest(self, account: str | bytes, commitment: bytes, bond: int, nonce: int, expiry: int) -> bytes:
        """Return the digest of one commitment message; raise :class:`ValidationError` on a bad range.

        ``account`` is a 0x address or its 20 raw bytes.
        """
        address = account if isinstance(account, bytes) else bytes.fromhex(account[2:])
        if len(address) != 20:
            raise ValidationError(f"Commitment.account: expected 20 bytes, got {len(address)}")
        if len(commitment) != 32:
            raise ValidationError(f"Commitment.commitment: expected 32 bytes, got {len(commitment)}")
        if not 0 <= bond < _UINT256:
            raise ValidationError(f"Commitment.bond: value {bond} does not fit uint256")
        if not (0 <= nonce < _UINT64 and 0 <= expiry < _UINT64):
            raise ValidationError(f"Commitment.nonce/expiry must fit uint64, got {nonce}, {expiry}")
        # typed_data_digest(prefix, struct_hash(...)) with the words of crypto.abi written inline:
        # this runs once per commitment.
        struct = _keccak(b"".join((
            self.head, address, self.constant, commitment, bond.to_bytes(32, "big"),
            nonce.to_bytes(32, "big"), expiry.to_bytes(32, "big"),
        ))).digest()
        return bytes(_keccak(self.prefix + struct).digest())


class Recoverer(abc.ABC):
    """Recover many signers at once; subclasses choose where the work runs."""

    batch_size: int | None = None
    """How many signatures callers should hand over at once (``None``: all of them)."""

    @abc.abstractmethod
    def recover(self, digests: Sequence[bytes], signatures: Sequence[bytes]) -> list[bytes | None]:
        """Return each signer's 20 address bytes, or ``None`` where a signature does not recover."""

    def remember(self, digest: bytes, signature: bytes, address: bytes) -> None:  # noqa: B027 (an optional hook)
        """Take note that ``signature`` over ``digest`` recovers to ``address`` (a front end recovered it
        already); a recoverer that keeps such notes recovers that pair no more. By default it keeps none."""


class SerialRecoverer(Recoverer):
    """Recover in this process, on one core, in cache-sized batches."""

    batch_size = 512

    def recover(self, digests: Sequence[bytes], signatures: Sequence[bytes]) -> list[bytes | None]:
        return recover_addresses(digests, signatures)


class RememberingRecoverer(SerialRecoverer):
    """Recover serially, first taking signers a front end already recovered for the same digest and signature.

    A service that rate-limits on the verified signer recovers each signature before the round's
    checks do; :meth:`remember` keeps that result (for a bounded number of pairs, oldest dropped
    first) and :meth:`recover` uses it once, so each signature is recovered once. The key is the
    exact (digest, signature) pair, so a remembered signer is always that pair's own recovery.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._known: dict[tuple[bytes, bytes], bytes] = {}

    def remember(self, digest: bytes, signature: bytes, address: bytes) -> None:
        """Keep ``address`` as what ``signature`` over ``digest`` recovers to."""
        known = self._known
        if len(known) >= self.capacity:
            known.pop(next(iter(known)), None)
        known[(digest, signature)] = address

    def recover(self, digests: Sequence[bytes], signatures: Sequence[bytes]) -> list[bytes | None]:
        known = self._known
        out: list[bytes | None] = [known.pop((d, s), None) for d, s in zip(digests, signatures, strict=True)]
        missing = [i for i, a in enumerate(out) if a is None]
        if missing:
            for i, address in zip(missing, recover_addresses([digests[i] for i in missing],
                                                             [signatures[i] for i in missing]), strict=True):
                out[i] = address
        return out


@dataclass
class ParallelRecoverer(Recoverer):
    """Recover over a pool of worker processes; use as a context manager to close the pool.

    Work travels as packed bytes (32 + 65 in, 20 out per signature) so pickling costs little.
    """

    processes: int = 2
    chunk: int = 4096
    _pool: Pool | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> ParallelRecoverer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the worker processes (done on first use otherwise)."""
        if self._pool is None:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = multiprocessing.get_context(method).Pool(self.processes)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def _chunks(self, digests: Sequence[bytes], signatures: Sequence[bytes]) -> Iterator[tuple[bytes, bytes]]:
        for start in range(0, len(digests), self.chunk):
            end = start + self.chunk
            yield b"".join(digests[start:end]), b"".join(signatures[start:end])

    def recover(self, digests: Sequence[bytes], signatures: Sequence[bytes]) -> list[bytes | None]:
        if len(digests) != len(signatures):
            raise ValueError("digests and signatures differ in length")
        if len(digests) < 2 * self.chunk:
            return recover_addresses(digests, signatures)
        self.start()
        assert self._pool is not None
        packed: list[Any] = self._pool.map(recover_packed, self._chunks(digests, signatures))
        out = b"".join(packed)
        zero = bytes(20)
        # A failed recovery comes back as zeros; the zero address has no known key.
        return [None if (a := out[20 * i : 20 * i + 20]) == zero else a for i in range(len(digests))]
