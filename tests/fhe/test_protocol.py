"""Custody and protocol policy, in concrete's simulation: every refusal is a specific error."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
import pytest

from darkpool.clearing import clear_reference
from darkpool.errors import (
    CiphertextShapeError,
    ForeignKey,
    InconsistentOutputs,
    MaskReuse,
    ReplayedDecryption,
    ShapeError,
    TranscriptMismatch,
    UndeclaredOutput,
    WrongRound,
)
from fhe.artifacts import CompiledCircuit
from fhe.custodian import Custodian, load_array, save_array
from fhe.encoding import encode_order
from fhe.engine import priority_slots
from fhe.operator import Operator, rank_order
from fhe.transcript import DecryptionRequest
from tests.fhe.rounds import ORDERS, ROUND, play

pytestmark = pytest.mark.fhe


@pytest.fixture
def parties(simulated_circuit: CompiledCircuit) -> tuple[Custodian, Operator]:
    custodian = Custodian(simulated_circuit, rng=random.Random(3))
    return custodian, Operator(simulated_circuit, custodian.evaluation_keys, custodian.key_id)


def test_decrypt_when_round_played_returns_reference_outputs_and_logs(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    outputs = custodian.decrypt(play(custodian, operator, "r1"))
    expected = clear_reference(ROUND, ORDERS)
    assert outputs.rank is not None
    assert ROUND.price_at(rank_order(ROUND, 4)[outputs.rank]) == expected.price_ticks
    assert outputs.volume_lots == expected.volume_lots
    assert [e.round_id for e in custodian.log.entries] == ["r1"] and custodian.log.verify()


def test_decrypt_when_requested_twice_raises_replayed_decryption(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    request = play(custodian, operator, "r1")
    custodian.decrypt(request)
    with pytest.raises(ReplayedDecryption):
        custodian.decrypt(request)
    assert len(custodian.log.entries) == 1


def test_decrypt_when_transcript_hash_altered_raises_transcript_mismatch(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    request = play(custodian, operator, "r1")
    with pytest.raises(TranscriptMismatch):
        custodian.decrypt(dataclasses.replace(request, transcript_hash="0" * 64))
    with pytest.raises(TranscriptMismatch):
        custodian.decrypt(dataclasses.replace(request, masks_digest="0" * 64))


def test_decrypt_when_request_names_another_round_raises_wrong_round(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    request = play(custodian, operator, "r1")
    with pytest.raises(WrongRound):
        custodian.decrypt(dataclasses.replace(request, round_id="r2"))


def test_decrypt_when_outputs_missing_raises_undeclared_output(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    request = play(custodian, operator, "r1")
    with pytest.raises(UndeclaredOutput):
        custodian.decrypt(dataclasses.replace(request, outputs=request.outputs[:3]))


def test_decrypt_when_outputs_do_not_add_up_raises_inconsistent_outputs(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    request = play(custodian, operator, "r1")
    volume = load_array(request.outputs[2])
    volume[0] = (volume[0] + 1) % 4
    forged = (*request.outputs[:2], save_array(volume), *request.outputs[3:])
    with pytest.raises(InconsistentOutputs):
        custodian.decrypt(dataclasses.replace(request, outputs=forged))
    with pytest.raises(ReplayedDecryption):
        custodian.decrypt(request)


@pytest.mark.parametrize("forge", ["flip", "unfilled", "missing"])
def test_decrypt_when_fill_sides_forged_raises_inconsistent_outputs(parties: tuple[Custodian, Operator],
                                                                    forge: str) -> None:
    custodian, operator = parties
    request = play(custodian, operator, "r1")
    sides, fills = load_array(request.outputs[4]), load_array(request.outputs[3])
    filled = [slot for slot in range(len(sides)) if sides[slot]]
    assert filled, "the played round trades"
    if forge == "flip":  # a buy booked as a sell: buys no longer add up to the volume
        sides[filled[0]] = 3 - sides[filled[0]]
    elif forge == "unfilled":  # a side decrypted for a slot that filled nothing
        sides[next(slot for slot in range(len(sides)) if not fills[slot].any())] = 1
    else:
        sides[filled[0]] = 0
    forged = (*request.outputs[:4], save_array(sides))
    with pytest.raises(InconsistentOutputs):
        custodian.decrypt(dataclasses.replace(request, outputs=forged))


def test_issue_mask_when_slot_asked_twice_raises_mask_reuse(parties: tuple[Custodian, Operator]) -> None:
    custodian, _ = parties
    custodian.open_round("r1")
    custodian.issue_mask("r1", 0)
    with pytest.raises(MaskReuse):
        custodian.issue_mask("r1", 0)


def test_open_round_when_round_opened_twice_raises_mask_reuse(parties: tuple[Custodian, Operator]) -> None:
    custodian, _ = parties
    custodian.open_round("r1")
    with pytest.raises(MaskReuse):
        custodian.open_round("r1")


def test_submit_when_mask_of_another_round_reused_raises_wrong_round(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    custodian.open_round("r1")
    old_mask = custodian.issue_mask("r1", 0)
    operator.begin("r2", ROUND, custodian.open_round("r2"))
    with pytest.raises(WrongRound):
        operator.submit(encode_order(operator.shape, ROUND, ORDERS[0], old_mask))


def test_begin_when_masks_of_another_round_raises_wrong_round(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    masks = custodian.open_round("r1")
    with pytest.raises(WrongRound):
        operator.begin("r2", ROUND, masks)


def test_begin_when_masks_from_another_key_raises_foreign_key(
    parties: tuple[Custodian, Operator], simulated_circuit: CompiledCircuit
) -> None:
    _, operator = parties
    other = Custodian(simulated_circuit, rng=random.Random(4))
    with pytest.raises(ForeignKey):
        operator.begin("r1", ROUND, other.open_round("r1"))


def test_begin_when_masks_declare_wrong_shape_raises_ciphertext_shape_error(
    parties: tuple[Custodian, Operator],
) -> None:
    custodian, operator = parties
    masks = custodian.open_round("r1")
    with pytest.raises(CiphertextShapeError):
        operator.begin("r1", ROUND, dataclasses.replace(masks, slots=masks.slots * 2))


def test_evaluate_when_ciphertext_of_wrong_shape_raises_ciphertext_shape_error(
    parties: tuple[Custodian, Operator],
) -> None:
    custodian, operator = parties
    masks = custodian.open_round("r1")
    wrong = np.zeros((masks.slots + 1, masks.digits_per_slot), dtype=np.int64)
    operator.begin("r1", ROUND, dataclasses.replace(masks, ciphertext=save_array(wrong)))
    with pytest.raises(CiphertextShapeError):
        operator.evaluate("r1")


def test_submit_when_digits_out_of_range_raises_shape_error(parties: tuple[Custodian, Operator]) -> None:
    custodian, operator = parties
    operator.begin("r1", ROUND, custodian.open_round("r1"))
    order = encode_order(operator.shape, ROUND, ORDERS[0], custodian.issue_mask("r1", 0))
    with pytest.raises(ShapeError):
        operator.submit(dataclasses.replace(order, digits=(4,) * len(order.digits)))
    with pytest.raises(ShapeError):
        operator.submit(dataclasses.replace(order, digits=order.digits[:-1]))


def test_custodian_when_round_runs_never_receives_order_digits(simulated_circuit: CompiledCircuit) -> None:
    received: list[Any] = []

    class Spy(Custodian):
        def issue_mask(self, round_id: str, slot: int) -> Any:
            received.extend([round_id, slot])
            return super().issue_mask(round_id, slot)

        def decrypt(self, request: DecryptionRequest) -> Any:
            received.append(request)
            return super().decrypt(request)

    custodian = Spy(simulated_circuit, rng=random.Random(5))
    operator = Operator(simulated_circuit, custodian.evaluation_keys, custodian.key_id)
    custodian.decrypt(play(custodian, operator, "r1"))
    request = received[-1]
    assert {type(x) for x in received[:-1]} == {str, int}
    assert all(isinstance(getattr(request, f.name), str) for f in dataclasses.fields(request) if f.name != "outputs")
    # The outputs are the circuit's five declared outputs, none shaped like the inputs.
    shape = simulated_circuit.shape
    shapes = [load_array(b).shape for b in request.outputs]
    assert shapes == [(), (shape.position_digits,), (shape.volume_digits,), (shape.slots, shape.quantity_digits),
                      (shape.slots,)]
    assert len(priority_slots(ORDERS)) == len(ORDERS)
