"""FHE rounds on the operator: slots, masked orders, encrypted clearing, fill-side openings.

The operator never holds a secret key and never sees an order's side, limit or size: it stores
masked digits (sealed in its journal, see :mod:`darkpool.crypto.sealing`), runs the circuit on
``Enc(R)`` and the digits through an :class:`FheBackend`, and has the custodian decrypt only the
round's outputs. Fills come out per slot without a side; each filled slot's client opens the side
commitment it signed with its order, and only then is that fill booked.
"""

from __future__ import annotations

from typing import Any, Protocol

from darkpool.domain import Account, Fill, Lots, OrderId, Side, Ticks, account
from darkpool.errors import InvalidReveal, NotFound, PolicyViolation, ServiceUnavailable, ValidationError
from darkpool.ledger import Appended
from darkpool.operator.core import OperatorCore
from darkpool.operator.rounds import Mode, Phase, RoundState, require
from darkpool.signing import FheOrder, Signed, SlotReservation, side_commitment, signed_to_wire

__all__ = ["FheBackend", "clear_fhe_round", "open_side", "reserve_slot", "submit_order"]


class FheBackend(Protocol):
    """The operator's FHE side: custodian calls and evaluation with evaluation keys only."""

    def open_round(self, round_id: int, slots: int, levels: int) -> dict[str, Any]:
        """Have the custodian issue the round's masks; return its public description (shape, digests)."""
        ...

    def assign_slot(self, round_id: int, slot: int, holder: str) -> None:
        """Tell the custodian which account may fetch the mask of ``slot``."""
        ...

    def clear(self, round_id: int, info: dict[str, Any], orders: dict[int, tuple[list[int], int]],
              reference_ticks: int, band_low_ticks: int, levels: int) -> dict[str, Any]:
        """Evaluate and have the custodian decrypt; return price_ticks, volume_lots, per-slot fills, transcript."""
        ...


def _backend(core: OperatorCore) -> FheBackend:
    backend = getattr(core, "fhe_backend", None)
    if backend is None:
        raise ServiceUnavailable("this operator has no FHE backend (custodian) configured")
    return backend  # type: ignore[no-any-return]


def _fhe_round(core: OperatorCore, round_id: int, phase: Phase) -> RoundState:
    return require(core.get_round(round_id), Mode.FHE, phase)


def reserve_slot(core: OperatorCore, signed: Signed) -> tuple[Appended, int]:
    """Give the signer the next free slot of an open FHE round."""
    message = signed.message
    if not isinstance(message, SlotReservation):
        raise ValidationError("expected a SlotReservation")
    with core.lock:
        state = _fhe_round(core, message.round_id, Phase.OPEN)
        if message.instrument != state.round.instrument:
            raise ValidationError(f"round {message.round_id} trades {state.round.instrument}")
        signer = Account(core.verifier.check(signed))
        if core.balance(signer) <= 0:
            raise PolicyViolation(f"{signer} has no collateral")
        slot = len(state.slots)
        if slot >= state.slot_count:
            raise PolicyViolation(f"round {message.round_id} has no free slot (of {state.slot_count})")
        _backend(core).assign_slot(message.round_id, slot, signer)
        appended = core._accept("slot", {"round_id": message.round_id, "slot": slot, "account": signer,
                                         "signed": signed_to_wire(signed), "at": core.now()})
        return appended, slot


def submit_order(core: OperatorCore, signed: Signed) -> Appended:
    """Accept a signed FHE order for the signer's own slot; its digits are sealed in the journal."""
    message = signed.message
    if not isinstance(message, FheOrder):
        raise ValidationError("expected an FheOrder")
    with core.lock:
        state = _fhe_round(core, message.round_id, Phase.OPEN)
        signer = Account(core.verifier.check(signed))
        if state.slots.get(message.slot) != signer:
            raise PolicyViolation(f"slot {message.slot} of round {message.round_id} is not {signer}'s")
        if message.slot in state.masked:
            raise PolicyViolation(f"slot {message.slot} already holds an order")
        width = int(state.fhe["digits_per_slot"])
        digits = bytes(message.masked_digits)
        if len(digits) != width or any(d > 3 for d in digits):
            raise ValidationError(f"masked_digits must be {width} base-4 digits (bytes 0..3), got {digits.hex()}")
        wire = signed_to_wire(signed)
        context = f"{message.round_id}:{message.slot}".encode()
        wire["message"]["masked_digits"] = "sealed:" + core.sealer.seal(digits, context)
        return core._accept("fhe_order", {"round_id": message.round_id, "slot": message.slot, "signed": wire,
                                          "at": core.now()})


