"""The auditor's own leaves and roots, from the JSON the operator publishes.

Nothing here comes from the operator's code: leaf types are the vault contract's
(``contracts/src/DarkPoolVault.sol``) and the commit-reveal scheme's, written out again; values
are encoded with eth-abi's general encoder and hashed into trees by :mod:`darkpool.audit._merkle`.
Tests hold every leaf and root equal to the operator's (:func:`darkpool.settlement.build_trees`,
:class:`darkpool.crypto.merkle.StandardMerkleTree`, :mod:`commit_reveal`'s commitments), so a bug
on either side shows up as a disagreement.

Published batch (``GET /batches``)::

    {"batch_id", "token", "balances": {account: amount}, "fills": [{"round_id", "account",
     "instrument", "order_id", "side", "quantity_lots", "price_ticks"}], "withdrawals":
     [{"withdrawal_id", "account", "amount"}], "balances_root", "fills_root", "withdrawals_root", ...}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from darkpool.audit._merkle import hex_root, standard_leaf

__all__ = [
    "BALANCE_TYPES",
    "COMMITMENT_LEAF_TYPES",
    "COMMITMENT_TYPES",
    "FILL_TYPES",
    "WITHDRAWAL_TYPES",
    "BatchRoots",
    "balance_leaves",
    "batch_roots",
    "commitment_hash",
    "commitment_leaf",
    "commitments_root",
    "fill_leaves",
    "withdrawal_leaves",
]

BALANCE_TYPES = ("address", "address", "uint256")
"""``(account, token, amount)``."""
WITHDRAWAL_TYPES = ("uint256", "address", "uint256")
"""``(withdrawalId, account, amount)``."""
FILL_TYPES = ("uint256", "address", "string", "string", "uint8", "uint256", "uint256")
"""``(roundId, account, instrument, orderId, side, quantityLots, priceTicks)``."""
COMMITMENT_TYPES = ("address", "string", "uint64", "uint8", "int64", "uint64", "uint64", "bytes32")
"""The committed tuple ``(account, instrument, roundId, side, limitTicks, quantityLots, nonce, salt)``."""
COMMITMENT_LEAF_TYPES = ("address", "uint64", "bytes32")
"""The commitments tree's leaf ``(account, nonce, commitment)``."""


def _address(text: str) -> bytes:
    """20 raw bytes: eth-abi then takes any spelling of the address, checksummed or not."""
    raw = bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)
    if len(raw) != 20:
        raise ValueError(f"expected a 20-byte address, got {text!r}")
    return raw


def balance_leaves(token: str, balances: Mapping[str, int]) -> list[bytes]:
    """Return the balances tree's leaf hashes."""
    return [standard_leaf(BALANCE_TYPES, (_address(holder), _address(token), amount))
            for holder, amount in balances.items()]


def fill_leaves(fills: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """Return the fills tree's leaf hashes."""
    return [standard_leaf(FILL_TYPES, (f["round_id"], _address(f["account"]), f["instrument"], f["order_id"],
                                       f["side"], f["quantity_lots"], f["price_ticks"])) for f in fills]


def withdrawal_leaves(withdrawals: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """Return the withdrawals tree's leaf hashes."""
    return [standard_leaf(WITHDRAWAL_TYPES, (w["withdrawal_id"], _address(w["account"]), w["amount"]))
            for w in withdrawals]


class BatchRoots(NamedTuple):
    """The three roots of a batch as 0x hex (all zeros for an empty tree)."""

    balances_root: str
    fills_root: str
    withdrawals_root: str


def batch_roots(record: Mapping[str, Any]) -> BatchRoots:
    """Recompute a published batch's roots from its leaves; raise ``ValueError``/``KeyError`` if malformed."""
    return BatchRoots(
        hex_root(balance_leaves(record["token"], record["balances"])),
        hex_root(fill_leaves(record["fills"])),
        hex_root(withdrawal_leaves(record["withdrawals"])),
    )


def commitment_hash(
    account: str, instrument: str, round_id: int, side: int, limit_ticks: int, quantity_lots: int, nonce: int,
    salt: bytes,
) -> bytes:
    """Return ``keccak256(abi.encode(account, instrument, roundId, side, limitTicks, quantityLots, nonce, salt))``."""
    values = (_address(account), instrument, round_id, side, limit_ticks, quantity_lots, nonce, salt)
    return bytes(keccak(encode(list(COMMITMENT_TYPES), list(values))))


def commitment_leaf(account: str, nonce: int, commitment: bytes) -> bytes:
    """Return the commitments tree's leaf hash of ``(account, nonce, commitment)``."""
    return standard_leaf(COMMITMENT_LEAF_TYPES, (_address(account), nonce, commitment))


def commitments_root(leaves: Sequence[tuple[str, int, bytes]]) -> str:
    """Return the commitments root of ``(account, nonce, commitment)`` leaves as 0x hex."""
    return hex_root([commitment_leaf(a, n, c) for a, n, c in leaves])
