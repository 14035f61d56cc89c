"""Credit the vault's ``Deposited`` events to the operator's books, in deposit-id order."""

from __future__ import annotations

from darkpool.operator.core import OperatorCore

__all__ = ["sync_deposits"]


def sync_deposits(core: OperatorCore) -> int:
    """Credit every deposit event not yet credited; return how many were credited."""
    settler = core.require_settler()
    deposits = getattr(settler, "deposits", None)
    if deposits is None:
        return 0
    credited = 0
    pending = []
    for deposit_id, holder, amount in sorted(deposits()):
        appended = core.credit_deposit(deposit_id, holder, amount)
        if appended is not None:
            pending.append(appended)
            credited += 1
    for appended in pending:
        appended.wait()
    return credited
