"""A failure keeps its exit status in a process where concrete has run a circuit.

concrete's runtime exits 0 from its exit handlers once a circuit has run, so without
:mod:`darkpool.exitstatus` a failed ``darkpool`` command, a crashed service or a failing test run
would report success.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fhe
ROOT = Path(__file__).resolve().parents[2]
CIRCUIT = """
from concrete import fhe
@fhe.compiler({"x": "encrypted"})
def plus_one(x):
    return x + 1
assert plus_one.compile(range(8)).encrypt_run_decrypt(3) == 4
"""


def _status(code: str) -> int:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=300).returncode


def test_process_when_failing_after_a_circuit_ran_then_keeps_its_status() -> None:
    plain = _status(CIRCUIT + "import sys; sys.exit(3)")
    kept = _status(CIRCUIT + "import sys\nfrom darkpool.exitstatus import run_keeping_status\n"
                   "run_keeping_status(lambda: sys.exit(3))")
    raised = _status(CIRCUIT + "from darkpool.exitstatus import run_keeping_status\n"
                     "def crash(): raise RuntimeError('boom')\nrun_keeping_status(crash)")
    assert (kept, raised) == (3, 1), f"without the wrapper the status is {plain}"


def test_pytest_when_a_test_fails_after_a_circuit_ran_then_exits_1(tmp_path: Path) -> None:
    probe = ROOT / "tests" / "unit" / "probes" / "fhe_failing.py"
    # Its own base temp: the child's clean-up of old temp dirs must not touch this session's.
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           f"--basetemp={tmp_path / 'child'}", str(probe)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout[-2000:]
