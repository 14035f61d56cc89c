"""Apply journal entries to the operator core: the one code path of live requests and of replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from darkpool.domain import Account, BaseUnits, Fill, Lots, OrderId, Round, Side, Ticks
from darkpool.ledger import Deposit, JournalEntry, Withdrawal
from darkpool.operator.rounds import Committed, Mode, Phase, Revealed, RoundState
from darkpool.signing import signed_from_wire

if TYPE_CHECKING:
    from darkpool.operator.core import OperatorCore

__all__ = ["apply_fills", "register"]


def register(core: OperatorCore) -> None:
    """Register the handlers of every entry kind on ``core``."""

    def deposit(p: dict[str, Any], _: JournalEntry) -> None:
        who = Account(p["account"])
        core.books.credit(Deposit(p["deposit_id"], who, BaseUnits(p["amount"])))
        core.margin.deposit(who, p["amount"])

    def mark(p: dict[str, Any], _: JournalEntry) -> None:
        core.margin.set_mark(p["underlying"], p["price"], p["at"])
        core.marks[p["underlying"]] = {"price": p["price"], "at": p["at"]}

    def round_open(p: dict[str, Any], _: JournalEntry) -> None:
        mode = Mode(p["mode"])
        core.rounds[p["round_id"]] = RoundState(
            p["round_id"], mode, Round(p["instrument"], Ticks(p["reference_ticks"]), Ticks(p["band_low_ticks"]),
                                       p["levels"]),
            p["at"], Phase.COMMIT if mode is Mode.COMMIT_REVEAL else Phase.OPEN, slot_count=p["slot_count"],
            fhe=p.get("fhe") or {})

    def withdraw(p: dict[str, Any], _: JournalEntry) -> None:
        message = signed_from_wire(p["signed"]).message
        who = Account(message.signer.lower())
        core.verifier.nonces.spend(who, message.message_nonce)
        amount = int(getattr(message, "amount"))  # noqa: B009 - a WithdrawalRequest
        core.margin.withdraw(who, amount, p["at"])
        core.books.debit(Withdrawal(p["withdrawal_id"], who, BaseUnits(amount)))

    def commit(p: dict[str, Any], entry: JournalEntry) -> None:
        # The journal holds only checked messages, so read the fields without re-parsing (hot path).
        m = p["signed"]["message"]
        who, nonce, bond = Account(m["account"].lower()), m["nonce"], m["bond"]
        core.verifier.nonces.spend(who, nonce)
        state = core.rounds[p["round_id"]]
        state.commitments[(who, nonce)] = Committed(who, nonce, bytes.fromhex(m["commitment"][2:]), bond, entry.seq)
        if bond:
            core.locked_bonds[who] = core.locked_bonds.get(who, 0) + bond

    def seal(p: dict[str, Any], _: JournalEntry) -> None:
        state = core.rounds[p["round_id"]]
        state.commitments_root = p["commitments_root"]
        state.phase = Phase.REVEAL

    def reveal(p: dict[str, Any], entry: JournalEntry) -> None:
        state = core.rounds[p["round_id"]]
        who = Account(p["account"])
        state.reveals[(who, p["nonce"])] = Revealed(who, p["nonce"], p["side"], p["limit_ticks"],
                                                    p["quantity_lots"], entry.seq)

    def clear(p: dict[str, Any], _: JournalEntry) -> None:
        state = core.rounds[p["round_id"]]
        for f in p["forfeits"]:
            who = Account(f["account"])
            core.margin.charge(who, f["bond"])
            core.forfeited[who] = core.forfeited.get(who, 0) + f["bond"]
        state.result = p["result"]
        state.published = {"document": p["document"], "requested": p["requested"], "result": p["result"],
                           "forfeits": p["forfeits"], "commitments_root": state.commitments_root}
        state.phase = Phase.CLEARED
        for c in state.commitments.values():
            if c.bond:
                core.locked_bonds[c.account] -= c.bond
        apply_fills(core, [_fill(state, f) for f in p["fills"]], p["at"])

    def batch(p: dict[str, Any], _: JournalEntry) -> None:
        core.books.assign_batch(p["batch_id"])
        core.batches.append(p)
        core._fills_batched = p["fills_end"]

    def slot(p: dict[str, Any], _: JournalEntry) -> None:
        m = p["signed"]["message"]
        core.verifier.nonces.spend(Account(m["account"].lower()), m["nonce"])
        core.rounds[p["round_id"]].slots[p["slot"]] = Account(p["account"])

    def fhe_order(p: dict[str, Any], entry: JournalEntry) -> None:
        m = p["signed"]["message"]
        core.verifier.nonces.spend(Account(m["account"].lower()), m["nonce"])
        core.rounds[p["round_id"]].masked[p["slot"]] = {
            "sealed": m["masked_digits"].removeprefix("sealed:"), "side_commitment": m["side_commitment"],
            "seq": entry.seq}

    def fhe_result(p: dict[str, Any], _: JournalEntry) -> None:
        state = core.rounds[p["round_id"]]
        state.result = p["result"]
        state.pending_sides = {int(k): v for k, v in p["slot_fills"].items()}
        state.phase = Phase.EVALUATED if state.pending_sides else Phase.CLEARED
        state.published = {"result": p["result"], "transcript_hash": p["transcript_hash"], "caps": p["caps"],
                           "circuit_id": state.fhe.get("circuit_id"), "masks_digest": state.fhe.get("masks_digest"),
                           "fill_sides": {}}

    def fill_side(p: dict[str, Any], _: JournalEntry) -> None:
        from darkpool.operator.rounds_fhe import fill_records

        state = core.rounds[p["round_id"]]
        apply_fills(core, fill_records(state, p["slot"], Side(p["side"])), p["at"])
        del state.pending_sides[p["slot"]]
        assert state.published is not None
        state.published["fill_sides"][str(p["slot"])] = p["side"]
        if not state.pending_sides:
            state.phase = Phase.CLEARED

    for kind, handler in {"slot": slot, "fhe_order": fhe_order, "fhe_result": fhe_result, "fill_side": fill_side,
                          "deposit": deposit, "mark": mark, "round_open": round_open, "withdraw": withdraw,
                          "commit": commit, "seal": seal, "reveal": reveal, "clear": clear,
                          "batch": batch}.items():
        core.register(kind, handler)


def _fill(state: RoundState, f: dict[str, Any]) -> Fill:
    """The fill of a journaled ``clear`` entry (``{account, order_id, side, quantity_lots, price_ticks}``)."""
    return Fill(state.round_id, OrderId(f["order_id"]), Account(f["account"]), state.round.instrument, Side(f["side"]),
                Lots(f["quantity_lots"]), Ticks(f["price_ticks"]))


def apply_fills(core: OperatorCore, fills: list[Fill], at: int) -> None:
    """Register ``fills`` in the books and apply them to the margin engine, the owner of cash and positions."""
    if fills:
        core.margin.apply_fills(fills, at)  # raises before any fill lands (stale mark), so books stay in step
    for fill in fills:
        core.books.record_fill(fill)
