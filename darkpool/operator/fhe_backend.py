"""The operator's FHE backend: the custodian and the verifiers over HTTP, evaluation with ``fhe.operator.Operator``.

The only module of the operator that imports :mod:`fhe`. It holds evaluation keys and server
artifacts, never a secret key: masks arrive as ``Enc(R)`` and leave as a decryption request.
"""

from __future__ import annotations

import base64
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from darkpool.domain import Round, Ticks
from darkpool.errors import ForeignKey, ValidationError
from darkpool.operator.rounds_fhe import SlotInput
from darkpool.web.codes import raise_for_error

__all__ = ["CustodianFheBackend", "raise_for_bytes"]


def raise_for_bytes(response: httpx.Response) -> bytes:
    """The body of a binary answer, or the error it carries."""
    if response.status_code != 200:
        raise_for_error(response)
    return response.content


class CustodianFheBackend:
    """Open rounds at the custodian, evaluate them here, have the custodian decrypt the outputs."""

    def __init__(self, custodian_url: str, token: str, cache_dir: str | None, *, simulate: bool = False,
                 max_quantity: int = 255, data_dir: str | Path = ".", operator_address: str,
                 verifiers: tuple[str, ...] = (), verifier_token: str = "", groups: int = 1,
                 transport: httpx.BaseTransport | None = None,
                 verifier_transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=custodian_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=1800, transport=transport)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.simulate = simulate
        self.max_quantity = max_quantity
        self.data_dir = Path(data_dir)
        self.operator_address = operator_address
        self.verifiers = verifiers
        self.verifier_token = verifier_token
        self._verifier_transport = verifier_transport
        self.groups = groups
        """Split each round into at most this many slot groups (1: the unsplit circuit)."""
        self._operators: dict[tuple[str, str], Any] = {}
        self._circuits: dict[tuple[int, int, int, int], Any] = {}
        self._lock = threading.Lock()

    def prepare(self, slots: int, levels: int) -> None:
        """Compile (or load) the circuit (or split module) of a round shape now, from the main thread."""
        from fhe.shape import choose_shape

        shape = choose_shape(slots, levels, [self.max_quantity])
        self._circuit((shape.slots, shape.levels, shape.quantity_digits, min(self.groups, shape.slots)))

    def _circuit(self, key: tuple[int, int, int, int]) -> Any:
        """The compiled circuit (groups 1) or split module of a shape; concrete traces only on the main thread,
        so a shape not prepared is compiled here on first use (prefer :meth:`prepare`)."""
        from fhe.split_roles import compile_program

        found = self._circuits.get(key)
        if found is None:
            found = self._circuits[key] = compile_program(key, simulate=self.simulate, cache_dir=self.cache_dir)
        return found

    def bootstraps(self, slots: int, levels: int, quantity_digits: int, groups: int = 1) -> int | None:
        """Programmable bootstraps in one evaluation of a round (None for a shape not loaded here); a split
        round's are its groups' and its combine's."""
        from fhe.split import COMBINE, GROUP

        circuit = self._circuits.get((slots, levels, quantity_digits, groups))
        if circuit is None:
            return None
        if groups == 1:
            return int(circuit.server.programmable_bootstrap_count(circuit.function_name))
        count = circuit.server.programmable_bootstrap_count
        return int(groups * count(GROUP) + count(COMBINE))

    def _masks_path(self, round_id: int) -> Path:
        return self.data_dir / f"fhe-round-{round_id}.masks"

    def open_round(self, round_id: int, slots: int, levels: int) -> dict[str, Any]:
        info = raise_for_error(self.http.post("/rounds", json={"round_id": round_id, "slots": slots,
                                                               "levels": levels,
                                                               "max_quantity": self.max_quantity,
                                                               "operator": self.operator_address,
                                                               "groups": self.groups}))
        masks = base64.b64decode(info.pop("masks"))
        from fhe.transcript import digest

        if digest(masks) != info["masks_digest"]:
            raise ForeignKey("Enc(R) does not match the digest the custodian announced")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._masks_path(round_id).write_bytes(masks)
        return dict(info)

    def _operator(self, info: dict[str, Any]) -> Any:
        from fhe.operator import Operator

        with self._lock:
            found = self._operators.get((info["circuit_id"], info["key_id"]))
            if found is None:
                groups = info.get("groups", 1)
                circuit = self._circuit((info["slots"], info["levels"], info["quantity_digits"], groups))
                if str(circuit.id) != info["circuit_id"]:
                    raise ForeignKey(f"custodian's circuit {info['circuit_id']} is not ours ({circuit.id})")
                keys = b"" if self.simulate else raise_for_bytes(
                    self.http.get(f"/keys/{info['circuit_id']}", params={"key_id": info["key_id"]}))
                # A new epoch's key set replaces the circuit's previous one (evaluation keys are large).
                for stale in [k for k in self._operators if k[0] == info["circuit_id"]]:
                    del self._operators[stale]
                found = self._operators[(info["circuit_id"], info["key_id"])] = (
                    Operator(circuit, keys, info["key_id"]) if groups == 1 else
                    self._split_operator(circuit, keys, info["key_id"]))
            return found

    def _split_operator(self, circuit: Any, keys: bytes, key_id: str) -> Any:
        """The operator of a split module: its groups and combine evaluated in this process."""
        from fhe.split_roles import split_operator

        return split_operator(circuit, keys, key_id)

    def clear(self, round_id: int, info: dict[str, Any], orders: dict[int, SlotInput], instrument: str,
              reference_ticks: int, band_low_ticks: int, levels: int) -> dict[str, Any]:
        """Evaluate the round on ``orders``, have the verifiers re-evaluate it from the clients' openings
        (concurrently), and the custodian decrypt; return price, volume, fills, sides and the transcript hash."""
        from fhe.operator import rank_order

        salt = secrets.token_bytes(32)
        body = self.verifier_body(round_id, info, orders, instrument, reference_ticks, band_low_ticks, levels, salt)
        with ThreadPoolExecutor(max_workers=max(1, len(self.verifiers))) as pool:
            attesting = [pool.submit(self.attest, url, round_id, body) for url in self.verifiers]
            request = self.evaluate(round_id, info, orders, reference_ticks, band_low_ticks, levels, salt)
            attestations = [future.result() for future in attesting]
        for attested in attestations:
            if attested["inputs_commitment"] != request.inputs_commitment:
                raise ForeignKey(f"a verifier committed to inputs {attested['inputs_commitment'][:16]}…, "
                                 f"the operator to {request.inputs_commitment[:16]}…")
        caps = [orders[slot].cap if slot in orders else 0 for slot in range(info["slots"])]
        out = self.decrypt(round_id, request, attestations, caps)
        rank = out["rank"]
        round_ = Round("fhe", Ticks(reference_ticks), Ticks(band_low_ticks), levels)
        price = None if rank is None else band_low_ticks + rank_order(round_, info["levels"])[rank]
        if price is not None and price > band_low_ticks + levels - 1:
            raise ValidationError(f"decrypted level {price - band_low_ticks} is outside the band")
        return {"transcript_hash": request.transcript_hash, "price_ticks": price,
                "volume_lots": out["volume_lots"], "fills": out["fills"], "sides": out["sides"]}

    def verifier_body(self, round_id: int, info: dict[str, Any], orders: dict[int, SlotInput], instrument: str,
                      reference_ticks: int, band_low_ticks: int, levels: int, salt: bytes) -> dict[str, Any]:
        """What a verifier re-evaluates the round from: public terms, Enc(R), the salt, every opening."""
        masks = self._masks_path(round_id).read_bytes()
        return {"instrument": instrument, "reference_ticks": reference_ticks, "band_low_ticks": band_low_ticks,
                "levels": levels, "circuit_id": info["circuit_id"], "key_id": info["key_id"], "slots": info["slots"],
                "circuit_levels": info["levels"], "quantity_digits": info["quantity_digits"],
                "digits_per_slot": info["digits_per_slot"], "max_quantity": info["max_quantity"],
                "masks_digest": info["masks_digest"], "masks": base64.b64encode(masks).decode(),
                "groups": info.get("groups", 1),
                "salt": "0x" + salt.hex(), "operator": self.operator_address,
                "liquidations": [given.liquidation for _, given in sorted(orders.items()) if given.liquidation],
                "openings": [{"slot": slot, "order": given.order, "masked_digits": "0x" + bytes(given.digits).hex(),
                              "digits_salt": "0x" + given.salt.hex(), "cap": given.cap}
                             for slot, given in sorted(orders.items())]}

    def evaluate(self, round_id: int, info: dict[str, Any], orders: dict[int, SlotInput], reference_ticks: int,
                 band_low_ticks: int, levels: int, salt: bytes) -> Any:
        """The operator's own evaluation: a ``fhe.transcript.DecryptionRequest``."""
        from fhe.artifacts import CircuitId
        from fhe.encoding import MaskedOrder
        from fhe.transcript import RoundMasks

        operator = self._operator(info)
        rid = str(round_id)
        masks = RoundMasks(rid, CircuitId(info["circuit_id"]), info["key_id"], info["slots"], info["digits_per_slot"],
                           self._masks_path(round_id).read_bytes())
        operator.begin(rid, Round("fhe", Ticks(reference_ticks), Ticks(band_low_ticks), levels), masks)
        for slot, given in sorted(orders.items()):
            operator.submit(MaskedOrder(rid, slot, tuple(given.digits)), cap=given.cap)
        return operator.evaluate(rid, salt=salt)

    def attest(self, url: str, round_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """One verifier's re-evaluation of the round: its outputs and signed attestation."""
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {self.verifier_token}"},
                          timeout=1800, transport=self._verifier_transport) as client:
            return dict(raise_for_error(client.post(f"/rounds/{round_id}/evaluate", json=body)))

    def mask(self, round_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """Ask the custodian for a slot's mask as its holder would (the operator's own liquidation slots)."""
        # Asked at a round's close (the round frozen meanwhile): a custodian that hangs must not hold the close
        # for the client's half hour; the round already exists there, so nothing is compiled for this answer.
        return dict(raise_for_error(self.http.post(f"/rounds/{round_id}/mask", json=body, timeout=60)))

    def open_rounds(self) -> list[int]:
        """The ids of the rounds the custodian holds open for this operator."""
        found = raise_for_error(self.http.get("/rounds", params={"operator": self.operator_address}, timeout=60))
        return [int(round_id) for round_id in found["open"]]

    def abort(self, round_id: int, reason: str) -> None:
        """Have the custodian spend an abandoned round's masks: nothing of it is ever decrypted."""
        raise_for_error(self.http.post(f"/rounds/{round_id}/abort", json={"reason": reason}))

    def decrypt(self, round_id: int, request: Any, attestations: list[dict[str, Any]],
                caps: list[int]) -> dict[str, Any]:
        """Ask the custodian to decrypt ``request``'s outputs with the verifiers' attestations and the caps."""
        return dict(raise_for_error(self.http.post(f"/rounds/{round_id}/decrypt", json={
            "circuit_id": str(request.circuit_id), "masks_digest": request.masks_digest,
            "inputs_commitment": request.inputs_commitment, "transcript_hash": request.transcript_hash,
            "outputs": [base64.b64encode(o).decode() for o in request.outputs], "caps": caps,
            "attestations": [{"attestation": a["attestation"], "outputs": a["outputs"]} for a in attestations]})))
