"""FHE engine benchmarks: JSON lines ``{"metric", "value", "unit", ...}`` on stdout.

Metrics (all measured in the same run, so ratios compare like with like):

- ``fhe_compare16_speedup_vs_default``: a 16-bit encrypted ``a > b`` per comparison in a batch
  of 16, concrete's default compile against this engine's radix-4 comparison;
- ``fhe_round_bootstraps``: per shape (slots 4, 8, 16, 32, 64 x levels 1, 4, 8, 16), the
  circuit's programmable bootstraps, in total and per ``fhe.tag`` stage, next to the ``baseline``
  counts of the circuit before issue 14 (counts are deterministic: compiled for simulation, with
  the peak memory and seconds of that compile; n16-l8-q4's comes with its real round);
- ``fhe_round_seconds``, ``fhe_keygen_seconds``, ``fhe_eval_key_bytes``: one full round of 16
  orders, 8 levels, 8-bit lots, real encryption; ``fhe_round_seconds_large``: the same for 64
  orders, 16 levels (compile, keys and round take minutes); each with its peak memory;
- ``fhe_bootstrap_floor_ratio``: that round's time over (its bootstraps x the latency of one
  bootstrap of the same parameters / cores);
- ``fhe_round_seconds_grid``: the round time for N in 4, 8, 16, 32 and levels in 1, 4, 8, 16.

Every compile and round runs in a child process of its own, so ``peak_rss_bytes`` is that
shape's alone (``ru_maxrss`` of the child).

``--quick`` runs the comparison on a batch of 4, counts the N in 4, 8 x levels 1, 4 shapes only,
and skips the 64-slot round and the grid (the full grid compiles and keys 16 circuits and takes
the better part of an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's directory comes first on sys.path and its name shadows the fhe
# package: drop it before importing.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.modules.pop("fhe", None)

import numpy as np  # noqa: E402
from concrete import fhe as concrete_fhe  # noqa: E402

from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks  # noqa: E402
from fhe.radix import GT, compare  # noqa: E402
from fhe.shape import Shape  # noqa: E402

CORES = os.cpu_count() or 1
MAIN = Shape(16, 8, 4)
LARGE = Shape(64, 16, 4)
GRID_SLOTS, GRID_LEVELS = (4, 8, 16, 32), (1, 4, 8, 16)

BASELINE_NOTE = (
    "the circuit before issue 14 (commit 5c6c744), compiled for simulation with the same inputset; "
    "it stopped at 32 slots"
)
BASELINE: dict[str, tuple[int, dict[str, int]]] = {
    # shape id: (bootstraps, per stage) — deterministic, measured once by compiling that circuit.
    "n4-l1-q4": (307, {"unmask": 20, "cap": 44, "eligibility": 4, "curves": 48, "volume": 16, "allocation": 165,
                       "outputs": 10}),
    "n4-l4-q4": (637, {"unmask": 24, "cap": 44, "eligibility": 16, "curves": 192, "volume": 84, "auction": 86,
                       "allocation": 181, "outputs": 10}),
    "n4-l8-q4": (1079, {"unmask": 28, "cap": 44, "eligibility": 32, "curves": 384, "volume": 168, "auction": 211,
                        "allocation": 201, "outputs": 11}),
    "n4-l16-q4": (1983, {"unmask": 28, "cap": 76, "eligibility": 64, "curves": 768, "volume": 336, "auction": 459,
                         "allocation": 241, "outputs": 11}),
    "n8-l1-q4": (684, {"unmask": 40, "cap": 88, "eligibility": 8, "curves": 116, "volume": 19, "allocation": 393,
                       "outputs": 20}),
    "n8-l4-q4": (1276, {"unmask": 48, "cap": 88, "eligibility": 32, "curves": 464, "volume": 100, "auction": 103,
                        "allocation": 421, "outputs": 20}),
    "n8-l8-q4": (2066, {"unmask": 56, "cap": 88, "eligibility": 64, "curves": 928, "volume": 200, "auction": 252,
                        "allocation": 457, "outputs": 21}),
    "n8-l16-q4": (3690, {"unmask": 56, "cap": 152, "eligibility": 128, "curves": 1856, "volume": 400,
                         "auction": 548, "allocation": 529, "outputs": 21}),
    "n16-l1-q4": (1372, {"unmask": 80, "cap": 176, "eligibility": 16, "curves": 212, "volume": 19,
                         "allocation": 833, "outputs": 36}),
    "n16-l4-q4": (2308, {"unmask": 96, "cap": 176, "eligibility": 64, "curves": 848, "volume": 100, "auction": 103,
                         "allocation": 885, "outputs": 36}),
    "n16-l8-q4": (3554, {"unmask": 112, "cap": 176, "eligibility": 128, "curves": 1696, "volume": 200,
                         "auction": 252, "allocation": 953, "outputs": 37}),
    "n16-l16-q4": (6138, {"unmask": 112, "cap": 304, "eligibility": 256, "curves": 3392, "volume": 400,
                          "auction": 548, "allocation": 1089, "outputs": 37}),
    "n32-l1-q4": (2891, {"unmask": 160, "cap": 352, "eligibility": 32, "curves": 448, "volume": 22,
                         "allocation": 1809, "outputs": 68}),
    "n32-l4-q4": (4677, {"unmask": 192, "cap": 352, "eligibility": 128, "curves": 1792, "volume": 116,
                         "auction": 120, "allocation": 1909, "outputs": 68}),
    "n32-l8-q4": (7051, {"unmask": 224, "cap": 352, "eligibility": 256, "curves": 3584, "volume": 232,
                         "auction": 293, "allocation": 2041, "outputs": 69}),
    "n32-l16-q4": (11987, {"unmask": 224, "cap": 608, "eligibility": 512, "curves": 7168, "volume": 464,
                           "auction": 637, "allocation": 2305, "outputs": 69}),
}


def emit(metric: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"metric": metric, "value": value, "unit": unit, **extra}), flush=True)


def _peak_rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _timed_run(circuit: Any, *args: Any, repeat: int = 1) -> float:
    encrypted = circuit.encrypt(*args)
    circuit.run(*encrypted)  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        circuit.run(*encrypted)
    return (time.perf_counter() - start) / repeat


def compare16(batch: int) -> None:
    """Time 16-bit ``a > b``: default compile versus radix-4 digits (8 per operand)."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**16, size=batch)
    b = rng.integers(0, 2**16, size=batch)
    inputs = [(rng.integers(0, 2**16, size=batch), rng.integers(0, 2**16, size=batch)) for _ in range(10)]
    inputs.append((np.full(batch, 2**16 - 1), np.zeros(batch, dtype=np.int64)))
    default = concrete_fhe.Compiler(lambda x, y: x > y, {"x": "encrypted", "y": "encrypted"}).compile(inputs)
    default.keygen()
    default_time = _timed_run(default, a, b) / batch

    def to_digits(v: np.ndarray) -> np.ndarray:
        return np.stack([(v >> (2 * j)) & 3 for j in range(8)], axis=-1)

    radix = concrete_fhe.Compiler(
        lambda x, y: compare(x, y, result=lambda c: 1 if c == GT else 0), {"x": "encrypted", "y": "encrypted"}
    ).compile(
        [(to_digits(x), to_digits(y)) for x, y in inputs],
        concrete_fhe.Configuration(parameter_selection_strategy=concrete_fhe.ParameterSelectionStrategy.MONO),
    )
    radix.keygen()
    assert np.array_equal(radix.encrypt_run_decrypt(to_digits(a), to_digits(b)), (a > b).astype(int))
    radix_time = _timed_run(radix, to_digits(a), to_digits(b)) / batch
    emit("fhe_compare16_default_seconds", default_time, "s/comparison", batch=batch)
    emit("fhe_compare16_radix_seconds", radix_time, "s/comparison", batch=batch,
         bootstraps=radix.programmable_bootstrap_count)
    emit("fhe_compare16_speedup_vs_default", default_time / radix_time, "x", batch=batch)


