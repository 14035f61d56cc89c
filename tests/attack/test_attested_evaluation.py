"""Issue 12 attacks: a malicious operator tries to get the custodian to decrypt anything but the
declared circuit's result on the clients' signed orders.

The operator holds every token it needs (the custodian's, the verifier's), its own evaluation keys
and server, ``Enc(R)`` and the masked digits; it drives the custodian and the verifier directly
here, with the same machinery as the honest operator (``CustodianFheBackend``), and tampers at
each step. Each attempt must be refused with a specific error before anything is decrypted (or,
for a tampered evaluation, with nothing released), and leave evidence at the custodian.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from darkpool.errors import DarkPoolError
from darkpool.operator.rounds_fhe import SlotInput, slot_inputs
from darkpool.signing import SigningDomain, sign, signed_to_wire
from darkpool.signing.statements import EvaluationAttested, caps_digest, outputs_digest
from fhe.custodian import load_array, save_array
from tests.operator.fhe_helpers import (
    BAND_LOW,
    CUSTODIAN_TOKEN,
    FHE_ORDERS,
    LEVELS,
    REFERENCE,
    FheWorld,
    fhe_world,
    fund_institutions,
    open_fhe_round,
)
from tests.operator.helpers import VAULT

pytestmark = [pytest.mark.fhe, pytest.mark.attack]
DOMAIN = SigningDomain(31337, VAULT)
AUTH = {"Authorization": f"Bearer {CUSTODIAN_TOKEN}"}


@dataclasses.dataclass
class Attacker:
    """The operator turned adversary: its core, FHE backend and a round with four signed orders."""

    world: FheWorld
    round_id: int
    info: dict[str, Any]
    orders: dict[int, SlotInput]

    @property
    def backend(self) -> Any:
        return self.world.operator_app.state.core.fhe_backend

    def body(self, orders: dict[int, SlotInput] | None = None, *, reference: int = REFERENCE,
             salt: bytes = b"\x01" * 32, round_id: int | None = None) -> dict[str, Any]:
        given = self.orders if orders is None else orders
        return self.backend.verifier_body(round_id or self.round_id, self.info, given, "ETH-PERP", reference, BAND_LOW,
                                          LEVELS, salt)

    def evaluate(self, orders: dict[int, SlotInput] | None = None, *, reference: int = REFERENCE,
                 salt: bytes = b"\x01" * 32) -> Any:
        return self.backend.evaluate(self.round_id, self.info, self.orders if orders is None else orders, reference,
                                     BAND_LOW, LEVELS, salt)

    def attest(self, body: dict[str, Any], round_id: int | None = None) -> dict[str, Any]:
        return dict(self.backend.attest(self.world.verifier_url, round_id or self.round_id, body))

    def decrypt(self, request: Any, attestations: list[dict[str, Any]], round_id: int | None = None,
                caps: list[int] | None = None) -> httpx.Response:
        if caps is None:
            caps = [self.orders[slot].cap if slot in self.orders else 0 for slot in range(4)]
        return httpx.post(f"{self.world.custodian_url}/rounds/{round_id or self.round_id}/decrypt", headers=AUTH,
                          timeout=600, json={
                              "circuit_id": str(request.circuit_id), "masks_digest": request.masks_digest,
                              "inputs_commitment": request.inputs_commitment,
                              "transcript_hash": request.transcript_hash,
                              "outputs": [base64.b64encode(o).decode() for o in request.outputs], "caps": caps,
                              "attestations": [{"attestation": a["attestation"], "outputs": a["outputs"]}
                                               for a in attestations]})

    def zero_caps_but_first(self) -> dict[int, SlotInput]:
        """The chosen clear inputs of the measured attack: every cap 0 but the target's (slot 0)."""
        return {slot: dataclasses.replace(given, cap=0 if slot else given.cap) for slot, given in self.orders.items()}

    def custodian_log(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.world.custodian_url}/log").json())

    def refusals(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.world.custodian_url}/log/refusals").json())


def _attacker(world: FheWorld, orders: list[Any] = FHE_ORDERS) -> Attacker:
    fund_institutions(world)
    return _attacker_round(world, orders)


def _attacker_round(world: FheWorld, orders: list[Any] = FHE_ORDERS) -> Attacker:
    """A new ETH-PERP round with the four institutions' signed orders."""
    rid = open_fhe_round(world)
    for who, (side, limit, qty) in zip(world.people, orders, strict=True):
        world.client(who).fhe_order(rid, "ETH-PERP", side, limit, qty)
    core = world.operator_app.state.core
    with core.lock:
        _, inputs = slot_inputs(core, rid, core.tick())
    return Attacker(world, rid, asdict(core.get_round(rid).info), inputs)


