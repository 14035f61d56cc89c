"""The commitment endpoint's fast path answers exactly as the framework's route does.

``POST /rounds/1/commitments`` takes the fast path (:mod:`darkpool.operator.api.fast_path`);
``POST /rounds/01/commitments`` names the same round but does not match it, so FastAPI routes it
to the same endpoint. Every body, good or bad, must get the same status and the same answer both
ways, and a refused one must change nothing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.sdk import AsyncDarkPoolClient
from darkpool.signing import Commitment, SigningDomain, signed_to_wire
from tests.operator.helpers import ADMIN, NOW, VAULT, fund, identities, settings

pytestmark = [pytest.mark.anyio, pytest.mark.attack]
FAST, ROUTED = "/rounds/1/commitments", "/rounds/01/commitments"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _signed(who: Any, nonce: int, round_id: int = 1, bond: int = 0) -> dict[str, Any]:
    message = Commitment(account=who.address, instrument="ETH-PERP", round_id=round_id,
                         commitment=nonce.to_bytes(32, "big"), bond=bond, nonce=nonce, expiry=NOW + 3600)
    return signed_to_wire(who.sign(message, SigningDomain(31337, VAULT)))


async def _world(tmp_path: Path) -> tuple[Any, httpx.AsyncClient, list[Any]]:
    from darkpool.operator import create_operator_app

    app = create_operator_app(settings(tmp_path))
    transport = httpx.ASGITransport(app=app)
    people = identities(2)
    admin = AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=transport)
    await fund(admin, people)
    await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                          "reference_ticks": 300_000, "band_low_ticks": 299_996, "levels": 8,
                                          "commit_s": 3600})
    return app, httpx.AsyncClient(transport=transport, base_url="http://op"), people


async def test_commit_when_fast_path_or_routed_then_same_answers_and_refusals_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from darkpool.operator.api import fast_path

    taken: list[int] = []
    endpoint = fast_path.accept_commitment

    async def counted(state: Any, round_id: int, body: bytes, peer: str) -> Any:
        taken.append(round_id)
        return await endpoint(state, round_id, body, peer)

    monkeypatch.setattr(fast_path, "accept_commitment", counted)
    app, http, (alpha, beta) = await _world(tmp_path)
    good = _signed(alpha, 1)
    forged = dict(good, signature="0x" + "11" * 65)
    bad_bodies: list[tuple[str, bytes]] = [
        ("not JSON", b"{"), ("not an object", b"[1, 2]"), ("missing message", json.dumps({"signature": "0x"}).encode()),
        ("another round", json.dumps(_signed(beta, 2, round_id=2)).encode()),
        ("a bond beyond the balance", json.dumps(_signed(beta, 3, bond=10**30)).encode()),
        ("a forged signature", json.dumps(forged).encode()),
        ("a nonce too large", json.dumps(dict(good, message=dict(good["message"], nonce=str(2**64)))).encode()),
    ]
    seq = app.state.core.journal.seq
    for what, body in bad_bodies:
        fast, routed = [await http.post(path, content=body) for path in (FAST, ROUTED)]
        assert fast.status_code == routed.status_code and fast.status_code >= 400, (what, fast.text, routed.text)
        assert fast.json() == routed.json() and set(fast.json()) == {"error"}, (what, fast.text, routed.text)
    assert app.state.core.journal.seq == seq  # nothing refused was journaled
    assert taken == [1] * len(bad_bodies)  # the fast path took /rounds/1/... only, FastAPI the rest
    fast = await http.post(FAST, json=good)
    routed = await http.post(ROUTED, json=_signed(beta, 1))
    assert (fast.status_code, routed.status_code) == (202, 202)
    assert set(fast.json()) == set(routed.json()) == {"seq", "head"}
    assert routed.json()["seq"] == fast.json()["seq"] + 1
    replayed = await http.post(ROUTED, json=good), await http.post(FAST, json=good)
    assert [r.status_code for r in replayed] == [409, 409] and replayed[0].json() == replayed[1].json()
    app.state.core.journal.close()
    await http.aclose()


async def test_commit_when_served_then_signers_recovered_by_the_child_and_forgeries_refused(tmp_path: Path) -> None:
    from darkpool.operator import create_operator_app
    from darkpool.web.serve import ServerThread

    app = create_operator_app(settings(tmp_path, rate_per_s=1000.0, rate_burst=1000.0))
    people = identities(2)
    with ServerThread(app) as server:
        assert app.state.recovery.running  # started with the app
        admin = AsyncDarkPoolClient(server.url, admin_token=ADMIN)
        await fund(admin, people)
        await admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                              "reference_ticks": 300_000, "band_low_ticks": 299_996, "levels": 8,
                                              "commit_s": 3600})
        async with httpx.AsyncClient(base_url=server.url) as http:
            good = [_signed(people[i % 2], i) for i in range(1, 41)]
            answers = await asyncio.gather(*(http.post(FAST, json=body) for body in good))
            assert [a.status_code for a in answers] == [202] * len(good)
            assert len({a.json()["seq"] for a in answers}) == len(good)  # one journal entry each
            forged = dict(good[0], message=dict(good[0]["message"], nonce=999))  # signature over other fields
            refused = await http.post(FAST, json=forged)
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_signature")
    summary = app.state.core.get_round(1).summary()
    assert summary["commitments"] == len(good)
    assert not app.state.recovery.running  # stopped with the app
