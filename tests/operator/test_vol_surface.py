"""The operator's volatility surface: set by the admin, journaled, used for option margin, replayed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from darkpool.errors import DarkPoolError
from darkpool.operator import create_operator_app
from darkpool.operator.instruments import DEFAULT_OPTION_EXPIRY
from darkpool.sdk import AsyncDarkPoolClient
from tests.operator.helpers import ADMIN, NOW, Clock, settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _app(tmp_path: Path) -> tuple[Any, AsyncDarkPoolClient]:
    app = create_operator_app(settings(tmp_path), clock=Clock())
    return app, AsyncDarkPoolClient("http://op", admin_token=ADMIN, transport=httpx.ASGITransport(app=app))


async def test_vol_surface_when_set_then_options_priced_from_it_and_a_restart_replays_it(tmp_path: Path) -> None:
    app, admin = _app(tmp_path)
    await admin.admin("POST", "/admin/marks", {"underlying": "ETH", "price": 3000.0})
    core = app.state.core
    before = core.margin.implied_vols(NOW)
    smiles = [{"expiry": DEFAULT_OPTION_EXPIRY, "atm": 0.9, "skew": -0.3},
              {"expiry": DEFAULT_OPTION_EXPIRY + 86_400 * 90, "atm": 0.7}]
    await admin.admin("POST", "/admin/vol-surface", {"underlying": "ETH", "smiles": smiles})
    after = core.margin.implied_vols(NOW)
    assert after["ETH-3000-C"] == pytest.approx(0.9) and after != before
    seq = core.journal.seq
    for bad in ({"underlying": "ETH", "smiles": []},
                {"underlying": "ETH", "smiles": [smiles[0], smiles[0]]},
                {"underlying": "DOGE", "smiles": smiles[:1]},
                {"underlying": "ETH", "smiles": [{"expiry": 1, "atm": 7.0}]}):
        with pytest.raises(DarkPoolError):
            await admin.admin("POST", "/admin/vol-surface", bad)
    assert core.journal.seq == seq  # refused, nothing journaled
    core.journal.close()
    replayed, _ = _app(tmp_path)
    assert replayed.state.core.margin.implied_vols(NOW) == after
    replayed.state.core.journal.close()
