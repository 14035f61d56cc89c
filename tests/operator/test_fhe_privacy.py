"""Issue 11 attacks on FHE order privacy: a custodian with everything public plus its own masks.

The review broke the old scheme by brute force: the journaled signature covered
``keccak256(masked_digits)``, the digits take at most 4**K values, so anyone could find them by
trying every candidate against the signature, and the custodian, knowing each slot's mask, read
the order. Now the signature covers only ``keccak256(d ‖ salt)`` with a secret 32-byte salt that
travels to the operator alone and is sealed at rest.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import httpx
import pytest

from darkpool.crypto.keccak import keccak256
from darkpool.signing import FheOrder, digits_commitment, signed_from_wire
from tests.operator.fhe_helpers import fhe_world, run_fhe_round

pytestmark = [pytest.mark.fhe, pytest.mark.attack]


def _public(url: str) -> bytes:
    """Every byte anyone can read from the operator: journal, rounds, publications, batches, info."""
    parts = []
    for path in ("/audit/journal?limit=10000", "/audit/rounds", "/rounds", "/batches", "/info"):
        response = httpx.get(url + path)
        response.raise_for_status()
        parts.append(response.content)
    return b"\n".join(parts)


def _submissions(received: list[bytes]) -> list[dict[str, str]]:
    """The FHE order submissions the operator received (what only the operator may see)."""
    out = []
    for request in received:
        path, _, rest = request.partition(b" ")
        if path.endswith(b"/orders"):
            out.append(json.loads(rest.partition(b" ")[2]))
    return out


def test_custodian_when_brute_forcing_the_public_journal_then_recovers_no_order(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        out = run_fhe_round(world)
        public = _public(world.operator_url)
        journal = [e for e in httpx.get(world.operator_url + "/audit/journal?limit=10000").json()
                   if e["kind"] == "fhe_order"]
        submissions = _submissions(world.operator_received.received)
        assert len(journal) == len(submissions) == 4
        stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*")
                          if p.is_file() and "custodian" not in str(p.relative_to(tmp_path)))
        for entry, submission in zip(journal, submissions, strict=True):
            signed = signed_from_wire(json.loads(json.loads(entry["payload"])["wire"]), FheOrder)
            order = signed.message
            assert isinstance(order, FheOrder)
            digits = bytes.fromhex(submission["masked_digits"][2:])
            salt = bytes.fromhex(submission["digits_salt"][2:])
            # The signed message binds the digits only through the hiding commitment...
            assert order.digits_commitment == digits_commitment(digits, salt)
            # ...whose salt appears nowhere public, nor in the operator's files, in hex or raw bytes.
            for secret in (salt, salt.hex().encode(), digits.hex().encode()):
                assert secret not in public and secret not in stored
            # The review's brute force: every candidate digit vector, hashed as the old scheme did
            # and under every 32-byte value the public surface holds, matches nothing signed.
            # The true digits are among the candidates: even knowing them, nothing public opens it.
            words = sorted({bytes.fromhex(h.decode()) for h in re.findall(rb"[0-9a-f]{64}", public)})
            candidates = itertools.chain([digits], (bytes(c) for c in itertools.islice(
                itertools.product(range(4), repeat=len(digits)), 4096)))
            for raw in candidates:
                assert keccak256(raw) != order.digits_commitment
                assert all(keccak256(raw, word) != order.digits_commitment for word in words[:64])
        assert out["result"]["volume_lots"] > 0
