"""The verifier's state: evaluation keys and circuits, its own signing key, and the checks it signs.

A verifier re-evaluates an FHE round the operator evaluated, from the inputs it can check itself,
and signs what it computed (:class:`~darkpool.signing.EvaluationAttested`). It holds evaluation keys
only (public, fetched from the custodian), never a secret key and never a mask, so it learns no
more of an order than the operator does. What it refuses to evaluate, nobody can get decrypted:

- every slot's masked digits must open the hiding commitment its client signed
  (:class:`~darkpool.signing.FheOrder`), for this round, this slot, and the round's announced
  reference price, band and circuit (a spliced ``Enc(R)`` or a chosen digit vector has no opening);
- the rank order is computed here from the round's public reference price, never received;
- ``Enc(R)`` must be the one whose digest the custodian announced for the round (the custodian
  compares the digest in the attestation with the one it issued);
- each cap is within the circuit's range; slots without a signed order stay off (cap 0);
- a slot whose order the round's operator signed is evaluated only as a liquidation the request
  publishes for that slot (the queue's public reduce-only order of an account, which the operator
  placed in its own slot; see :mod:`darkpool.operator.liquidator`), capped at its quantity; a listed
  liquidation whose order anyone else signed is refused, so no client passes its order off as one.

The inputs commitment is recomputed from these inputs with the operator's salt, so the custodian
sees the operator's request and the verifier's attestation commit to the same clear inputs.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from darkpool.crypto.secp256k1 import address_of
from darkpool.domain import Account, Lots, Order, OrderId, Round, Side, Ticks, account
from darkpool.errors import DarkPoolError, ForeignKey, InvalidReveal, PolicyViolation, ValidationError
from darkpool.signing import FheOrder, Signed, SigningDomain, digits_commitment, sign
from darkpool.signing.statements import EvaluationAttested, caps_digest, outputs_digest, statement_signer

__all__ = ["Evaluation", "LiquidationSlot", "RoundToVerify", "SlotOpening", "VerifierCore"]


@dataclass(frozen=True)
class SlotOpening:
    """One slot as the operator evaluated it: the client's signed order, its digits and salt, the cap."""

    slot: int
    order: Signed
    masked_digits: bytes
    digits_salt: bytes
    cap: int


@dataclass(frozen=True)
class LiquidationSlot:
    """A liquidation the operator publishes with the round: the queue's order of ``account`` in ``slot``."""

    slot: int
    order_id: str
    account: str
    side: int
    limit_ticks: int
    quantity_lots: int
    disclosed: str = ""
    """The slot's mask, disclosed (:mod:`darkpool.signing.disclosure`): the verifier checks the slot's digits
    are the published order under the custodian's mask before it evaluates anything."""


@dataclass(frozen=True)
class RoundToVerify:
    """Everything the verifier re-evaluates a round from (nothing secret)."""

    round_id: int
    instrument: str
    reference_ticks: int
    band_low_ticks: int
    levels: int
    circuit_id: str
    key_id: str
    slots: int
    circuit_levels: int
    quantity_digits: int
    digits_per_slot: int
    max_quantity: int
    masks_digest: str
    masks: bytes
    salt: bytes
    openings: tuple[SlotOpening, ...]
    operator: str = ""
    liquidations: tuple[LiquidationSlot, ...] = ()
    groups: int = 1
    """Slot groups of a split round (1: the unsplit circuit): the verifier evaluates the same split."""


@dataclass(frozen=True)
class Evaluation:
    """The verifier's output ciphertexts and its signed attestation over them."""

    round_id: int
    inputs_commitment: str
    outputs: tuple[bytes, ...]
    attestation: Signed


