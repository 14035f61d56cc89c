"""Small fixed rounds and a helper that plays one round through the three parties by hand."""

from __future__ import annotations

from collections.abc import Sequence

from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from fhe.custodian import Custodian
from fhe.encoding import encode_order
from fhe.engine import priority_slots
from fhe.operator import Operator
from fhe.transcript import DecryptionRequest

ROUND = Round("ETH-PERP", Ticks(1001), Ticks(1000), 4)
ORDERS = [
    Order(OrderId("b1"), Side.BUY, Ticks(1003), Lots(3), 1),
    Order(OrderId("s1"), Side.SELL, Ticks(999), Lots(2), 2),
    Order(OrderId("b2"), Side.BUY, Ticks(1001), Lots(2), 0),
    Order(OrderId("s2"), Side.SELL, Ticks(1002), Lots(3), 3),
]


def play(
    custodian: Custodian, operator: Operator, round_id: str, round_: Round = ROUND, orders: Sequence[Order] = ORDERS
) -> DecryptionRequest:
    """Open, fill and evaluate one round; return the operator's decryption request."""
    operator.begin(round_id, round_, custodian.open_round(round_id))
    for slot, index in enumerate(priority_slots(orders)):
        mask = custodian.issue_mask(round_id, slot)
        operator.submit(encode_order(operator.shape, round_, orders[index], mask))
    return operator.evaluate(round_id)
