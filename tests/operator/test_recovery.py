"""Signers recovered by the child process are those recovered in process, and a dead child changes nothing."""

from __future__ import annotations

import asyncio
import os

import pytest
from coincurve import PrivateKey

from darkpool.crypto.secp256k1 import SECP256K1_N, address_of
from darkpool.operator.api.recovery import UNRECOVERABLE, SignerRecovery, _in_process

pytestmark = [pytest.mark.anyio, pytest.mark.attack]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _signed(key: bytes, digest: bytes) -> bytes:
    raw = PrivateKey(key).sign_recoverable(digest, hasher=None)
    return raw[:64] + bytes([raw[64] + 27])


def _cases() -> list[tuple[bytes, bytes]]:
    """Good signatures of three keys, and every way a signature can fail."""
    digests = [os.urandom(32) for _ in range(6)]
    keys = [bytes([i + 1]) * 32 for i in range(3)]
    good = [(d, _signed(keys[i % 3], d)) for i, d in enumerate(digests)]
    sig = good[0][1]
    s = int.from_bytes(sig[32:64], "big")
    high_s = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    return [*good,
            (digests[0], good[1][1]),  # another digest's signature: recovers someone else
            (digests[0], b"\x11" * 65),  # v = 17
            (digests[0], sig[:64] + bytes([55 - sig[64]])),  # flipped v: recovers someone else
            (digests[0], high_s),  # malleable
            (digests[0], bytes(64) + b"\x1b"),  # r = 0
            (digests[0], sig[:64]),  # too short
            (b"\x01" * 31, sig)]  # a digest of the wrong length


async def test_signer_when_child_recovers_then_equals_in_process_for_good_and_bad_signatures() -> None:
    recovery = SignerRecovery()
    await recovery.start()
    try:
        assert recovery.running
        cases = _cases() * 20  # many at once: they travel in batches
        found = await asyncio.gather(*(recovery.signer(d, s) for d, s in cases))
        assert found == [_in_process(d, s) for d, s in cases]
        assert found[0] == address_of(b"\x01" * 32)
        assert found[6] not in (UNRECOVERABLE, found[0]) and found[8] not in (UNRECOVERABLE, found[0])
        assert [found[i] for i in (7, 9, 10, 11, 12)] == [UNRECOVERABLE] * 5
    finally:
        await recovery.stop()
    assert not recovery.running


async def test_signer_when_child_dies_then_recovers_in_process() -> None:
    recovery = SignerRecovery()
    await recovery.start()
    cases = _cases()
    try:
        process = recovery._process
        assert process is not None
        process.kill()
        await process.wait()
        found = await asyncio.gather(*(recovery.signer(d, s) for d, s in cases))
        assert found == [_in_process(d, s) for d, s in cases]
        assert not recovery.running
        assert await recovery.signer(*cases[0]) == _in_process(*cases[0])
    finally:
        await recovery.stop()


async def test_signer_when_never_started_then_recovers_in_process() -> None:
    recovery = SignerRecovery()
    cases = _cases()
    assert [await recovery.signer(d, s) for d, s in cases] == [_in_process(d, s) for d, s in cases]


async def test_signer_when_child_hangs_then_recovers_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import darkpool.operator.api.recovery as module

    monkeypatch.setattr(module, "_ANSWER_TIMEOUT_S", 0.2)
    recovery = SignerRecovery()
    await recovery.start()
    cases = _cases()
    try:
        process = recovery._process
        assert process is not None
        process.send_signal(19)  # SIGSTOP: alive but silent
        found = await asyncio.gather(*(recovery.signer(d, s) for d, s in cases))
        assert found == [_in_process(d, s) for d, s in cases]
        assert not recovery.running
    finally:
        await recovery.stop()


async def test_signer_when_the_pump_meets_an_unforeseen_error_then_nobody_hangs_and_recovery_goes_in_process() -> None:
    recovery = SignerRecovery()
    await recovery.start()
    cases = _cases()
    try:
        process = recovery._process
        assert process is not None and process.stdin is not None

        def broken(_: bytes) -> None:
            raise RuntimeError("an error nobody foresaw")

        process.stdin.write = broken  # type: ignore[method-assign]
        found = await asyncio.wait_for(asyncio.gather(*(recovery.signer(d, s) for d, s in cases)), 30)
        assert found == [_in_process(d, s) for d, s in cases]
        assert not recovery.running
    finally:
        await recovery.stop()
