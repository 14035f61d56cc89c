"""The custodian and operator of a split round (issue 14, deliverable 3): the product's roles, not a harness.

:class:`fhe.split_roles.SplitCustodian` keeps every policy of the unsplit custodian — masks drawn
once, one decryption per transcript, attested evaluations compared after decryption — with
``Enc(R)`` as one ciphertext per slot group. These tests play rounds through it and
:func:`fhe.split_roles.split_operator` and compare with the unsplit circuit, then attack it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from darkpool.domain import Order, Round
from darkpool.errors import CiphertextShapeError, EvaluationMismatch, ForeignKey, TranscriptMismatch
from fhe.artifacts import compile_circuit
from fhe.custodian import Custodian
from fhe.encoding import MaskedOrder, encode_order
from fhe.engine import priority_slots
from fhe.operator import Operator
from fhe.split import SplitCircuit, compile_split
from fhe.split_roles import SplitCustodian, pack_masks, split_operator, unpack_masks
from fhe.transcript import DecryptionRequest, RoundMasks
from tests.fhe.test_split import LAYOUT, SHAPE, sample_rounds

pytestmark = pytest.mark.fhe


@pytest.fixture(scope="module")
def split_sim(fhe_cache: Path) -> SplitCircuit:
    return compile_split(LAYOUT, simulate=True, cache_dir=fhe_cache)


SALT = b"s" * 32


def open_and_fill(custodian: Custodian, rid: str, round_: Round, orders: list[Order]) -> tuple[RoundMasks,
                                                                                               list[MaskedOrder]]:
    """The custodian opens a round and each client masks its order with its own slot's mask."""
    masks = custodian.open_round(rid)
    submitted = [encode_order(custodian.circuit.shape, round_, orders[index], custodian.issue_mask(rid, slot))
                 for slot, index in enumerate(priority_slots(orders))]
    return masks, submitted


def evaluate(operator: Operator, masks: RoundMasks, round_: Round, submitted: list[MaskedOrder]) -> DecryptionRequest:
    """One evaluation of a round (the operator's, or a verifier's: the same inputs and salt)."""
    operator.begin(masks.round_id, round_, masks)
    for order in submitted:
        operator.submit(order)
    return operator.evaluate(masks.round_id, salt=SALT)


def test_split_custodian_when_rounds_are_played_decrypts_what_the_unsplit_circuit_does(
        split_sim: SplitCircuit, fhe_cache: Path) -> None:
    unsplit = compile_circuit(SHAPE, simulate=True, cache_dir=fhe_cache)
    plain_custodian = Custodian(unsplit)
    custodian = SplitCustodian(split_sim)
    for n, (round_, orders) in enumerate(sample_rounds(91, 4)):
        rid = f"r{n}"
        masks, submitted = open_and_fill(custodian, rid, round_, orders)
        assert len(unpack_masks(masks.ciphertext, LAYOUT.groups)) == LAYOUT.groups
        request = evaluate(split_operator(split_sim, custodian.evaluation_keys, custodian.key_id), masks, round_,
                           submitted)
        verifier = evaluate(split_operator(split_sim, custodian.evaluation_keys, custodian.key_id), masks, round_,
                            submitted)
        assert verifier.transcript_hash == request.transcript_hash
        got = custodian.decrypt(request, [verifier.outputs])
        plain_masks, plain_submitted = open_and_fill(plain_custodian, rid, round_, orders)
        wanted = plain_custodian.decrypt(evaluate(Operator(unsplit, b"", plain_custodian.key_id), plain_masks, round_,
                                                  plain_submitted))
        assert got == wanted, (round_, orders)


@pytest.mark.attack
def test_split_round_when_the_operator_swaps_the_groups_masks_then_nothing_is_released(split_sim: SplitCircuit) -> None:
    """The operator evaluates with the groups' ``Enc(R)`` swapped (each group's slots unmasked with the other
    group's masks). Naming that Enc(R) is another transcript; naming the honest one, the verifier's
    evaluation disagrees after decryption and the round is void."""
    custodian = SplitCustodian(split_sim, rng=random.Random(5))
    round_, orders = sample_rounds(96, 1)[0]  # six orders that trade: a swap changes the result
    masks, submitted = open_and_fill(custodian, "1", round_, orders)
    swapped = replace(masks, ciphertext=pack_masks(list(reversed(unpack_masks(masks.ciphertext, LAYOUT.groups)))))
    cheat = evaluate(split_operator(split_sim, custodian.evaluation_keys, custodian.key_id), swapped, round_,
                     submitted)
    honest = evaluate(split_operator(split_sim, custodian.evaluation_keys, custodian.key_id), masks, round_, submitted)
    with pytest.raises(TranscriptMismatch):
        custodian.decrypt(cheat, [honest.outputs])
    forged = replace(honest, outputs=cheat.outputs)
    with pytest.raises(EvaluationMismatch):
        custodian.decrypt(forged, [honest.outputs])
    with pytest.raises(Exception, match="already decrypted"):
        custodian.decrypt(honest, [honest.outputs])  # the void round stays spent


@pytest.mark.attack
def test_split_operator_when_given_an_unsplit_or_malformed_enc_r_refuses_it(split_sim: SplitCircuit,
                                                                            fhe_cache: Path) -> None:
    plain_custodian = Custodian(compile_circuit(SHAPE, simulate=True, cache_dir=fhe_cache))
    plain_masks = plain_custodian.open_round("1")
    operator = split_operator(split_sim, b"", "k")
    round_, _ = sample_rounds(93, 1)[0]
    operator.begin("1", round_, replace(plain_masks, circuit_id=split_sim.id, key_id="k"))
    with pytest.raises(CiphertextShapeError, match="packed"):
        operator.evaluate("1")
    packed = pack_masks([b"a", b"bb"])
    for bad, reason in [(packed[:-1], "truncated"), (packed + b"x", "trailing"),
                        (pack_masks([b"a", b"b", b"c"]), "3 group")]:
        with pytest.raises(CiphertextShapeError, match=reason):
            unpack_masks(bad, 2)


@pytest.mark.attack
def test_split_custodian_when_asked_for_another_circuits_round_refuses(split_sim: SplitCircuit,
                                                                       fhe_cache: Path) -> None:
    custodian = SplitCustodian(split_sim)
    round_, orders = sample_rounds(94, 1)[0]
    masks, submitted = open_and_fill(custodian, "1", round_, orders)
    request = evaluate(split_operator(split_sim, custodian.evaluation_keys, custodian.key_id), masks, round_,
                       submitted)
    unsplit = compile_circuit(SHAPE, simulate=True, cache_dir=fhe_cache)
    with pytest.raises(ForeignKey):
        custodian.decrypt(replace(request, circuit_id=unsplit.id))
    with pytest.raises(TranscriptMismatch):
        custodian.decrypt(replace(request, inputs_commitment="0" * 64))
    assert custodian.decrypt(request).round_id == "1"  # the honest request still decrypts, once


@pytest.mark.attack
def test_split_custodian_when_retired_keeps_no_key_and_decrypts_nothing(split_sim: SplitCircuit) -> None:
    custodian = SplitCustodian(split_sim)
    round_, orders = sample_rounds(95, 1)[0]
    masks, submitted = open_and_fill(custodian, "1", round_, orders)
    request = evaluate(split_operator(split_sim, custodian.evaluation_keys, custodian.key_id), masks, round_,
                       submitted)
    custodian.retire()
    assert custodian._holder is None and custodian._client is None
    with pytest.raises(ForeignKey, match="retired"):
        custodian.decrypt(request)
    with pytest.raises(ForeignKey, match="retired"):
        custodian.open_round("2")
