"""``clear_fhe``: one round through custodian, clients and operator, in process.

This is what ``darkpool clear --engine fhe`` runs. The three parties are separate objects that
only exchange what the protocol lets them (``Enc(R)``, one mask per client, masked digits, the
decryption request and the decrypted outputs); here they simply live in one process.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from darkpool.domain import Lots, Order, OrderId, Round, RoundResult, Ticks
from darkpool.errors import InconsistentOutputs, ShapeError
from fhe.artifacts import CompiledCircuit, cache_root, compile_circuit
from fhe.custodian import Custodian
from fhe.encoding import encode_order
from fhe.operator import Operator, rank_order
from fhe.shape import Shape, choose_shape

__all__ = ["clear_fhe", "priority_slots", "result_from_fills", "run_round"]

_CIRCUITS: dict[tuple[Shape, bool, Path], CompiledCircuit] = {}
_CUSTODIANS: dict[tuple[Shape, bool, Path], Custodian] = {}


def priority_slots(orders: Sequence[Order]) -> list[int]:
    """Return input indices in slot order: ascending priority, input order breaking ties."""
    return sorted(range(len(orders)), key=lambda i: (orders[i].priority, i))


def clear_fhe(
    round_: Round,
    orders: Sequence[Order],
    *,
    simulate: bool = False,
    caps: Mapping[OrderId, int] | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> RoundResult:
    """Clear one round with the FHE engine; the result equals :func:`clear_reference`'s.

    ``caps`` gives per-order margin caps, applied inside the circuit as ``min(quantity, cap)``.
    Raise :class:`ShapeError` when the round exceeds every supported shape (32 orders,
    16 levels, 255 lots).
    """
    return run_round(round_, orders, simulate=simulate, caps=caps, cache_dir=cache_dir, progress=progress)


def run_round(
    round_: Round,
    orders: Sequence[Order],
    *,
    shape: Shape | None = None,
    simulate: bool = False,
    caps: Mapping[OrderId, int] | None = None,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> RoundResult:
    """Clear one round on ``shape`` (default: the smallest standard shape that fits)."""
    if caps is not None:
        unknown = sorted(set(caps) - {o.id for o in orders})
        if unknown:
            raise ShapeError(f"caps name unknown order ids: {', '.join(unknown)}")
    fitting = choose_shape(len(orders), round_.levels, [o.quantity_lots for o in orders])
    if shape is None:
        shape = fitting
    elif not (
        shape.slots >= len(orders)
        and shape.levels >= round_.levels
        and shape.max_quantity >= max((o.quantity_lots for o in orders), default=1)
    ):
        raise ShapeError(f"round does not fit shape {shape.id}")
    step = _progress_step if progress else None
    circuit, custodian = _parties(shape, simulate=simulate, cache_dir=cache_dir, step=step)
    operator = Operator(circuit, custodian.evaluation_keys, custodian.key_id)

    round_id = f"{round_.instrument}/{uuid.uuid4()}"
    operator.begin(round_id, round_, custodian.open_round(round_id))
    slots = priority_slots(orders)
    for slot, index in enumerate(slots):
        order = orders[index]
        mask = custodian.issue_mask(round_id, slot)  # to this client only
        masked = encode_order(shape, round_, order, mask)  # on the client
        cap = None if caps is None or order.id not in caps else caps[order.id]
        operator.submit(masked, cap=cap)
    with (step or _no_step)(f"evaluating {len(orders)} orders on {shape.id}"):
        request = operator.evaluate(round_id)
    outputs = custodian.decrypt(request)
    level = None if outputs.rank is None else rank_order(round_, shape.levels)[outputs.rank]
    if level is not None and level >= round_.levels:
        # Only clients encoding thresholds outside the band can make a padding level win.
        raise InconsistentOutputs(f"the winning level {level} lies outside the round's band")
    for slot, index in enumerate(slots):
        if outputs.fills[slot] and outputs.sides[slot] is not orders[index].side:
            raise InconsistentOutputs(f"slot {slot} decrypts as a {outputs.sides[slot]} fill of a {orders[index].side}")
    return result_from_fills(round_, orders, slots, level, outputs.volume_lots, outputs.fills)


def result_from_fills(
    round_: Round,
    orders: Sequence[Order],
    slots: Sequence[int],
    level: int | None,
    volume: int,
    fills: Sequence[int],
) -> RoundResult:
    """Map slot fills back to order ids (in input order) and the level to its price."""
    by_index = {index: fills[slot] for slot, index in enumerate(slots)}
    price = None if level is None else Ticks(round_.price_at(level))
    return RoundResult(
        price_ticks=price,
        volume_lots=Lots(volume),
        fills={o.id: Lots(by_index[i]) for i, o in enumerate(orders)},
    )


def _parties(
    shape: Shape,
    *,
    simulate: bool,
    cache_dir: Path | None,
    step: Callable[[str], AbstractContextManager[None]] | None,
) -> tuple[CompiledCircuit, Custodian]:
    key = (shape, simulate, cache_root(cache_dir))
    circuit = _CIRCUITS.get(key)
    if circuit is None:
        circuit = compile_circuit(shape, simulate=simulate, cache_dir=cache_dir, progress=step)
        _CIRCUITS[key] = circuit
    custodian = _CUSTODIANS.get(key)
    if custodian is None:
        custodian = Custodian(circuit, progress=step)
        _CUSTODIANS[key] = custodian
    return circuit, custodian


@contextmanager
def _no_step(_: str) -> Iterator[None]:
    yield


@contextmanager
def _progress_step(description: str) -> Iterator[None]:
    """Show a rich spinner with elapsed time while a long step runs (on stderr)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=1)
        yield
        bar.update(task, completed=1)
