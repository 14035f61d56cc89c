"""A party whose custodian does not answer says so (503), never a 500: the verifier (keys, the mask signer) and
the operator (masks of a new FHE round)."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkpool.errors import ServiceUnavailable
from darkpool.verifier import create_verifier_app
from darkpool.web.serve import free_port
from darkpool.web.settings import VerifierSettings
from tests.operator.helpers import VAULT


def test_verifier_when_its_custodian_is_unreachable_then_service_unavailable(tmp_path: Path) -> None:
    app = create_verifier_app(VerifierSettings(
        vault=VAULT, operator_token="verifier-test-token", custodian_url=f"http://127.0.0.1:{free_port()}",
        key_dir=str(tmp_path / "verifier-keys"), simulate=True))
    core = app.state.core
    with pytest.raises(ServiceUnavailable, match="does not answer"):
        core.custodian()
    with pytest.raises(ServiceUnavailable, match="does not answer"):
        core._fetch_keys("c1", "k1")
    assert core._custodian == ""  # nothing cached: the next round asks again


def test_operator_when_its_custodian_is_unreachable_then_an_fhe_round_is_refused_503_and_nothing_journaled(
        tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from darkpool.operator import create_operator_app
    from tests.operator.helpers import ADMIN, settings

    app = create_operator_app(settings(tmp_path, custodian_url=f"http://127.0.0.1:{free_port()}",
                                       custodian_token="custodian-test-token", fhe_simulate=True))
    with TestClient(app) as http:
        head = len(list(app.state.core.journal.entries()))
        response = http.post("/rounds", headers={"Authorization": f"Bearer {ADMIN}"},
                             json={"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": 299_998,
                                   "band_low_ticks": 299_996, "levels": 4, "slot_count": 4})
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "service_unavailable"
        assert len(list(app.state.core.journal.entries())) == head
