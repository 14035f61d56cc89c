"""A verifier whose custodian does not answer says so (503), never a 500: keys and the mask signer come from it."""

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
