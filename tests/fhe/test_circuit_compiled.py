"""The compiled circuit: lookups stay small, bootstraps are counted per stage, simulation is exact."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from concrete import fhe as concrete_fhe

from darkpool.clearing import clear_reference, dump_result
from fhe.artifacts import ENCRYPTION, configuration, inputset
from fhe.circuit import clearing_function
from tests.conformance.rounds import random_round
from tests.fhe.conftest import SMALL
from tests.fhe.plain import clear_plain, plain_inputs

pytestmark = pytest.mark.fhe

STAGES = {"unmask", "cap", "eligibility", "curves", "volume", "auction", "allocation", "outputs"}


@pytest.fixture(scope="module")
def circuit() -> concrete_fhe.Circuit:
    compiler = concrete_fhe.Compiler(clearing_function(SMALL), ENCRYPTION)
    return compiler.compile(inputset(SMALL), configuration(simulate=True))


def test_compile_when_small_shape_every_lookup_reads_at_most_4_bits(circuit: concrete_fhe.Circuit) -> None:
    widths = [
        int(m.group(1))
        for line in circuit.mlir.splitlines()
        if "lookup_table" in line
        for m in [re.search(r"\(tensor<[^>]*!FHE\.eint<(\d+)>|\(!FHE\.eint<(\d+)>", line)]
        if m and m.group(1)
    ]
    assert widths and max(widths) <= 4


def test_compile_when_small_shape_counts_bootstraps_for_every_stage(circuit: concrete_fhe.Circuit) -> None:
    per_tag = circuit.programmable_bootstrap_count_per_tag
    assert set(per_tag) >= STAGES
    assert sum(per_tag[t] for t in STAGES) == circuit.programmable_bootstrap_count


def test_simulate_when_rounds_generated_equals_plain_run_and_reference(circuit: concrete_fhe.Circuit) -> None:
    rng = random.Random(11)
    for _ in range(15):
        round_, orders = random_round(rng, max_orders=SMALL.slots, max_levels=SMALL.levels, max_quantity=3)
        args = plain_inputs(SMALL, round_, orders, None, random.Random(rng.randrange(1000)))
        simulated = circuit.simulate(*args)
        plain = clearing_function(SMALL)(*args)
        for a, b in zip(simulated, plain, strict=True):
            assert np.array_equal(np.asarray(a), np.asarray(b))
        assert dump_result(clear_plain(round_, orders, shape=SMALL)) == dump_result(clear_reference(round_, orders))
