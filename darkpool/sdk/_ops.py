"""The SDK's operations, written once as generators that yield HTTP calls and receive decoded JSON.

The sync and async clients drive the same generators, so both behave identically. Operations that
need no network (signing, salts, proof checks) run inside them; an operation that waits yields a
:class:`Pause` and its driver sleeps the way it knows (``time.sleep`` or ``asyncio.sleep``).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from commit_reveal import CommitmentScheme, Reveal, Salt
from darkpool.crypto.boxes import BoxKey, SealedBox
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks, account
from darkpool.errors import ForeignKey, InvalidSignature, ValidationError
from darkpool.sdk._keys import Identity
from darkpool.sdk._verify import verify_batches
from darkpool.signing import (
    AccountRead,
    Commitment,
    FheOrder,
    MaskDelivery,
    MaskRequest,
    Signed,
    SigningDomain,
    SlotReservation,
    WithdrawalRequest,
    digits_commitment,
    signed_from_wire,
    signed_to_wire,
    statement_signer,
)
from darkpool.signing.statements import mask_box_context

if TYPE_CHECKING:
    from darkpool.settlement import CommittedBatch

__all__ = ["Call", "CommitTicket", "FheTicket", "Op", "Ops", "Pause"]


@dataclass(frozen=True)
class Call:
    """One HTTP request: method, path, JSON body, whether it needs the admin token, which service."""

    method: str
    path: str
    json: Any = None
    admin: bool = False
    service: str = "operator"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` before the next call (the driver sleeps; the operation reads no clock)."""

    seconds: float


Op = Generator[Call | Pause, Any, Any]

READ_HEADER = "X-Darkpool-Read"
"""The header an account's signed read travels in (the operator's ``deps.READ_HEADER``)."""
READ_LIFETIME_S = 60


@dataclass(frozen=True)
class CommitTicket:
    """What a client keeps between commit and reveal: the order and its secret salt."""

    round_id: int
    instrument: str
    nonce: int
    side: Side
    limit_ticks: int
    quantity_lots: int
    salt: bytes
    bond: int

    def reveal_body(self, holder: str) -> dict[str, Any]:
        return {"account": holder, "nonce": self.nonce, "side": int(self.side), "limit_ticks": self.limit_ticks,
                "quantity_lots": self.quantity_lots, "salt": "0x" + self.salt.hex()}


@dataclass(frozen=True)
class FheTicket:
    """What a client keeps after an FHE order: its round, slot and side (the fill books without it)."""

    round_id: int
    slot: int
    side: Side