class VerifierCore:
    """Check a round's openings, re-evaluate its circuit, sign the result."""

    def __init__(self, domain: SigningDomain, signing_key: bytes, cache_dir: Path | None, simulate: bool,
                 fetch_keys: Callable[[str, str], bytes], fetch_custodian: Callable[[], str] | None = None) -> None:
        """``fetch_custodian``: the address that signs the custodian's mask deliveries (asked once)."""
        # Import concrete on the thread that builds the app: circuits are traced on that thread.
        import fhe.artifacts
        import fhe.operator  # noqa: F401

        self.domain = domain
        self.cache_dir = cache_dir
        self.simulate = simulate
        self.address = Account(address_of(signing_key))
        self._signing_key = signing_key
        self._fetch_keys = fetch_keys
        self._fetch_custodian = fetch_custodian
        self._custodian = ""
        self._circuits: dict[tuple[int, int, int, int], Any] = {}
        self._keys: dict[tuple[str, str], bytes] = {}
        self.lock = threading.Lock()

    def prepare(self, slots: int, levels: int, max_quantity: int, groups: int = 1) -> str:
        """Compile (or load) a shape's circuit (or split module) now, on the calling (main) thread."""
        from fhe.shape import choose_shape

        shape = choose_shape(slots, levels, [max_quantity])
        return str(self._circuit(shape.slots, shape.levels, shape.quantity_digits, min(groups, shape.slots)).id)

    def _circuit(self, slots: int, levels: int, quantity_digits: int, groups: int = 1) -> Any:
        from fhe.split_roles import compile_program

        key = (slots, levels, quantity_digits, groups)
        found = self._circuits.get(key)
        if found is None:
            found = self._circuits[key] = compile_program(key, simulate=self.simulate, cache_dir=self.cache_dir)
        return found

    def check_openings(self, round_: RoundToVerify) -> list[tuple[int, bytes, int]]:
        """Check every slot's opening against its client's signed order; return (slot, digits, cap)."""
        announced = (round_.instrument, round_.reference_ticks, round_.band_low_ticks, round_.levels,
                     round_.circuit_id)
        seen: set[int] = set()
        checked = []
        for opening in round_.openings:
            message = opening.order.message
            if not isinstance(message, FheOrder):
                raise ValidationError(f"slot {opening.slot}: expected a signed FheOrder")
            signer = statement_signer(opening.order, self.domain)
            if account(message.account) != signer:
                raise PolicyViolation(f"slot {opening.slot}: the order is not signed by its account")
            if (message.round_id, message.slot) != (round_.round_id, opening.slot):
                raise PolicyViolation(f"slot {opening.slot}: the order is for slot {message.slot} of round "
                                      f"{message.round_id}, not slot {opening.slot} of round {round_.round_id}")
            if opening.slot in seen or not 0 <= opening.slot < round_.slots:
                raise ValidationError(f"slot {opening.slot} is repeated or outside 0..{round_.slots - 1}")
            seen.add(opening.slot)
            signed_for = (message.instrument, message.reference_ticks, message.band_low_ticks, message.levels,
                          message.circuit_id)
            if signed_for != announced:
                raise PolicyViolation(f"slot {opening.slot}: order encoded for {signed_for}, round is {announced}")
            digits = opening.masked_digits
            if len(digits) != round_.digits_per_slot or any(d > 3 for d in digits):
                raise ValidationError(f"slot {opening.slot}: masked digits must be {round_.digits_per_slot} "
                                      "base-4 digits")
            if len(opening.digits_salt) != 32 or not hmac.compare_digest(
                    digits_commitment(digits, opening.digits_salt), message.digits_commitment):
                raise InvalidReveal(f"slot {opening.slot}: the digits do not open the client's signed commitment")
            if not 0 <= opening.cap <= round_.max_quantity:
                raise ValidationError(f"slot {opening.slot}: cap must be in 0..{round_.max_quantity}, "
                                      f"got {opening.cap}")
            _check_liquidation(round_, opening, signer)
            self._check_disclosure(round_, opening)
            checked.append((opening.slot, bytes(digits), opening.cap))
        missing = sorted({x.slot for x in round_.liquidations} - seen)
        if missing or len({x.slot for x in round_.liquidations}) != len(round_.liquidations):
            raise PolicyViolation(f"liquidation slot(s) {missing} hold no order, or a slot is listed twice")
        return checked

    def custodian(self) -> str:
        """The custodian's signing address, asked of it once (empty when no custodian is configured)."""
        if not self._custodian and self._fetch_custodian is not None:
            self._custodian = self._fetch_custodian().lower()
        return self._custodian

    def _check_disclosure(self, round_: RoundToVerify, opening: SlotOpening) -> None:
        """Refuse a liquidation slot whose digits are not its published order under the custodian's mask."""
        from darkpool.signing.disclosure import disclosed_mask_problem

        listed = next((x for x in round_.liquidations if x.slot == opening.slot), None)
        if listed is None:
            return
        terms = Round(round_.instrument, Ticks(round_.reference_ticks), Ticks(round_.band_low_ticks), round_.levels)
        order = Order(OrderId(listed.order_id), Side(listed.side), Ticks(listed.limit_ticks),
                      Lots(listed.quantity_lots), opening.slot)
        try:
            problem = disclosed_mask_problem(self.domain, round_.operator, self.custodian(), round_.round_id,
                                             opening.slot, listed.disclosed, terms,
                                             (round_.slots, round_.circuit_levels, round_.quantity_digits), order,
                                             opening.masked_digits)
        except (DarkPoolError, KeyError, TypeError, ValueError) as error:
            problem = f"the mask disclosure does not decode ({type(error).__name__})"
        if problem is not None:
            raise PolicyViolation(f"slot {opening.slot}: {problem}")

    def evaluate(self, round_: RoundToVerify) -> Evaluation:
        """Check, re-evaluate and sign; a round is attested for one inputs commitment only."""
        from fhe.artifacts import CircuitId
        from fhe.encoding import MaskedOrder
        from fhe.operator import Operator
        from fhe.split_roles import split_operator
        from fhe.transcript import RoundMasks, digest

        if len(round_.salt) != 32:
            raise ValidationError("salt must be 32 bytes")
        checked = self.check_openings(round_)
        if digest(round_.masks) != round_.masks_digest:
            raise ForeignKey("Enc(R) does not match the round's announced masks digest")
        with self.lock:
            circuit = self._circuit(round_.slots, round_.circuit_levels, round_.quantity_digits, round_.groups)
            if str(circuit.id) != round_.circuit_id:
                raise ForeignKey(f"round names circuit {round_.circuit_id}, its shape compiles to {circuit.id}")
            keys = self._evaluation_keys(round_.circuit_id, round_.key_id)
            operator = (Operator(circuit, keys, round_.key_id) if round_.groups == 1 else
                        split_operator(circuit, keys, round_.key_id))
            rid = str(round_.round_id)
            masks = RoundMasks(rid, CircuitId(round_.circuit_id), round_.key_id, round_.slots,
                               round_.digits_per_slot, round_.masks)
            operator.begin(rid, Round("fhe", Ticks(round_.reference_ticks), Ticks(round_.band_low_ticks),
                                      round_.levels), masks)
            for slot, digits, cap in checked:
                operator.submit(MaskedOrder(rid, slot, tuple(digits)), cap=cap)
            request = operator.evaluate(rid, salt=round_.salt)
        caps = [0] * round_.slots
        for slot, _, cap in checked:
            caps[slot] = cap
        attestation = sign(EvaluationAttested(verifier=self.address, round_id=round_.round_id,
                                              circuit_id=round_.circuit_id, masks_digest=round_.masks_digest,
                                              inputs_commitment=request.inputs_commitment, caps=caps_digest(caps),
                                              outputs=outputs_digest(request.outputs)),
                           self.domain, self._signing_key)
        return Evaluation(round_.round_id, request.inputs_commitment, request.outputs, attestation)

    def _evaluation_keys(self, circuit_id: str, key_id: str) -> bytes:
        if self.simulate:
            return b""
        found = self._keys.get((circuit_id, key_id))
        if found is None:
            found = self._fetch_keys(circuit_id, key_id)
            for stale in [k for k in self._keys if k[0] == circuit_id]:  # a new epoch replaces the old key set
                del self._keys[stale]
            self._keys[(circuit_id, key_id)] = found
        return found


def _check_liquidation(round_: RoundToVerify, opening: SlotOpening, signer: str) -> None:
    """Refuse a liquidation slot not signed by the operator or capped above its quantity, and an operator's
    order that is no published liquidation."""
    listed = next((x for x in round_.liquidations if x.slot == opening.slot), None)
    by_operator = bool(round_.operator) and signer == account(round_.operator)
    if listed is None:
        if by_operator:
            raise PolicyViolation(f"slot {opening.slot}: the operator's order is no liquidation published with "
                                  "the round")
        return
    if not by_operator:
        raise PolicyViolation(f"slot {opening.slot}: a liquidation's order must be the operator's, "
                              f"it is signed by {signer}")
    if not 0 < listed.quantity_lots <= round_.max_quantity or opening.cap != listed.quantity_lots:
        raise PolicyViolation(f"slot {opening.slot}: a liquidation of {listed.quantity_lots} lots is capped at "
                              f"its quantity, got {opening.cap}")