def _open_dummy_round(world: FheWorld, round_id: int) -> dict[str, Any]:
    """The operator opens a custodian round it never announces (no orders: every slot off)."""
    backend = world.operator_app.state.core.fhe_backend
    return dict(backend.open_round(round_id, 4, LEVELS))


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def _refused_before_decrypting(attacker: Attacker, response: httpx.Response, code: str) -> None:
    assert response.status_code == 403, response.text
    assert _code(response) == code
    assert "fills" not in response.text and attacker.custodian_log() == []
    assert attacker.refusals()[-1]["code"] == code


def _honest_then_clears(attacker: Attacker) -> None:
    """After a refused attempt, the honest path still clears the round (nothing was spent)."""
    cleared = attacker.world.admin().admin("POST", f"/rounds/{attacker.round_id}/clear")
    assert cleared["result"]["volume_lots"] == 47
    assert [e["outputs"] is not None for e in attacker.custodian_log()] == [True]


def test_splice_when_mask_ciphertexts_sent_as_fills_then_nothing_released_and_custodian_halts(tmp_path: Path) -> None:
    # Enc(R) digits of the slots, put where the round's fills go: decrypting them would give the masks,
    # hence the orders. The honest verifier's fills differ, so nothing is released, the round is void,
    # and the custodian stops decrypting (a void round answered one chosen bit: equal or not).
    with fhe_world(tmp_path, simulate=True) as world:
        attacker = _attacker(world)
        honest = attacker.evaluate()
        attested = attacker.attest(attacker.body())
        masks = load_array(attacker.backend._masks_path(attacker.round_id).read_bytes())
        fills_shape = load_array(honest.outputs[3]).shape
        spliced = save_array(np.asarray(masks[:, : fills_shape[1]], dtype=np.int64))
        request = dataclasses.replace(honest, outputs=(*honest.outputs[:3], spliced, honest.outputs[4]))
        response = attacker.decrypt(request, [attested])
        assert response.status_code == 409 and _code(response) == "evaluation_mismatch", response.text
        assert "fills" not in response.json() and not any(str(int(d)) in response.json()["error"]["message"]
                                                           for d in np.unique(masks) if d > 3)
        assert [e["outputs"] for e in attacker.custodian_log()] == [None]
        again = attacker.decrypt(honest, [attested])
        assert again.status_code == 403 and _code(again) == "custodian_halted"
        with pytest.raises(DarkPoolError, match="decrypts nothing more"):
            world.admin().admin("POST", f"/rounds/{attacker.round_id}/clear")


def test_key_extraction_when_dummy_round_or_chosen_outputs_then_one_bit_at_most(tmp_path: Path) -> None:
    # The measured attack: a dummy round (opened at the custodian, never announced, no orders) whose
    # "outputs" are ciphertexts of the operator's choosing. Refused before decrypting, attested or
    # not: the operator's journal never announced it. Chosen outputs in an announced round, with the
    # verifier's honest attestation, disagree: nothing is released and the custodian halts, so the
    # second chosen query, and every later one, gets nothing at all.
    with fhe_world(tmp_path, simulate=True) as world:
        attacker = _attacker(world)
        dummy = dataclasses.replace(attacker, round_id=900, orders={}, info=_open_dummy_round(world, 900))
        honest = dummy.evaluate()
        forged_fills = save_array(np.full((4, 4), 3))
        chosen = dataclasses.replace(honest, outputs=(*honest.outputs[:3], forged_fills, honest.outputs[4]))
        _refused_before_decrypting(dummy, dummy.decrypt(chosen, []), "unannounced_round")
        _refused_before_decrypting(dummy, dummy.decrypt(chosen, [dummy.attest(dummy.body())]), "unannounced_round")
        request = attacker.evaluate()
        chosen = dataclasses.replace(request, outputs=(*request.outputs[:3], forged_fills, request.outputs[4]))
        response = attacker.decrypt(chosen, [attacker.attest(attacker.body())])
        assert response.status_code == 409 and _code(response) == "evaluation_mismatch"
        world.admin().admin("POST", f"/rounds/{attacker.round_id}/abandon", {"reason": "probe spent"})
        second = _attacker_round(world)
        response = second.decrypt(second.evaluate(), [second.attest(second.body())])
        assert response.status_code == 403 and _code(response) == "custodian_halted"
        assert [e["outputs"] for e in attacker.custodian_log()] == [None]