@dataclass
class Ops:
    """Operations of one institution; ``clock`` gives POSIX seconds for expiries."""

    identity: Identity | None
    clock: Callable[[], float] = time.time
    expiry_s: int = 3600
    nonce_source: Callable[[], int] = field(default=lambda: secrets.randbits(62))
    domain: SigningDomain | None = None
    token: str | None = None
    custodian_address: str | None = None
    """The custodian's mask-signing address, pinned; else the one the operator announces for the round
    (which must equal what the custodian itself says)."""

    @property
    def me(self) -> Identity:
        if self.identity is None:
            raise ValidationError("this client has no key; create or load one")
        return self.identity

    def _expiry(self) -> int:
        return int(self.clock()) + self.expiry_s

    def info(self) -> Op:
        data = yield Call("GET", "/info")
        self.domain = SigningDomain(data["chain_id"], data["verifying_contract"])
        self.token = data["token"]
        return data

    def _domain(self) -> Op:
        if self.domain is None:
            yield from self.info()
        assert self.domain is not None
        return self.domain

    def get(self, path: str) -> Op:
        return (yield Call("GET", path))

    def admin(self, method: str, path: str, body: Any = None) -> Op:
        """Call an operator-only endpoint (the client adds its admin token)."""
        return (yield Call(method, path, body, admin=True))

    # -- reads of this account (the paths in one place) ------------------------------------------
    def _read(self, what: str) -> Op:
        """Read this account's ``what`` under a fresh signed ``AccountRead`` (post-trade data is private)."""
        domain = yield from self._domain()
        grant = AccountRead(account=self.me.address, expiry=int(self.clock()) + READ_LIFETIME_S)
        header = json.dumps(signed_to_wire(self.me.sign(grant, domain)), separators=(",", ":"))
        return (yield Call("GET", f"/accounts/{self.me.address}/{what}", headers=((READ_HEADER, header),)))

    def balance(self) -> Op:
        return (yield from self._read("balance"))

    def positions(self) -> Op:
        return (yield from self._read("positions"))

    def fills(self) -> Op:
        return (yield from self._read("fills"))

    def margin(self) -> Op:
        return (yield from self._read("margin"))

    def proofs(self) -> Op:
        return (yield from self._read("proofs"))

    def withdrawal(self, withdrawal_id: int) -> Op:
        return (yield Call("GET", f"/withdrawals/{withdrawal_id}"))

    # -- rounds ----------------------------------------------------------------------------------
    def rounds(self) -> Op:
        return (yield Call("GET", "/rounds"))

    def round(self, round_id: int) -> Op:
        return (yield Call("GET", f"/rounds/{round_id}"))

    def follow(self, round_id: int, phase: str = "cleared", timeout_s: float = 600.0, poll_s: float = 0.2) -> Op:
        """Poll the round every ``poll_s`` until it reaches ``phase``; return it, or raise ``TimeoutError``."""
        if poll_s <= 0 or timeout_s < 0:
            raise ValidationError(f"poll_s must be positive and timeout_s not negative, got {poll_s}, {timeout_s}")
        for _ in range(int(timeout_s / poll_s) + 1):
            state = yield from self.round(round_id)
            if state["phase"] == phase:
                return state
            yield Pause(poll_s)
        raise TimeoutError(f"round {round_id} did not reach {phase} in {timeout_s}s")

    def commit_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int, quantity_lots: int,
                     bond: int = 0) -> Op:
        """Sign and send a commitment; return the :class:`CommitTicket` to reveal later."""
        domain = yield from self._domain()
        nonce = self.nonce_source()
        salt = secrets.token_bytes(32)
        digest = CommitmentScheme(instrument, round_id).commitment(
            Reveal(account(self.me.address), nonce, side, Ticks(limit_ticks), Lots(quantity_lots), Salt(salt)))
        message = Commitment(account=self.me.address, instrument=instrument, round_id=round_id, commitment=digest,
                             bond=bond, nonce=nonce, expiry=self._expiry())
        yield Call("POST", f"/rounds/{round_id}/commitments", signed_to_wire(self.me.sign(message, domain)))
        return CommitTicket(round_id, instrument, nonce, side, limit_ticks, quantity_lots, salt, bond)

    def commit_orders(self, round_id: int, instrument: str,
                      orders: Sequence[tuple[Side, int, int, int]]) -> Op:
        """Sign ``(side, limit_ticks, quantity_lots, bond)`` commitments and send them in one batch request.

        Return ``(tickets, refused)``: a :class:`CommitTicket` per accepted order (``None`` where the
        operator refused it) and the refusals by index (``{"index", "code", "message"}``).
        """
        domain = yield from self._domain()
        scheme = CommitmentScheme(instrument, round_id)
        tickets: list[CommitTicket] = []
        wire = []
        for side, limit_ticks, quantity_lots, bond in orders:
            nonce, salt = self.nonce_source(), secrets.token_bytes(32)
            digest = scheme.commitment(Reveal(account(self.me.address), nonce, side, Ticks(limit_ticks),
                                              Lots(quantity_lots), Salt(salt)))
            message = Commitment(account=self.me.address, instrument=instrument, round_id=round_id,
                                 commitment=digest, bond=bond, nonce=nonce, expiry=self._expiry())
            wire.append(signed_to_wire(self.me.sign(message, domain)))
            tickets.append(CommitTicket(round_id, instrument, nonce, side, limit_ticks, quantity_lots, salt, bond))
        answer = yield Call("POST", f"/rounds/{round_id}/commitments/batch", {"commitments": wire})
        refused = list(answer["refused"])
        dropped = {int(r["index"]) for r in refused}
        return [None if i in dropped else t for i, t in enumerate(tickets)], refused

    def fhe_order(self, round_id: int, instrument: str, side: Side, limit_ticks: int, quantity_lots: int) -> Op:
        """Reserve a slot, fetch its mask from the custodian, mask the order's digits and submit them."""
        from fhe.encoding import SlotMask, mask_digits, order_digits
        from fhe.shape import Shape

        domain = yield from self._domain()
        me = self.me.address
        reservation = self.me.sign(SlotReservation(account=me, instrument=instrument, round_id=round_id,
                                                   nonce=self.nonce_source(), expiry=self._expiry()), domain)
        reserved = yield Call("POST", f"/rounds/{round_id}/slots", signed_to_wire(reservation))
        slot, info = int(reserved["slot"]), reserved["fhe"]
        view = yield Call("GET", f"/rounds/{round_id}")
        digits = yield from self._mask(domain, round_id, slot, reservation, reserved["grant"], info)
        shape = Shape(info["slots"], info["levels"], info["quantity_digits"])
        round_ = Round(instrument, Ticks(view["reference_ticks"]), Ticks(view["band_low_ticks"]), view["levels"])
        plain = order_digits(shape, round_, Order(OrderId("own"), side, Ticks(limit_ticks), Lots(quantity_lots), 0))
        masked = mask_digits(plain, SlotMask(str(round_id), slot, digits))
        digits_salt = secrets.token_bytes(32)
        # Only hiding commitments are signed: the masked digits travel to the operator beside them.
        order = FheOrder(account=me, instrument=instrument, round_id=round_id, slot=slot,
                         digits_commitment=digits_commitment(bytes(masked), digits_salt),
                         reference_ticks=round_.reference_ticks, band_low_ticks=round_.band_low_ticks,
                         levels=round_.levels, circuit_id=str(info["circuit_id"]), nonce=self.nonce_source(),
                         expiry=self._expiry())
        yield Call("POST", f"/rounds/{round_id}/orders", {
            "order": signed_to_wire(self.me.sign(order, domain)), "masked_digits": "0x" + bytes(masked).hex(),
            "digits_salt": "0x" + digits_salt.hex()})
        return FheTicket(round_id, slot, side)

    def _mask(self, domain: SigningDomain, round_id: int, slot: int, reservation: Signed, grant: Any,
              info: dict[str, Any]) -> Op:
        """Fetch the slot's mask from the custodian, sealed to a fresh key; check who signed it; open it."""
        identity = yield Call("GET", "/identity", service="custodian")
        announced = self.custodian_address or info.get("custodian") or ""
        if not announced or account(identity["address"]) != account(announced):
            raise ForeignKey(f"the custodian signs as {identity['address']}, but the round names {announced!r}")
        custodian = account(announced)
        key = BoxKey()
        request = self.me.sign(MaskRequest(account=self.me.address, round_id=round_id, slot=slot, box_key=key.public,
                                           nonce=self.nonce_source(), expiry=self._expiry()), domain)
        answer = yield Call("POST", f"/rounds/{round_id}/mask", {
            "request": signed_to_wire(request), "reservation": signed_to_wire(reservation), "grant": grant},
            service="custodian")
        delivery = signed_from_wire(answer["delivery"], MaskDelivery)
        box = SealedBox.from_wire(answer["box"])
        said = delivery.message
        assert isinstance(said, MaskDelivery)
        if statement_signer(delivery, domain) != custodian:
            raise InvalidSignature(f"the mask delivery is not signed by the custodian {custodian}")
        expected = (account(self.me.address), round_id, slot, request.message.digest(domain), box.digest)
        if (account(said.account), said.round_id, said.slot, said.request, said.box) != expected:
            raise InvalidSignature("the custodian's signed delivery is for another request or another box")
        digits = key.open(box, mask_box_context(domain, round_id, slot, self.me.address))
        return tuple(int(d) for d in digits)

    def reveal(self, ticket: CommitTicket) -> Op:
        return (yield Call("POST", f"/rounds/{ticket.round_id}/reveals", ticket.reveal_body(self.me.address)))

    def withdraw(self, amount: int) -> Op:
        """Sign a withdrawal request; return its withdrawal id."""
        domain = yield from self._domain()
        assert self.token is not None
        message = WithdrawalRequest(account=self.me.address, token=self.token, amount=amount,
                                    nonce=self.nonce_source(), expiry=self._expiry())
        ack = yield Call("POST", "/withdrawals", signed_to_wire(self.me.sign(message, domain)))
        return int(ack["withdrawal_id"])

    def verify_inclusion(self, chain_batches: Sequence[CommittedBatch] | None = None) -> Op:
        """Check this account's proofs in every batch against the roots (and the chain's, when given)."""
        proofs = yield from self.proofs()
        my_fills = yield from self.fills()
        return verify_batches(self.me.address, proofs, my_fills, chain_batches)
