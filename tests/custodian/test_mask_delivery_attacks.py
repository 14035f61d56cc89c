"""Issue 11 attacks on mask delivery: an observer of the custodian's traffic, and a relay that tampers.

Before, a slot's mask went back as plaintext JSON digits, neither encrypted to the client nor
signed: anyone on the path read ``r`` (and with the operator's ``d = v + r`` the order), and a
relay could hand the client a mask of its choosing. Now the mask is sealed to a fresh X25519 key
the client signed into its request, and the custodian signs the box; the SDK checks both.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.crypto.boxes import BoxKey, SealedBox, seal_to
from darkpool.domain import Side
from darkpool.errors import ForeignKey, InvalidSignature
from darkpool.sdk import DarkPoolClient
from darkpool.signing import MaskDelivery, SigningDomain, sign, signed_from_wire, signed_to_wire
from darkpool.signing.statements import mask_box_context
from tests.operator.fhe_helpers import BAND_LOW, LEVELS, REFERENCE, FheWorld, fhe_world, run_fhe_round
from tests.operator.helpers import ADMIN, VAULT

pytestmark = [pytest.mark.fhe, pytest.mark.attack]
DOMAIN = SigningDomain(31337, VAULT)


class Tap(httpx.HTTPTransport):
    """A transport on the client's path to the custodian: records every byte, optionally rewrites answers."""

    def __init__(self, rewrite: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.seen: list[bytes] = []
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = super().handle_request(request)
        content = response.read()
        self.seen += [body, content]
        if self.rewrite is not None and request.url.path.endswith("/mask") and response.status_code == 200:
            content = json.dumps(self.rewrite(json.loads(body), json.loads(content))).encode()
        return httpx.Response(response.status_code, headers={"content-type": "application/json"}, content=content)


def _tapped_world(world: FheWorld, tap: Tap) -> Callable[[Any], DarkPoolClient]:
    def client(who: Any) -> DarkPoolClient:
        return DarkPoolClient(world.operator_url, who,
                              custodian=httpx.Client(base_url=world.custodian_url, transport=tap))
    return client


def _leaked(digits: bytes, traffic: bytes) -> list[bytes]:
    """The encodings of a mask found in ``traffic``: raw, hex, JSON list, base64 anywhere, and its digit
    string as a token of its own. (A mask's digit string is short: as a substring it turns up by chance
    inside signatures, keys and timestamps, as it once did in CI.)"""
    import base64
    import re

    anywhere = [digits, digits.hex().encode(), json.dumps(list(digits)).encode(),
                json.dumps(list(digits), separators=(",", ":")).encode(), base64.b64encode(digits)]
    found = [encoded for encoded in anywhere if encoded in traffic]
    string = "".join(map(str, digits)).encode()
    if re.search(rb"(?<![0-9A-Za-z+/])" + string + rb"(?![0-9A-Za-z+/=])", traffic):
        found.append(string)
    return found


def test_observer_when_capturing_all_mask_traffic_then_learns_no_mask(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tap = Tap()
    with fhe_world(tmp_path, simulate=True) as world:
        monkeypatch.setattr(FheWorld, "client", lambda self, who: _tapped_world(self, tap)(who))
        out = run_fhe_round(world)
        custodian = world.custodian_received  # the custodian app's own state holds the true masks
        core = custodian.app.state.core
        masks = core._rounds[str(out["round_id"])].digits
        assert len(masks) == 4 and out["result"]["volume_lots"] > 0
        traffic = b"\n".join(tap.seen)
        assert b'"digits"' not in traffic
        for digits in masks.values():
            assert _leaked(digits, traffic) == []
        # The observer holds every box and every client's public box key, but no private key: a box
        # opened with any key it can make (its own) fails its tag, as does one bound to another slot.
        boxes = [json.loads(t) for t in tap.seen if t.startswith(b'{"round_id"')]
        assert len(boxes) == 4
        for answer in boxes:
            box = SealedBox.from_wire(answer["box"])
            with pytest.raises(Exception, match="does not open"):
                BoxKey().open(box, mask_box_context(DOMAIN, out["round_id"], answer["slot"],
                                                    out["clients"][0].address))


def _substitute_mask(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """A relay that knows the client's public box key seals a mask of its own choosing to it."""
    message = request["request"]["message"]
    context = mask_box_context(DOMAIN, message["round_id"], message["slot"], message["account"])
    box = seal_to(bytes.fromhex(message["box_key"][2:]), bytes(len(SealedBox.from_wire(answer["box"]).body) - 16),
                  context)
    return {**answer, "box": box.to_wire()}


def _resign_as_relay(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The same substitution, with the delivery re-signed under the relay's own key."""
    forged = _substitute_mask(request, answer)
    delivery = signed_from_wire(answer["delivery"], MaskDelivery)
    relay_key = b"\x42" * 32
    from darkpool.crypto.secp256k1 import address_of

    fake = dataclasses.replace(delivery.message, custodian=address_of(relay_key),  # type: ignore[call-arg]
                               box=SealedBox.from_wire(forged["box"]).digest)
    return {**forged, "delivery": signed_to_wire(sign(fake, DOMAIN, relay_key))}


@pytest.mark.parametrize("rewrite", [_substitute_mask, _resign_as_relay], ids=["box swapped", "delivery re-signed"])
def test_relay_when_substituting_a_mask_then_client_refuses_and_submits_nothing(
        tmp_path: Path, rewrite: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]) -> None:
    tap = Tap(rewrite)
    with fhe_world(tmp_path, simulate=True) as world:
        admin = DarkPoolClient(world.operator_url, admin_token=ADMIN)
        who = world.people[0]
        admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": who.address, "amount": 10**12})
        admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
        rid = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": REFERENCE,
                                              "band_low_ticks": BAND_LOW, "levels": LEVELS,
                                              "slot_count": 4})["round_id"]
        client = _tapped_world(world, tap)(who)
        with pytest.raises(InvalidSignature):
            client.fhe_order(rid, "ETH-PERP", Side.BUY, 299_999, 5)
        assert not any(r.partition(b" ")[0].endswith(b"/orders") for r in world.operator_received.received)


def test_client_when_operator_names_another_custodian_then_refuses(tmp_path: Path) -> None:
    from darkpool.sdk._ops import Ops

    with fhe_world(tmp_path, simulate=True) as world:
        admin = DarkPoolClient(world.operator_url, admin_token=ADMIN)
        who = world.people[0]
        admin.admin("POST", "/admin/deposits", {"deposit_id": 1, "account": who.address, "amount": 10**12})
        rid = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": REFERENCE,
                                              "band_low_ticks": BAND_LOW, "levels": LEVELS,
                                              "slot_count": 4})["round_id"]
        # The client pinned a custodian; the one it reaches signs as someone else.
        client = DarkPoolClient(world.operator_url, who, custodian=world.custodian_url,
                                ops=Ops(who, custodian_address="0x" + "c0" * 20))
        with pytest.raises(ForeignKey):
            client.fhe_order(rid, "ETH-PERP", Side.BUY, 299_999, 5)
