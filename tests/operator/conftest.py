from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.environment import missing
from tests.ledger.pg import postgres_bin, running_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not postgres_bin():
        missing("PostgreSQL binaries are absent on this machine")
    with running_postgres() as url:
        yield url
