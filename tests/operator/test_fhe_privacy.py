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
from tests.operator.helpers import ADMIN

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
        # Even the auditors' full view of the journal (the public sees these entries as digests only).
        journal = [e for e in httpx.get(world.operator_url + "/audit/journal?limit=10000",
                                        headers={"Authorization": f"Bearer {ADMIN}"}).json()
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


def _hex_patterns(value: int) -> list[str]:
    """Hex forms of ``value`` as whole tokens: ``0x…``, a 32-byte ABI word, and the bare digits when
    long enough not to be part of ordinary words (``ad`` is in "load")."""
    forms = [f"0x0*{value:x}", f"{value:064x}"] + ([f"{value:x}"] if len(f"{value:x}") >= 5 else [])
    return [rf"(?<![0-9a-f]){form}(?![0-9a-f])" for form in forms]


def _binary_forms(value: int) -> list[bytes]:
    """Binary forms: 4- and 8-byte big and little endian (only for values too wide to occur by chance)."""
    return [value.to_bytes(n, order) for n in (4, 8) for order in ("big", "little")]


def test_scan_when_every_stored_logged_and_served_byte_is_searched_in_binary_and_hex_finds_no_unfilled_order(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    import logging

    from darkpool.domain import Lots, Order, OrderId, Round, Ticks
    from fhe.encoding import order_digits
    from fhe.shape import Shape
    from tests.operator.fhe_helpers import BAND_LOW, FHE_ORDERS, LEVELS, REFERENCE

    caplog.set_level(logging.DEBUG)
    with fhe_world(tmp_path, simulate=True) as world:
        out = run_fhe_round(world)
        rid = out["round_id"]
        core = world.operator_app.state.core
        core.journal.flush()
        admin = {"Authorization": f"Bearer {ADMIN}"}
        served = [httpx.get(world.operator_url + p, headers=h).content
                  for p in ("/audit/journal?limit=10000", "/audit/rounds", "/rounds", f"/rounds/{rid}",
                            f"/rounds/{rid}/publication", "/batches", "/info", "/metrics")
                  for h in ({}, admin)]
        served += [c.fills().__repr__().encode() + repr(c.balance()).encode() for c in out["clients"]]
        stored = [p.read_bytes() for p in tmp_path.rglob("*")
                  if p.is_file() and "custodian" not in str(p.relative_to(tmp_path))]
        logs = (caplog.text + "".join(capfd.readouterr())).encode()
        blob = b"\n".join([*served, *stored, logs, *world.operator_received.received])
        text = blob.decode("latin-1").lower()
        info = core.get_round(rid).info
        shape = Shape(info.slots, info.levels, info.quantity_digits)
        round_ = Round("ETH-PERP", Ticks(REFERENCE), Ticks(BAND_LOW), LEVELS)
        fills = out["result"]["fills"]
        unfilled = [(slot, order) for slot, (ticket, order) in enumerate(zip(out["tickets"], FHE_ORDERS, strict=True))
                    if fills[f"{out['clients'][slot].address}:{rid}:{ticket.slot}"] == 0]
        assert len(unfilled) == 2
        scanned = 0
        for _, (side, limit, quantity) in unfilled:
            for value in (limit, quantity):
                for pattern in _hex_patterns(value):
                    assert not re.search(pattern, text), (value, pattern)
                if value >= 2**16:
                    assert not any(form in blob for form in _binary_forms(value)), value
            plain = bytes(order_digits(shape, round_, Order(OrderId("x"), side, Ticks(limit), Lots(quantity), 0)))
            if sum(1 for d in plain if d) >= 3:  # (an all-zero vector is in every file; nothing to scan for)
                assert plain.hex() not in text and plain not in blob, (side, limit, quantity)
                scanned += 1
        assert scanned >= 1