def test_chosen_caps_when_operator_evaluates_other_inputs_than_attested_then_refused(tmp_path: Path) -> None:
    # Caps of 0 for every slot but a target's: the honest circuit on chosen clear inputs. The verifier
    # attests the inputs it was shown; the operator's request commits to others.
    with fhe_world(tmp_path, simulate=True) as world:
        attacker = _attacker(world)
        chosen = attacker.zero_caps_but_first()
        response = attacker.decrypt(attacker.evaluate(chosen), [attacker.attest(attacker.body())])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        # Chosen caps shown to the verifier too, but the honest caps named to the custodian (to publish
        # them): the attestation signs the caps it evaluated, so the request is refused.
        response = attacker.decrypt(attacker.evaluate(chosen), [attacker.attest(attacker.body(chosen))])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        assert "other caps" in response.json()["error"]["message"]
        _honest_then_clears(attacker)
        # The log keeps the caps the verifier attested; the auditor compares them with the publication.
        assert attacker.custodian_log()[0]["outputs"]["caps"] == [o.cap for o in attacker.orders.values()]


def test_chosen_rank_when_operator_moves_the_reference_then_refused_by_verifier_or_custodian(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        attacker = _attacker(world)
        # The operator evaluates with a rank order of its choosing (another reference price) ...
        response = attacker.decrypt(attacker.evaluate(reference=BAND_LOW), [attacker.attest(attacker.body())])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        # ... or shows the verifier the same lie: every order is signed for the announced reference.
        with pytest.raises(DarkPoolError, match="encoded for"):
            attacker.attest(attacker.body(reference=BAND_LOW))
        _honest_then_clears(attacker)


def test_digits_when_not_the_clients_opening_then_verifier_refuses_to_evaluate(tmp_path: Path) -> None:
    # Chosen digits (a spliced vector, a key-extraction probe) have no opening of any client's signed
    # commitment; a signed order moved to another slot or round is refused too.
    with fhe_world(tmp_path, simulate=True) as world:
        attacker = _attacker(world)
        probe = dict(attacker.orders)
        probe[0] = dataclasses.replace(probe[0], digits=[3 - d for d in probe[0].digits])
        with pytest.raises(DarkPoolError, match="do not open"):
            attacker.attest(attacker.body(probe))
        moved = dict(attacker.orders)
        moved[3] = attacker.orders[0]
        with pytest.raises(DarkPoolError, match="is for slot 0"):
            attacker.attest(attacker.body(moved))
        _open_dummy_round(world, 902)
        with pytest.raises(DarkPoolError, match="round"):
            attacker.attest(attacker.body(round_id=902), round_id=902)
        assert attacker.custodian_log() == []
        _honest_then_clears(attacker)


def test_attestation_when_of_another_round_forged_or_detached_then_refused_before_decrypting(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        attacker = _attacker(world)
        request = attacker.evaluate()
        honest = attacker.attest(attacker.body())
        # A verifier's genuine attestation of another round's (empty) evaluation.
        other = dataclasses.replace(attacker, round_id=903, orders={}, info=_open_dummy_round(world, 903))
        response = attacker.decrypt(request, [other.attest(other.body())])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        # An attestation the operator signs itself.
        core = world.operator_app.state.core
        forged = sign(EvaluationAttested(verifier=core.operator_address, round_id=attacker.round_id,
                                         circuit_id=str(request.circuit_id), masks_digest=request.masks_digest,
                                         inputs_commitment=request.inputs_commitment, caps=caps_digest([0] * 4),
                                         outputs=outputs_digest(request.outputs)), DOMAIN, core.config.operator_key)
        response = attacker.decrypt(request, [{"attestation": signed_to_wire(forged),
                                               "outputs": [base64.b64encode(o).decode() for o in request.outputs]}])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        # The genuine attestation with outputs of the operator's choosing in place of the verifier's (so
        # that the custodian would compare the operator's chosen ciphertexts with themselves).
        chosen = (*request.outputs[:3], save_array(np.full((4, 4), 3)), request.outputs[4])
        detached = {**honest, "outputs": [base64.b64encode(o).decode() for o in chosen]}
        response = attacker.decrypt(dataclasses.replace(request, outputs=chosen), [detached])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        # No attestation at all.
        _refused_before_decrypting(attacker, attacker.decrypt(request, []), "missing_attestation")
        assert [r["code"] for r in attacker.refusals()].count("invalid_attestation") >= 2
        _honest_then_clears(attacker)


def test_round_when_really_encrypted_goes_through_operator_verifier_and_custodian(tmp_path: Path) -> None:
    # Real encryption end to end in the default run: the verifier re-evaluates on its own copy of the
    # evaluation keys; the custodian decrypts both evaluations, compares them after decryption (the
    # ciphertexts differ byte-wise across evaluations) and releases the result; a tampered evaluation
    # on the same keys is refused.
    with fhe_world(tmp_path, simulate=False) as world:
        attacker = _attacker(world)
        chosen = attacker.zero_caps_but_first()
        response = attacker.decrypt(attacker.evaluate(chosen), [attacker.attest(attacker.body())])
        _refused_before_decrypting(attacker, response, "invalid_attestation")
        _honest_then_clears(attacker)
        assert world.verifier_received is not None
        evaluations = [r for r in world.verifier_received.received if r.startswith(b"/rounds/")]
        assert len(evaluations) == 2


def test_audit_when_published_caps_differ_from_the_attested_ones_then_fails(tmp_path: Path) -> None:
    from darkpool.audit._checks import one_decryption_per_fhe_round
    from darkpool.audit._data import fetch_custodian_log, fetch_operator
    from tests.operator.fhe_helpers import run_fhe_round
    from tests.operator.helpers import ADMIN

    with fhe_world(tmp_path, simulate=True) as world:
        run_fhe_round(world)
        with httpx.Client(base_url=world.operator_url, headers={"Authorization": f"Bearer {ADMIN}"}) as operator, \
                httpx.Client(base_url=world.custodian_url) as custodian:
            data = fetch_operator(operator)
            data.custodian_log = fetch_custodian_log(custodian)
    assert one_decryption_per_fhe_round(data).ok is True
    fhe_round = next(r for r in data.rounds if r["mode"] == "fhe")
    fhe_round["caps"] = [0, *fhe_round["caps"][1:]]  # an operator publishing caps it did not evaluate with
    check = one_decryption_per_fhe_round(data)
    assert check.ok is False and "caps" in check.detail


def test_audit_when_operator_caps_a_slot_beyond_its_margin_then_the_recomputed_caps_flag_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator evaluates (and the verifier attests, and the custodian logs) a cap the margin rule
    # does not give: everything agrees with everything, except the auditor's recomputation from the
    # journaled margin basis.
    import darkpool.operator.rounds_fhe as rounds_fhe
    from darkpool.audit._checks import fhe_caps_follow_margin, one_decryption_per_fhe_round
    from darkpool.audit._data import fetch_custodian_log, fetch_operator
    from tests.operator.fhe_helpers import run_fhe_round
    from tests.operator.helpers import ADMIN

    def audit(world: FheWorld) -> Any:
        with httpx.Client(base_url=world.operator_url, headers={"Authorization": f"Bearer {ADMIN}"}) as operator, \
                httpx.Client(base_url=world.custodian_url) as custodian:
            data = fetch_operator(operator)
            data.custodian_log = fetch_custodian_log(custodian)
        with httpx.Client(base_url=world.operator_url) as public:
            redacted = fetch_operator(public)
        return data, redacted

    with fhe_world(tmp_path / "honest", simulate=True) as world:
        run_fhe_round(world)
        data, redacted = audit(world)
    honest = fhe_caps_follow_margin(data)
    assert honest.ok is True, honest.detail
    assert fhe_caps_follow_margin(redacted).ok is None  # without the auditors' token: not checkable, not passed

    real_cap = rounds_fhe._slot_cap
    monkeypatch.setattr(rounds_fhe, "_slot_cap", lambda core, state, holder, max_lots, now: max_lots
                        if holder == state.slots[0] else real_cap(core, state, holder, max_lots, now))
    with fhe_world(tmp_path / "lying", simulate=True) as world:
        admin = world.admin()
        for i, who in enumerate(world.people, start=1):  # the first institution can afford a few lots only
            admin.admin("POST", "/admin/deposits", {"deposit_id": i, "account": who.address,
                                                    "amount": 10**9 if i == 1 else 10**12})
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        rid = open_fhe_round(world)
        for who, (side, limit, qty) in zip(world.people, FHE_ORDERS, strict=True):
            world.client(who).fhe_order(rid, "ETH-PERP", side, limit, qty)
        cleared = admin.admin("POST", f"/rounds/{rid}/clear")
        assert cleared["result"]["volume_lots"] == 47  # the first institution's buy filled past its margin
        data, _ = audit(world)
    assert one_decryption_per_fhe_round(data).ok is True  # attested and logged: the lie is consistent
    check = fhe_caps_follow_margin(data)
    assert check.ok is False and "slot(s) [0]" in check.detail, check.detail
