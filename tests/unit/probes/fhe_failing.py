"""Run by tests/unit/test_exitstatus.py in a child pytest: a failing test after a circuit ran."""

from concrete import fhe


def test_fails_after_a_circuit_ran() -> None:
    @fhe.compiler({"x": "encrypted"})
    def plus_one(x: int) -> int:
        return x + 1

    circuit = plus_one.compile(range(8))
    assert circuit.encrypt_run_decrypt(3) == 5  # 4: fails on purpose
