"""Issue 11 attacks on post-trade privacy: an observer with every public byte, and no token.

Before, ``/audit/journal`` carried every FHE slot reservation, order and side opening with its
account, ``/rounds`` keyed FHE fills by account, and ``/batches`` listed every account's balance
and fills: anyone could read who traded what. Now the public sees private entries only as
digests (the chain still verifies end to end), FHE fills by slot, batches by root; the auditors'
token and each account's own signed reads see the rest.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from darkpool.ledger import JournalEntry, verify_chain
from darkpool.operator.events import PRIVATE_KINDS
from tests.operator.fhe_helpers import fhe_world, run_fhe_round
from tests.operator.helpers import ADMIN

pytestmark = [pytest.mark.fhe, pytest.mark.attack]


def _public_journal(url: str) -> list[dict[str, object]]:
    response = httpx.get(url + "/audit/journal", params={"limit": 10_000})
    response.raise_for_status()
    entries: list[dict[str, object]] = response.json()
    return entries


def test_observer_when_reading_every_public_byte_then_cannot_tell_who_traded_what(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        out = run_fhe_round(world)
        rid = out["round_id"]
        assert out["result"]["volume_lots"] > 0
        journal = _public_journal(world.operator_url)
        # Deposits are public on chain anyway; everything else public must not name a participant.
        rest = [e for e in journal if e["kind"] != "deposit"]
        pages = [httpx.get(world.operator_url + p).content for p in (
            "/audit/rounds", "/rounds", f"/rounds/{rid}", f"/rounds/{rid}/publication", "/batches", "/info")]
        pages += [httpx.get(world.custodian_url + p).content for p in ("/log", "/log/evidence", "/identity")]
        public = b"\n".join([httpx.Response(200, json=rest).content, *pages]).lower()
        for who in world.people:
            assert who.address[2:].lower().encode() not in public, who.address
        # Private entries are digests only; the whole chain still verifies from them to the head.
        private = [e for e in journal if e["kind"] in PRIVATE_KINDS]
        assert {e["kind"] for e in private} >= {"slot", "fhe_order", "fhe_sides"}
        assert all(e["payload"] is None for e in private)
        head = verify_chain(JournalEntry.from_json_dict(e) for e in journal)
        assert head == world.operator_app.state.core.journal.head
        # The public result has fills by slot, the publication no sides.
        summary = httpx.get(f"{world.operator_url}/rounds/{rid}").json()
        assert set(summary["result"]["fills"]) == {f"slot:{s}" for s in range(4)}
        assert "fill_sides" not in httpx.get(f"{world.operator_url}/rounds/{rid}/publication").json()


def test_observer_when_splicing_a_private_entry_back_then_the_chain_refuses_it(tmp_path: Path) -> None:
    """A payload guessed for a redacted entry (say, its account swapped) does not fit the published digest."""
    with fhe_world(tmp_path, simulate=True) as world:
        run_fhe_round(world)
        admin = {"Authorization": f"Bearer {ADMIN}"}
        full = httpx.get(world.operator_url + "/audit/journal", params={"limit": 10_000}, headers=admin).json()
        public = _public_journal(world.operator_url)
        slot = next(i for i, e in enumerate(full) if e["kind"] == "slot")
        assert public[slot]["payload"] is None and full[slot]["payload"] is not None
        assert public[slot]["payload_hash"] == full[slot]["payload_hash"]
        guessed = dict(full[slot], payload=full[slot]["payload"].replace(world.people[0].address[2:].lower(),
                                                                           world.people[1].address[2:].lower()))
        assert guessed["payload"] != full[slot]["payload"]
        with pytest.raises(Exception, match="payload_hash"):
            JournalEntry.from_json_dict(guessed)
        with pytest.raises(Exception, match="broken"):
            verify_chain(JournalEntry.from_json_dict(e) for e in [*public[:slot],
                                                                         {k: v for k, v in guessed.items()
                                                                          if k != "payload_hash"}])


def test_tokens_when_wrong_are_refused_and_auditor_token_sees_everything(tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True) as world:
        run_fhe_round(world)
        url = world.operator_url + "/audit/journal"
        refused = httpx.get(url, headers={"Authorization": "Bearer not-the-token-at-all"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        full = httpx.get(url, params={"limit": 10_000}, headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert all(e["payload"] is not None for e in full)
        reads = [httpx.get(f"{world.operator_url}/accounts/{who.address}/fills") for who in world.people]
        assert {r.status_code for r in reads} == {401}
