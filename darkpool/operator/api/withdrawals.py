"""Withdrawals: signed requests, debited now and paid once a batch that commits them is final."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from darkpool.errors import NotFound
from darkpool.operator.api.deps import Core, parse_limited
from darkpool.operator.api.schemas import WithdrawalAck, WithdrawalView
from darkpool.signing import WithdrawalRequest
from darkpool.web.http import ack
from darkpool.web.schemas import SignedEnvelope

router = APIRouter(prefix="/withdrawals", tags=["withdrawals"])
_log = logging.getLogger("darkpool.operator")


@router.post("", status_code=202)
async def request_withdrawal(body: SignedEnvelope, core: Core, request: Request) -> WithdrawalAck:
    """Debit a signed withdrawal request from the account's free balance."""
    signed = parse_limited(body.model_dump(), WithdrawalRequest, request)
    appended, withdrawal_id = core.request_withdrawal(signed)
    done = await ack(appended)
    _log.info("withdrawal requested", extra={"account": signed.message.account,  # type: ignore[attr-defined]
                                             "withdrawal_id": withdrawal_id, "seq": done.seq})
    return WithdrawalAck(seq=done.seq, head=done.head, withdrawal_id=withdrawal_id)


@router.get("/{withdrawal_id}")
async def get_withdrawal(withdrawal_id: int, core: Core) -> WithdrawalView:
    """Show a withdrawal, the batch that committed it (null until one has) and whether that batch is final."""
    for w in core.books.withdrawals:
        if w.withdrawal_id == withdrawal_id:
            final = getattr(core.settler, "batch_final", None)
            claimable = bool(w.batch_id is not None and final is not None
                             and await run_in_threadpool(final, w.batch_id))
            return WithdrawalView(withdrawal_id=w.withdrawal_id, account=w.account, amount=w.amount,
                                  batch_id=w.batch_id, claimable=claimable)
    raise NotFound(f"no withdrawal {withdrawal_id}")