def _slot_cap(core: OperatorCore, state: RoundState, holder: Account, max_lots: int) -> int:
    """The largest fill the account can afford on either side anywhere in the band (side is hidden)."""
    r, now = state.round, core.now()
    buy = core.margin.cap(holder, r.instrument, Side.BUY, max(0, r.band_high_ticks), now, max_lots=max_lots)
    sell = core.margin.cap(holder, r.instrument, Side.SELL, max(0, r.band_low_ticks), now, max_lots=max_lots)
    return int(min(buy, sell))


def clear_fhe_round(core: OperatorCore, round_id: int) -> tuple[Appended, dict[str, Any]]:
    """Cap each slot, evaluate the circuit, have the custodian decrypt the outputs, journal them."""
    with core.lock:
        state = _fhe_round(core, round_id, Phase.OPEN)
        info = state.fhe
        max_lots = int(info["max_quantity"])
        orders: dict[int, tuple[list[int], int]] = {}
        caps = [0] * int(info["slots"])
        for slot, order in state.masked.items():
            caps[slot] = _slot_cap(core, state, state.slots[slot], max_lots)
            orders[slot] = (list(core.sealer.open(order["sealed"], f"{round_id}:{slot}".encode())), caps[slot])
        r = state.round
        out = _backend(core).clear(round_id, info, orders, r.reference_ticks, r.band_low_ticks, r.levels)
        fills = {str(slot): int(out["fills"][slot]) for slot in state.masked if int(out["fills"][slot]) > 0}
        payload = {"round_id": round_id, "caps": caps, "transcript_hash": out["transcript_hash"],
                   "result": {"price_ticks": out["price_ticks"], "volume_lots": out["volume_lots"],
                              "fills": {f"{state.slots[s]}:{round_id}:{s}": int(out["fills"][s])
                                        for s in sorted(state.masked)}},
                   "slot_fills": fills, "at": core.now()}
        appended = core._accept("fhe_result", payload)
        return appended, payload


def open_side(core: OperatorCore, round_id: int, slot: int, side: int, salt: bytes) -> Appended:
    """Open the side commitment of a filled slot; the fill is booked at once."""
    with core.lock:
        state = _fhe_round(core, round_id, Phase.EVALUATED)
        if slot not in state.pending_sides:
            raise NotFound(f"slot {slot} of round {round_id} has no fill awaiting its side")
        holder = state.slots[slot]
        if side not in (0, 1) or len(salt) != 32:
            raise ValidationError("side must be 0 or 1 and the salt 32 bytes")
        committed = bytes.fromhex(state.masked[slot]["side_commitment"][2:])
        import hmac

        if not hmac.compare_digest(side_commitment(account(holder), round_id, slot, side, salt), committed):
            raise InvalidReveal("side does not open the order's side commitment")
        return core._accept("fill_side", {"round_id": round_id, "slot": slot, "side": side,
                                          "salt": "0x" + salt.hex(), "at": core.now()})


def fill_records(state: RoundState, slot: int, side: Side) -> list[Fill]:
    """The booking of one opened slot's fill."""
    assert state.result is not None
    holder = state.slots[slot]
    return [Fill(state.round_id, OrderId(f"{holder}:{state.round_id}:{slot}"), holder, state.round.instrument, side,
                 Lots(state.pending_sides[slot]), Ticks(state.result["price_ticks"]))]