def _round(shape: Shape, seed: int) -> tuple[Round, list[Order]]:
    rng = random.Random(seed)
    levels = shape.levels
    round_ = Round("BENCH-PERP", Ticks(1000 + levels // 2), Ticks(1000), levels)
    orders = [
        Order(
            OrderId(f"o{i}"),
            rng.choice((Side.BUY, Side.SELL)),
            Ticks(rng.randint(999, 1000 + levels)),
            Lots(rng.randint(1, shape.max_quantity)),
            i,
        )
        for i in range(shape.slots)
    ]
    return round_, orders


def count_bootstraps(shape: Shape) -> dict[str, Any]:
    """Compile ``shape`` for simulation (no cache: the count is of this source); return its counts."""
    from fhe.artifacts import ENCRYPTION, configuration, inputset
    from fhe.circuit import clearing_function

    start = time.perf_counter()
    compiled = concrete_fhe.Compiler(clearing_function(shape), ENCRYPTION).compile(
        inputset(shape), configuration(simulate=True)
    )
    compile_seconds = time.perf_counter() - start
    per_tag = {tag: int(n) for tag, n in compiled.programmable_bootstrap_count_per_tag.items() if "." not in tag}
    return {
        "bootstraps": int(compiled.programmable_bootstrap_count),
        "per_tag": per_tag,
        "compile_seconds": compile_seconds,
        "peak_rss_bytes": _peak_rss_bytes(),
    }


def full_round(shape: Shape, cache: Path) -> dict[str, Any]:
    """Compile, generate keys and clear one full round of ``shape``; return the timings."""
    from darkpool.clearing import clear_reference, dump_result
    from fhe.artifacts import compile_circuit
    from fhe.custodian import Custodian
    from fhe.encoding import encode_order
    from fhe.engine import priority_slots, result_from_fills
    from fhe.operator import Operator, rank_order

    start = time.perf_counter()
    circuit = compile_circuit(shape, simulate=False, cache_dir=cache)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    # A fresh key directory: the keygen time is measured, never a cache hit.
    custodian = Custodian(circuit, key_dir=Path(tempfile.mkdtemp(prefix=f"keys-{shape.id}-", dir=cache)))
    keygen_seconds = time.perf_counter() - start
    operator = Operator(circuit, custodian.evaluation_keys, custodian.key_id)
    round_, orders = _round(shape, seed=shape.slots * 31 + shape.levels)
    round_id = f"bench-{shape.id}"
    operator.begin(round_id, round_, custodian.open_round(round_id))
    slots = priority_slots(orders)
    for slot, index in enumerate(slots):
        operator.submit(encode_order(shape, round_, orders[index], custodian.issue_mask(round_id, slot)))
    start = time.perf_counter()
    request = operator.evaluate(round_id)
    round_seconds = time.perf_counter() - start
    outputs = custodian.decrypt(request)
    level = None if outputs.rank is None else rank_order(round_, shape.levels)[outputs.rank]
    result = result_from_fills(round_, orders, slots, level, outputs.volume_lots, outputs.fills)
    if dump_result(result) != dump_result(clear_reference(round_, orders)):
        raise AssertionError(f"{shape.id}: the encrypted round differs from the reference")
    server = circuit.server
    return {
        "compile_seconds": compile_seconds,
        "keygen_seconds": keygen_seconds,
        "round_seconds": round_seconds,
        "bootstraps": float(server.programmable_bootstrap_count(circuit.function_name)),
        "eval_key_bytes": float(len(custodian.evaluation_keys)),
        "p_error": float(server.p_error),
        "per_tag": {t: int(n) for t, n in server.programmable_bootstrap_count_per_tag(circuit.function_name).items()
                    if "." not in t},
        "peak_rss_bytes": _peak_rss_bytes(),
    }


def in_child(task: str, shape: Shape, cache: Path) -> dict[str, Any]:
    """Run ``task`` for ``shape`` in a fresh interpreter, so its peak memory is its own."""
    command = [sys.executable, os.path.abspath(__file__), "--child", task, shape.id, "--cache-dir", str(cache)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _shape_of(shape_id: str) -> Shape:
    slots, levels, digits = (int(part[1:]) for part in shape_id.split("-"))
    return Shape(slots, levels, digits)


def bootstrap_seconds(p_error: float, batch: int) -> float:
    """Time 4-bit bootstraps with the round circuit's per-bootstrap error rate, per bootstrap.

    ``batch=1`` is the latency of one bootstrap alone (one circuit call); a large batch gives
    the throughput of all cores, per bootstrap.
    """
    table = concrete_fhe.LookupTable([(7 * i + 3) % 16 for i in range(16)])
    rng = np.random.default_rng(1)
    circuit = concrete_fhe.Compiler(lambda x, y: table[x + y], {"x": "encrypted", "y": "encrypted"}).compile(
        [(rng.integers(0, 8, size=batch), rng.integers(0, 8, size=batch)) for _ in range(8)],
        concrete_fhe.Configuration(
            p_error=p_error, global_p_error=None,
            parameter_selection_strategy=concrete_fhe.ParameterSelectionStrategy.MONO,
        ),
    )
    circuit.keygen()
    x, y = rng.integers(0, 8, size=batch), rng.integers(0, 8, size=batch)
    return _timed_run(circuit, x, y, repeat=20 if batch == 1 else 3) / batch


def bootstrap_counts(quick: bool, cache: Path) -> None:
    """Emit ``fhe_round_bootstraps`` per shape, with the per-stage counts and the baseline's."""
    slots = (4, 8) if quick else GRID_SLOTS
    levels = (1, 4) if quick else GRID_LEVELS
    # The main shape's count comes with its real round.
    shapes = [Shape(n, level_count, 4) for n in slots for level_count in levels if Shape(n, level_count, 4) != MAIN]
    if not quick:
        shapes += [Shape(LARGE.slots, level_count, 4) for level_count in GRID_LEVELS]
    for shape in shapes:
        counts = in_child("count", shape, cache)
        extra: dict[str, Any] = {"per_tag": counts["per_tag"]}
        if shape.id in BASELINE:
            total, per_tag = BASELINE[shape.id]
            extra |= {"baseline": total, "baseline_per_tag": per_tag, "baseline_note": BASELINE_NOTE}
        emit("fhe_round_bootstraps", counts["bootstraps"], "bootstraps", shape=shape.id, **extra,
             compile_seconds=round(counts["compile_seconds"], 1), peak_rss_bytes=counts["peak_rss_bytes"],
             simulated=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small comparison batch, 2x2 counts, no large round")
    parser.add_argument("--skip-compare", action="store_true", help="skip the 16-bit comparison baseline")
    parser.add_argument("--skip-counts", action="store_true", help="skip the per-shape bootstrap counts")
    parser.add_argument("--skip-large", action="store_true", help="skip the real 64-slot round")
    parser.add_argument("--skip-grid", action="store_true", help="skip the N x levels grid of real rounds")
    parser.add_argument("--grid-only", action="store_true", help="only the N x levels grid")
    parser.add_argument("--cache-dir", type=Path, default=None, help="circuit and key cache (default: temporary)")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="darkpool-fhe-bench-"))

    if args.child:
        task, shape = args.child[0], _shape_of(args.child[1])
        result = count_bootstraps(shape) if task == "count" else full_round(shape, cache)
        print(json.dumps(result), flush=True)
        return
    if args.grid_only:
        grid(args.quick, cache, None)
        return
    if not args.skip_compare:
        compare16(4 if args.quick else 16)
    if not args.skip_counts:
        bootstrap_counts(args.quick, cache)
    result = in_child("round", MAIN, cache)
    baseline, baseline_per_tag = BASELINE[MAIN.id]
    emit("fhe_round_seconds", result["round_seconds"], "s", shape=MAIN.id, bootstraps=result["bootstraps"],
         peak_rss_bytes=result["peak_rss_bytes"])
    emit("fhe_round_bootstraps", result["bootstraps"], "bootstraps", shape=MAIN.id, per_tag=result["per_tag"],
         baseline=baseline, baseline_per_tag=baseline_per_tag, baseline_note=BASELINE_NOTE, simulated=False)
    emit("fhe_keygen_seconds", result["keygen_seconds"], "s", shape=MAIN.id)
    emit("fhe_eval_key_bytes", result["eval_key_bytes"], "bytes", shape=MAIN.id)
    emit("fhe_compile_seconds", result["compile_seconds"], "s", shape=MAIN.id)
    latency = bootstrap_seconds(result["p_error"], batch=1)
    floor = result["bootstraps"] * latency / CORES
    emit("fhe_bootstrap_seconds", latency, "s", precision_bits=4, p_error=result["p_error"])
    emit("fhe_bootstrap_floor_ratio", result["round_seconds"] / floor, "ratio", cores=CORES)
    # Stricter: the per-bootstrap time of a batch of 256 already spreads over every core.
    batched = bootstrap_seconds(result["p_error"], batch=256)
    emit("fhe_bootstrap_batched_seconds", batched, "s", precision_bits=4, batch=256)
    emit("fhe_bootstrap_floor_ratio_batched", result["round_seconds"] / (result["bootstraps"] * batched), "ratio")

    if not (args.quick or args.skip_large):
        large = in_child("round", LARGE, cache)
        emit("fhe_round_seconds_large", large["round_seconds"], "s", shape=LARGE.id, bootstraps=large["bootstraps"],
             compile_seconds=round(large["compile_seconds"], 1), keygen_seconds=round(large["keygen_seconds"], 1),
             eval_key_bytes=large["eval_key_bytes"], peak_rss_bytes=large["peak_rss_bytes"],
             floor_ratio_batched=large["round_seconds"] / (large["bootstraps"] * batched))
    if not args.skip_grid:
        grid(args.quick, cache, result)


def grid(quick: bool, cache: Path, main_result: dict[str, Any] | None) -> None:
    """Emit the round time of every N x levels shape (8-bit lots), smallest first."""
    slots = (4, 8) if quick else GRID_SLOTS
    levels = (1, 4) if quick else GRID_LEVELS
    for n in slots:
        for level_count in levels:
            shape = Shape(n, level_count, 4)
            timing = main_result if shape == MAIN and main_result else in_child("round", shape, cache)
            emit("fhe_round_seconds_grid", timing["round_seconds"], "s", slots=n, levels=level_count,
                 bootstraps=timing["bootstraps"], keygen_seconds=timing["keygen_seconds"],
                 eval_key_bytes=timing["eval_key_bytes"], peak_rss_bytes=timing["peak_rss_bytes"])


if __name__ == "__main__":
    main()
