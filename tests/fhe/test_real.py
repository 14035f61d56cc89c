"""Real encryption on the small shape: key custody split, results equal the reference."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest
from concrete import fhe as concrete_fhe

from darkpool.clearing import clear_reference, dump_result
from darkpool.domain import Lots, Order
from darkpool.errors import (
    ForeignKey,
    InconsistentOutputs,
    ReplayedDecryption,
    TranscriptMismatch,
    UndeclaredOutput,
)
from fhe.artifacts import CompiledCircuit, load_circuit
from fhe.custodian import Custodian
from fhe.engine import run_round
from fhe.operator import Operator
from tests.conformance.rounds import random_round
from tests.fhe.conftest import SMALL
from tests.fhe.rounds import ORDERS, ROUND, play

pytestmark = pytest.mark.fhe


def _secret_objects(root: object) -> list[str]:
    """Walk an object graph; name every concrete key set, client or secret key found."""
    found: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[str, object]] = [("operator", root)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        if isinstance(obj, (concrete_fhe.Keys, concrete_fhe.Client)) or "Secret" in type(obj).__name__:
            found.append(path)
            continue
        children: list[tuple[str, Any]] = []
        if isinstance(obj, dict):
            children = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
        elif isinstance(obj, (list, tuple, set)):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
        else:
            fields = getattr(obj, "__dict__", {})
            slots = [s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ())]
            children = [(f"{path}.{k}", v) for k, v in fields.items()]
            children += [(f"{path}.{s}", getattr(obj, s, None)) for s in slots if isinstance(s, str)]
        stack.extend(children)
    return found


def test_clear_when_real_encryption_small_rounds_equals_reference(fhe_cache: Path) -> None:
    rng = random.Random(99)
    cases = [(ROUND, ORDERS)] + [random_round(rng, max_orders=4, max_levels=4, max_quantity=3) for _ in range(1)]
    for round_, orders in cases:
        result = run_round(round_, orders, shape=SMALL, cache_dir=fhe_cache)
        assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)


def test_clear_when_real_encryption_with_caps_equals_reference_on_capped_quantities(fhe_cache: Path) -> None:
    caps = {ORDERS[0].id: 1, ORDERS[3].id: 0}
    capped = [
        Order(o.id, o.side, o.limit_ticks, Lots(min(o.quantity_lots, caps.get(o.id, 3))), o.priority)
        for o in ORDERS
        if caps.get(o.id, 1) > 0
    ]
    expected = clear_reference(ROUND, capped)
    result = run_round(ROUND, ORDERS, shape=SMALL, caps=caps, cache_dir=fhe_cache)
    assert result.price_ticks == expected.price_ticks and result.volume_lots == expected.volume_lots
    assert result.fills == {o.id: expected.fills.get(o.id, 0) for o in ORDERS}


def test_operator_when_running_real_round_holds_no_secret_key(
    real_circuit: CompiledCircuit, real_custodian: Custodian
) -> None:
    # The operator loads the server artifact from its own directory and gets evaluation keys.
    operator_circuit = load_circuit(SMALL, real_circuit.directory)
    assert not any("key" in p.name for p in real_circuit.directory.iterdir())
    operator = Operator(operator_circuit, real_custodian.evaluation_keys, real_custodian.key_id)
    request = play(real_custodian, operator, "real-1")
    assert _secret_objects(operator) == []
    outputs = real_custodian.decrypt(request)
    assert outputs.volume_lots == clear_reference(ROUND, ORDERS).volume_lots
    with pytest.raises(ReplayedDecryption):
        real_custodian.decrypt(request)


def test_decrypt_when_real_outputs_are_not_the_circuit_outputs_raises_undeclared_output(
    real_circuit: CompiledCircuit, real_custodian: Custodian
) -> None:
    operator = Operator(real_circuit, real_custodian.evaluation_keys, real_custodian.key_id)
    masks = real_custodian.open_round("real-2")
    operator.begin("real-2", ROUND, masks)
    request = dataclasses.replace(
        operator.evaluate("real-2"), outputs=(masks.ciphertext, masks.ciphertext, masks.ciphertext, masks.ciphertext)
    )
    with pytest.raises((UndeclaredOutput, InconsistentOutputs)):
        real_custodian.decrypt(request)


@pytest.mark.slow
def test_decrypt_when_ciphertext_from_another_key_raises(
    real_circuit: CompiledCircuit, real_custodian: Custodian, fhe_cache: Path
) -> None:
    stranger = Custodian(real_circuit, key_dir=fhe_cache / "stranger-keys")
    operator = Operator(real_circuit, real_custodian.evaluation_keys, real_custodian.key_id)
    with pytest.raises(ForeignKey):
        operator.begin("real-3", ROUND, stranger.open_round("real-3"))
    # A forged envelope does not help: the transcript names an Enc(R) this custodian never issued.
    forged = dataclasses.replace(stranger.open_round("real-4"), key_id=real_custodian.key_id)
    real_custodian.open_round("real-4")
    operator.begin("real-4", ROUND, forged)
    with pytest.raises(TranscriptMismatch):
        real_custodian.decrypt(operator.evaluate("real-4"))


@pytest.mark.slow
def test_clear_when_real_encryption_many_rounds_equals_reference(fhe_cache: Path) -> None:
    rng = random.Random(2026)
    for _ in range(6):
        round_, orders = random_round(rng, max_orders=4, max_levels=4, max_quantity=3)
        result = run_round(round_, orders, shape=SMALL, cache_dir=fhe_cache)
        assert dump_result(result) == dump_result(clear_reference(round_, orders)), (round_, orders)


@pytest.mark.slow
def test_clear_fhe_when_largest_supported_round_real_encryption_equals_reference(fhe_cache: Path) -> None:
    from fhe import clear_fhe

    rng = random.Random(16)
    round_, orders = random_round(rng, max_orders=1, max_levels=1, max_quantity=1)
    while len(orders) < 16 or round_.levels < 16:
        round_, orders = random_round(rng, max_orders=16, max_levels=16, max_quantity=255)
    caps = {orders[0].id: 7, orders[5].id: 0}
    capped = [
        Order(o.id, o.side, o.limit_ticks, Lots(min(o.quantity_lots, caps.get(o.id, 255))), o.priority)
        for o in orders
        if caps.get(o.id, 1) > 0
    ]
    expected = clear_reference(round_, capped)
    result = clear_fhe(round_, orders, caps=caps, cache_dir=fhe_cache)
    assert result.price_ticks == expected.price_ticks and result.volume_lots == expected.volume_lots
    assert result.fills == {o.id: expected.fills.get(o.id, 0) for o in orders}


@pytest.mark.attack
def test_decrypt_when_an_output_is_a_trivial_or_low_entropy_ciphertext_refuses_before_decrypting(
    real_circuit: CompiledCircuit, real_custodian: Custodian
) -> None:
    # A key-bit probe decrypts a ciphertext whose mask is mostly zero (a = e_i), and a trivial
    # ciphertext (a = 0) decrypts to whatever its body says: both are refused on sight.
    from darkpool.errors import TrivialCiphertext
    from fhe.custodian import refuse_low_entropy

    operator = Operator(real_circuit, real_custodian.evaluation_keys, real_custodian.key_id)
    masks = real_custodian.open_round("real-trivial")
    operator.begin("real-trivial", ROUND, masks)
    honest = operator.evaluate("real-trivial")
    for data in (*honest.outputs, masks.ciphertext):
        refuse_low_entropy(data)  # real ciphertexts pass
    crafted = bytearray(honest.outputs[3])
    words = len(crafted) // 8
    crafted[words // 4 * 8: words // 2 * 8] = bytes((words // 2 - words // 4) * 8)  # a zeroed mask
    request = dataclasses.replace(honest, outputs=(*honest.outputs[:3], bytes(crafted), honest.outputs[4]))
    entries = len(real_custodian.log.entries)
    with pytest.raises(TrivialCiphertext):
        real_custodian.decrypt(request)
    assert [e.outputs for e in real_custodian.log.entries[entries:]] == [None]  # void, nothing revealed


@pytest.mark.attack
def test_decrypt_when_outputs_replay_another_rounds_or_splice_enc_r_then_refused_before_decrypting(
    real_circuit: CompiledCircuit, real_custodian: Custodian
) -> None:
    # Another round's outputs (already decrypted) or Enc(R) itself, sent as this round's outputs,
    # reuse words of ciphertexts the custodian issued or decrypted: refused on sight, round void.
    from darkpool.errors import ReplayedCiphertext

    operator = Operator(real_circuit, real_custodian.evaluation_keys, real_custodian.key_id)
    masks = {}
    for round_id in ("replay-a", "replay-b", "replay-c"):
        masks[round_id] = real_custodian.open_round(round_id)
        operator.begin(round_id, ROUND, masks[round_id])
    first = operator.evaluate("replay-a")
    assert real_custodian.decrypt(first).volume_lots == 0  # an empty round, decrypted honestly
    entries = len(real_custodian.log.entries)
    replayed = dataclasses.replace(operator.evaluate("replay-b"), outputs=first.outputs)
    with pytest.raises(ReplayedCiphertext):
        real_custodian.decrypt(replayed)
    honest = operator.evaluate("replay-c")
    spliced = dataclasses.replace(honest, outputs=(*honest.outputs[:3], masks["replay-c"].ciphertext,
                                                   honest.outputs[4]))
    with pytest.raises(ReplayedCiphertext):
        real_custodian.decrypt(spliced)
    assert [e.outputs for e in real_custodian.log.entries[entries:]] == [None, None]  # void, nothing revealed


@pytest.mark.attack
def test_decrypt_when_outputs_come_from_another_epoch_then_refused_before_decrypting(
    real_circuit: CompiledCircuit, fhe_cache: Path
) -> None:
    # Epochs have their own key sets but share the record of ciphertexts seen, as the custodian
    # service does: last epoch's outputs replayed into this epoch's round never reach the new key.
    from darkpool.errors import ReplayedCiphertext
    from fhe.custodian import KnownWords

    known = KnownWords()
    old = Custodian(real_circuit, key_dir=fhe_cache / "epoch-old", known=known)
    new = Custodian(real_circuit, key_dir=fhe_cache / "epoch-new", known=known, log=old.log)
    assert old.key_id != new.key_id
    past = Operator(real_circuit, old.evaluation_keys, old.key_id)
    past.begin("old-1", ROUND, old.open_round("old-1"))
    spent = past.evaluate("old-1")
    old.decrypt(spent)
    current = Operator(real_circuit, new.evaluation_keys, new.key_id)
    current.begin("new-1", ROUND, new.open_round("new-1"))
    with pytest.raises(ReplayedCiphertext):
        new.decrypt(dataclasses.replace(current.evaluate("new-1"), outputs=spent.outputs))
    assert new.log.entries[-1].outputs is None
