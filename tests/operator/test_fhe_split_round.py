"""A split FHE round through the product (issue 14, deliverable 3): operator, custodian and verifier.

With ``fhe_split_groups = 2`` the custodian keys the split module and issues ``Enc(R)`` as one
ciphertext per slot group, the operator evaluates the groups and the combine, and the verifier
re-evaluates the same split before the custodian decrypts. The round must clear exactly as the
unsplit round does, journal its groups, replay after a restart, and pass the audit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from darkpool.audit import run_audit
from darkpool.operator import create_operator_app
from tests.operator.fhe_helpers import fhe_world, run_fhe_round
from tests.operator.test_fhe_round import _expected

pytestmark = pytest.mark.fhe


def test_split_round_when_simulated_clears_as_the_reference_and_the_verifier_evaluates_the_split(
        tmp_path: Path) -> None:
    with fhe_world(tmp_path, simulate=True, groups=2) as world:
        out = run_fhe_round(world)
        expected = _expected()
        result = out["result"]
        assert (result["price_ticks"], result["volume_lots"]) == (expected["price_ticks"], expected["volume_lots"])
        assert [c.positions().get("ETH-PERP", 0) for c in out["clients"]] == [47, -47, 0, 0]
        journal = world.admin().admin("GET", "/audit/journal?limit=10000")
        opened = [json.loads(e["payload"]) for e in journal if e["kind"] == "round_open"]
        assert [p["fhe"]["groups"] for p in opened] == [2], opened
        assert world.verifier_received is not None
        assert any(b'"groups":2' in r for r in world.verifier_received.received)
        assert any(b'"groups":2' in r for r in world.custodian_received.received)
        report = run_audit(world.operator_url, custodian=world.custodian_url)
        assert report.ok, [c for c in report.checks if not c.ok]
        core = world.operator_app.state.core
        before = core.balances()
        settings = world.operator_app.state.settings
    restarted = create_operator_app(settings)  # the journal replays the split round's fills
    assert restarted.state.core.balances() == before
    assert restarted.state.core.get_round(out["round_id"]).summary()["result"] == result
