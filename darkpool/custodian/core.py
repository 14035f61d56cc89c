"""The custodian service's state: one ``fhe.custodian.Custodian`` per circuit shape, slot owners, one log.

The only module of the services that imports :mod:`fhe` on the custodian side. It never
receives order digits: only round shapes (from the operator), signed mask requests with the
client's own signed slot reservation and the operator's signed grant (from clients) and
decryption requests (from the operator). A mask leaves sealed to the requesting client's X25519
key and signed with the custodian's own key (:mod:`darkpool.crypto.boxes`), so a relay or an
observer of the path learns nothing and cannot substitute a mask.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from darkpool.crypto.boxes import seal_to
from darkpool.crypto.sealing import Sealer, check_private_tree, load_or_create_key, restrict_tree
from darkpool.crypto.secp256k1 import address_of
from darkpool.custodian.announcements import AnnouncedRounds
from darkpool.custodian.records import (
    DecryptedRound,
    DoubleGrant,
    IssuedMask,
    LogRecord,
    OpenedRound,
    Refusal,
    ShapeKey,
)
from darkpool.custodian.store import RoundRecord, RoundStore
from darkpool.domain import Account, account
from darkpool.errors import (
    CustodianHalted,
    EvaluationMismatch,
    InvalidAttestation,
    MaskReuse,
    MissingAttestation,
    NotFound,
    PolicyViolation,
    ReplayedDecryption,
    RoundAborted,
    RoundIdTaken,
    UnannouncedRound,
    ValidationError,
)
from darkpool.signing import (
    MaskDelivery,
    MaskRequest,
    Signed,
    SigningDomain,
    SlotGrant,
    SlotReservation,
    Verifier,
    sign,
    signed_from_wire,
    signed_to_wire,
    statement_signer,
)
from darkpool.signing.statements import EvaluationAttested, caps_digest, mask_box_context, outputs_digest

__all__ = ["CustodianCore", "DecryptedRound", "DoubleGrant", "IssuedMask", "LogRecord", "OpenedRound", "Refusal"]

_log = logging.getLogger("darkpool.custodian")

MAX_GROUPS = 16


@dataclass
class _Round:
    shape_key: ShapeKey
    epoch: int
    opened: OpenedRound
    operator: Account
    grants: dict[int, Signed] = field(default_factory=dict)
    digits: dict[int, bytes] = field(default_factory=dict)
    decrypted: bool = False
    aborted: str = ""


class CustodianCore:
    """Masks, slot owners and decryptions across rounds of any shape."""

    def __init__(self, domain: SigningDomain, clock: Callable[[], int], key_dir: Path, log_path: Path,
                 cache_dir: Path | None, simulate: bool, signing_key: bytes,
                 verifiers: tuple[str, ...] = (), verifier_quorum: int = 1, halt_after_void_rounds: int = 1,
                 epoch_rounds: int = 0, announcements: AnnouncedRounds | None = None) -> None:
        # Import concrete here, on the thread that builds the app: its tracing keeps a thread-local
        # tag stack that only the importing thread gets, and circuits are compiled on that thread.
        import fhe.artifacts
        import fhe.custodian
        import fhe.transcript
        from fhe.log import DecryptionLog

        self.verifier = Verifier(domain, clock=clock)
        self.key_dir = key_dir
        self.cache_dir = cache_dir
        self.simulate = simulate
        self.log = DecryptionLog(log_path)
        self.known = fhe.custodian.KnownWords()  # ciphertext words seen, across epochs: replays refused on sight
        self.lock = threading.RLock()
        self._building = threading.Lock()  # taken before ``lock``, never while holding it (but in __init__)
        self._custodians: dict[tuple[ShapeKey, int], Any] = {}
        self.epoch_rounds = epoch_rounds
        self.announcements = announcements
        self._rounds: dict[str, _Round] = {}
        self._signing_key = signing_key
        self.address = Account(address_of(signing_key))
        self.evidence: list[DoubleGrant] = []
        self.refusals: list[Refusal] = []
        self.verifiers = frozenset(account(v) for v in verifiers)
        if verifier_quorum > len(self.verifiers):
            raise ValidationError(f"a quorum of {verifier_quorum} needs as many configured verifiers, "
                                  f"got {len(self.verifiers)}")
        self.verifier_quorum = verifier_quorum
        self.halt_after_void_rounds = halt_after_void_rounds
        self.store = RoundStore(key_dir / "rounds", Sealer(load_or_create_key(key_dir / "round-wrap.key")))
        with self.lock:
            self._restore()

    def prepare(self, slots: int, levels: int, max_quantity: int, groups: int = 1) -> str:
        """Compile and key a shape for the latest epoch now (from the main thread: concrete traces only there)."""
        with self.lock:
            epoch = max((state.epoch for state in self._rounds.values()), default=0)
        return str(self._custodian(slots, levels, max_quantity, epoch, groups).circuit.id)

    def epoch_of(self, round_id: str) -> int:
        """The key epoch of a round: ``(round - 1) // epoch_rounds`` (0 throughout when not rotating)."""
        return (int(round_id) - 1) // self.epoch_rounds if self.epoch_rounds else 0

    def _custodian(self, slots: int, levels: int, max_quantity: int, epoch: int, groups: int = 1) -> Any:
        return self._custodian_for(_round_key(slots, levels, max_quantity, groups), epoch)

    def _custodian_for(self, key: ShapeKey, epoch: int) -> Any:
        """One key set per circuit (or split module) and epoch, under ``key_dir/<circuit>/epoch-<n>``.

        Compiling and keying take seconds (minutes for the largest shapes), so they hold only the build
        lock: masks and decryptions of open rounds go on meanwhile. One build at a time.
        """
        from fhe.custodian import Custodian
        from fhe.split_roles import SplitCustodian, compile_program

        with self.lock:
            found = self._custodians.get((key, epoch))
        if found is not None:
            return found
        with self._building:
            with self.lock:
                found = self._custodians.get((key, epoch))
            if found is not None:  # built by whoever held the build lock before
                return found
            circuit = compile_program(key, simulate=self.simulate, cache_dir=self.cache_dir)
            circuit_dir = self.key_dir / str(circuit.id)
            check_private_tree(circuit_dir)
            holder = Custodian if key[3] == 1 else SplitCustodian
            built = holder(circuit, key_dir=circuit_dir / f"epoch-{epoch}", log=self.log, known=self.known)
            if circuit_dir.exists():
                restrict_tree(circuit_dir)  # concrete writes secret.keys with the umask's mode
            with self.lock:
                return self._custodians.setdefault((key, epoch), built)

    def _retire_spent_epochs(self) -> None:
        """Destroy the secret key of every past epoch whose rounds are all decrypted or aborted."""
        current = max((state.epoch for state in self._rounds.values()), default=0)
        for (key, epoch), custodian in list(self._custodians.items()):
            if epoch < current and all(state.decrypted or state.aborted for state in self._rounds.values()
                                       if (state.shape_key, state.epoch) == (key, epoch)):
                custodian.retire()
                del self._custodians[(key, epoch)]
                _log.info("key set retired", extra={"epoch": epoch, "key_id": custodian.key_id})

    def open_round(self, round_id: str, slots: int, levels: int, max_quantity: int, operator: str,
                   groups: int = 1) -> OpenedRound:
        """Draw the round's masks; return ``Enc(R)`` and the shape for the operator.

        ``operator`` is the address whose grants name the round's slot owners. ``groups`` > 1 runs the
        round as a split module of at most that many slot groups (evaluated in parallel, e.g. on Ray). Opening the same
        round again with the same shape and operator returns the same ``Enc(R)`` (an operator that
        crashed before journaling the round gets it back); anything else is refused.
        """
        grantor = account(operator)
        epoch = self.epoch_of(round_id)
        key = _round_key(slots, levels, max_quantity, groups)
        with self.lock:
            known = self._known_open(round_id, key, grantor)
        if known is not None:
            return known
        self._custodian_for(key, epoch)  # a new shape or epoch: compiled and keyed without the lock
        with self.lock:
            known = self._known_open(round_id, key, grantor)  # opened by a concurrent request meanwhile
            if known is not None:
                return known
            custodian = self._custodians.get((key, epoch))
            if custodian is None:  # its epoch was retired while it was being keyed: it is past
                raise RoundIdTaken(f"round {round_id}'s key epoch {epoch} is retired: open it under another id")
            shape = custodian.circuit.shape
            masks = custodian.open_round(round_id)
            opened = OpenedRound(round_id, str(masks.circuit_id), masks.key_id, shape.slots, shape.levels,
                                 shape.quantity_digits, shape.digits_per_slot, shape.max_quantity, masks.digest,
                                 bytes(masks.ciphertext), self.address, key[3])
            state = _Round(key, epoch, opened, grantor)
            self.store.save_masks(round_id, opened.masks)
            self._save(state)
            self._rounds[round_id] = state
            self._retire_spent_epochs()
            return opened

    def open_rounds(self, operator: str) -> list[str]:
        """The rounds open for ``operator``: masks drawn, neither decrypted nor aborted, oldest first."""
        grantor = account(operator)
        with self.lock:
            return sorted((rid for rid, state in self._rounds.items()
                           if state.operator == grantor and not (state.decrypted or state.aborted)), key=int)

    def _known_open(self, round_id: str, key: ShapeKey, grantor: Account) -> OpenedRound | None:
        """The round already open with this shape for this operator; raise if its id cannot be opened."""
        if round_id not in self._rounds and any(e.round_id == round_id for e in self.log.entries):
            # A restarted custodian keeps no round in memory but its log: a logged round is spent.
            raise ReplayedDecryption(f"round {round_id} is in the decryption log: it cannot be opened again")
        known = self._rounds.get(round_id)
        if known is None:
            return None
        if known.operator != grantor:
            raise PolicyViolation(f"round {round_id} is already open for another operator")
        if known.shape_key != key or known.aborted or known.decrypted:
            held = "aborted" if known.aborted else "decrypted" if known.decrypted else "open with another shape"
            raise RoundIdTaken(f"round {round_id} is already {held}: open it under another id")
        return known.opened

    def evaluation_keys(self, circuit_id: str, key_id: str | None = None) -> bytes:
        """Return the public evaluation keys of a circuit's key set ``key_id`` (default: the latest epoch's)."""
        with self.lock:
            found = sorted(((epoch, custodian) for (_, epoch), custodian in self._custodians.items()
                            if str(custodian.circuit.id) == circuit_id
                            and (key_id is None or custodian.key_id == key_id)), key=lambda pair: pair[0])
            if not found:
                raise NotFound(f"no live key set {key_id or ''} of circuit {circuit_id} at this custodian")
            return bytes(found[-1][1].evaluation_keys)

    def _round(self, round_id: str) -> _Round:
        found = self._rounds.get(round_id)
        if found is None:
            raise NotFound(f"round {round_id} was not opened at this custodian")
        return found

    def issue_mask(self, request: Signed, reservation: Signed, grant: Signed) -> IssuedMask:
        """Seal a slot's mask to the account that reserved it, for its signed request.

        The account shows its own signed :class:`SlotReservation` and the operator's signed
        :class:`SlotGrant` of the slot for that reservation; the first account to do so owns the
        slot here. The same owner may ask again (a new box key, the same digits); a second grant of
        the slot to another account is refused and kept as evidence against the operator.
        """
        message, reserved, granted = request.message, reservation.message, grant.message
        if not (isinstance(message, MaskRequest) and isinstance(reserved, SlotReservation)
                and isinstance(granted, SlotGrant)):
            raise ValidationError("expected a MaskRequest, a SlotReservation and a SlotGrant")
        round_id = str(message.round_id)
        with self.lock:
            signer = Account(self.verifier.check(request))
            state = self._round(round_id)
            if not 0 <= message.slot < state.opened.slots:
                raise ValidationError(f"slot must be in 0..{state.opened.slots - 1}, got {message.slot}")
            if statement_signer(reservation, self.verifier.domain) != signer or reserved.round_id != message.round_id:
                raise PolicyViolation(f"the reservation is not {signer}'s for round {round_id}")
            if statement_signer(grant, self.verifier.domain) != state.operator:
                raise PolicyViolation(f"the slot grant is not signed by round {round_id}'s operator {state.operator}")
            granted_for = (account(granted.account), granted.round_id, granted.slot, granted.reservation)
            if granted_for != (signer, message.round_id, message.slot, reserved.digest(self.verifier.domain)):
                raise PolicyViolation(f"the grant is for {granted_for[:3]}, not slot {message.slot} of {signer}'s "
                                      f"reservation in round {round_id}")
            first = state.grants.get(message.slot)
            owner = None if first is None else account(getattr(first.message, "account"))  # noqa: B009
            if first is not None and owner != signer:
                self.evidence.append(DoubleGrant(message.round_id, message.slot, first, grant))
                raise PolicyViolation(f"slot {message.slot} of round {round_id} was granted to {owner} first: "
                                      "the operator granted it twice")
            if state.decrypted:
                raise MaskReuse(f"round {round_id} is decrypted; its masks are spent")
            if state.aborted:
                raise RoundAborted(f"round {round_id} was aborted ({state.aborted}); its masks are spent")
            digits = state.digits.get(message.slot)
            if digits is None:
                mask = self._custodians[(state.shape_key, state.epoch)].issue_mask(round_id, message.slot)
                digits = bytes(int(d) for d in mask.digits)
            domain = self.verifier.domain
            box = seal_to(message.box_key, digits, mask_box_context(domain, message.round_id, message.slot, signer))
            delivery = sign(MaskDelivery(custodian=self.address, account=signer, round_id=message.round_id,
                                         slot=message.slot, request=message.digest(domain), box=box.digest),
                            domain, self._signing_key)
            state.grants.setdefault(message.slot, grant)
            state.digits[message.slot] = digits
            self._save(state)  # durable before the mask leaves: a restarted custodian knows the slot's owner
            self.verifier.nonces.spend(signer, message.nonce)
            return IssuedMask(round_id, message.slot, box, delivery)

    def decrypt(self, round_id: str, circuit_id: str, masks_digest: str, inputs_commitment: str,
                transcript: str, outputs: list[bytes],
                attestations: Sequence[tuple[Signed, Sequence[bytes]]] = (),
                caps: Sequence[int] = ()) -> DecryptedRound:
        """Decrypt a round's declared outputs once, under the custodian's policy; it is logged.

        ``attestations`` are verifiers' signed re-evaluations with their output ciphertexts. At
        least ``verifier_quorum`` distinct configured verifiers must attest this very transcript
        (round, circuit, ``Enc(R)`` digest, inputs commitment, ``caps``) and their outputs must
        decrypt equal to the operator's; anything less is refused before a single ciphertext is
        decrypted. The caps go into the log entry, for auditors to compare with the published ones.
        """
        from fhe.artifacts import CircuitId
        from fhe.transcript import DecryptionRequest

        with self.lock:
            state = self._round(round_id)
            try:
                self._check_not_halted()
                if state.aborted:
                    raise RoundAborted(f"round {round_id} was aborted ({state.aborted}): nothing is decrypted")
                if state.decrypted:
                    raise ReplayedDecryption(f"round {round_id} was already decrypted")
                if self.announcements is not None:
                    announced = self.announcements.masks_digest(round_id)
                    if announced != state.opened.masks_digest:
                        raise UnannouncedRound(f"round {round_id} is not announced in the operator's journal" if
                                               announced is None else f"round {round_id} was announced with "
                                               "another Enc(R) than the one issued for it")
                attested = self._check_attestations(round_id, circuit_id, masks_digest, inputs_commitment,
                                                    attestations, caps, state.opened.slots)
                request = DecryptionRequest(round_id, CircuitId(circuit_id), masks_digest, inputs_commitment,
                                            transcript, tuple(outputs))
                out = self._custodians[(state.shape_key, state.epoch)].decrypt(request, attested, caps=caps or None)
            except EvaluationMismatch:
                state.decrypted = True  # logged in the hash chain with no outputs: the round is void
                self._save(state)
                self._retire_spent_epochs()
                raise
            except PolicyViolation as refused:
                self.refusals.append(Refusal(round_id, refused.code, str(refused)))
                _log.warning("decryption refused", extra={"round": round_id, "code": refused.code})
                raise
            state.decrypted = True
            self._save(state)
            self._retire_spent_epochs()
            return DecryptedRound(round_id, out.rank, out.volume_lots, tuple(out.fills),
                                  tuple(None if side is None else int(side) for side in out.sides))

    def abort(self, round_id: str, reason: str) -> str:
        """Abort a round the operator cannot finish: its masks are spent, nothing will be decrypted.

        Idempotent; refused once the round is decrypted. Returns the recorded reason.
        """
        if not isinstance(reason, str) or not 0 < len(reason) <= 200:
            raise ValidationError("an abort reason of 1..200 characters is required")
        with self.lock:
            state = self._round(round_id)
            if state.decrypted:
                raise ReplayedDecryption(f"round {round_id} is already decrypted: nothing to abort")
            if not state.aborted:
                state.aborted = reason
                self._custodians[(state.shape_key, state.epoch)].spend(round_id)
                self._save(state)
                self._retire_spent_epochs()
            return state.aborted

    def _save(self, state: _Round) -> None:
        opened = {k: v for k, v in asdict(state.opened).items() if k != "masks"}
        masks = self._custodians[(state.shape_key, state.epoch)].round_masks(state.opened.round_id)
        self.store.save(RoundRecord(
            state.opened.round_id, state.shape_key, state.operator, opened, [[int(d) for d in row] for row in masks],
            {slot: signed_to_wire(grant) for slot, grant in state.grants.items()}, sorted(state.digits),
            state.decrypted, state.aborted, state.epoch))

    def _restore(self) -> None:
        """Reload every persisted round (a restart): masks, owners, issued slots, spent flags."""
        logged = {entry.round_id for entry in self.log.entries}
        for record in self.store.load_all():
            ciphertext = self.store.load_masks(record.round_id)
            decrypted = record.decrypted or record.round_id in logged
            epoch_dir = self.key_dir / str(record.opened["circuit_id"]) / f"epoch-{record.epoch}"
            secret = epoch_dir / "keyset" / "secret.keys"
            if self.simulate or secret.exists() or not (decrypted or record.aborted):
                custodian = self._custodian_for(_shape_key(record.shape_key), record.epoch)
                custodian.restore_round(record.round_id, record.mask_digits, ciphertext, set(record.issued),
                                        decrypted or bool(record.aborted))
            # else: a spent round of a retired key set; nothing of it needs the (destroyed) secret key
            opened = OpenedRound(**{**record.opened, "masks": ciphertext})
            grants = {slot: signed_from_wire(wire, SlotGrant) for slot, wire in record.grants.items()}
            digits = {slot: bytes(record.mask_digits[slot]) for slot in record.issued}
            self._rounds[record.round_id] = _Round(_shape_key(record.shape_key), record.epoch, opened,
                                                   account(record.operator), grants, digits, decrypted, record.aborted)
        self._retire_spent_epochs()

    def void_rounds(self) -> int:
        """Rounds the log records with no outputs: evaluations that disagreed or did not decode."""
        return sum(1 for entry in self.log.entries if entry.outputs is None)

    @property
    def halted(self) -> bool:
        """Whether the log holds ``halt_after_void_rounds`` void rounds: then nothing more is decrypted."""
        return bool(self.halt_after_void_rounds) and self.void_rounds() >= self.halt_after_void_rounds

    def _check_not_halted(self) -> None:
        if self.halted:
            raise CustodianHalted(f"the decryption log holds {self.void_rounds()} void round(s): this custodian "
                                  "decrypts nothing more (each void round answered the operator one chosen bit)")

    def _check_attestations(self, round_id: str, circuit_id: str, masks_digest: str, inputs_commitment: str,
                            attestations: Sequence[tuple[Signed, Sequence[bytes]]], caps: Sequence[int],
                            slots: int) -> list[tuple[bytes, ...]]:
        """The attested outputs, one per distinct configured verifier; refuse a short or foreign set."""
        if attestations and len(caps) != slots:
            raise InvalidAttestation(f"the request names {len(caps)} caps for a round of {slots} slots")
        expected = (int(round_id), circuit_id, masks_digest, inputs_commitment)
        by_verifier: dict[Account, tuple[bytes, ...]] = {}
        for signed, outputs in attestations:
            message = signed.message
            if not isinstance(message, EvaluationAttested):
                raise InvalidAttestation("expected a signed EvaluationAttested")
            signer = Account(statement_signer(signed, self.verifier.domain))
            if signer not in self.verifiers:
                raise InvalidAttestation(f"{signer} is not a configured verifier")
            if signer in by_verifier:
                raise InvalidAttestation(f"verifier {signer} attests twice")
            attested_for = (message.round_id, message.circuit_id, message.masks_digest, message.inputs_commitment)
            if attested_for != expected:
                raise InvalidAttestation(f"verifier {signer} attests round {message.round_id} (circuit, Enc(R), inputs "
                                         f"{message.masks_digest[:12]}…/{message.inputs_commitment[:12]}…), not this "
                                         f"request's round {round_id}")
            if caps_digest(caps) != message.caps:
                raise InvalidAttestation(f"verifier {signer} attests other caps than the request's")
            if outputs_digest(outputs) != message.outputs:
                raise InvalidAttestation(f"the outputs sent with verifier {signer}'s attestation are not the ones it "
                                         "signed")
            by_verifier[signer] = tuple(outputs)
        if len(by_verifier) < self.verifier_quorum:
            raise MissingAttestation(f"round {round_id} needs {self.verifier_quorum} verifier attestation(s), "
                                     f"got {len(by_verifier)}")
        return list(by_verifier.values())

    def log_entries(self) -> list[LogRecord]:
        """Return the decryption log, oldest first."""
        return [LogRecord(e.sequence, e.round_id, e.transcript_hash, e.outputs, e.previous, e.hash)
                for e in self.log.entries]


def _shape_key(stored: tuple[int, ...]) -> ShapeKey:
    """A stored round's circuit key (records written before split rounds name no groups: 1)."""
    slots, levels, digits, *groups = stored
    return slots, levels, digits, groups[0] if groups else 1


def _round_key(slots: int, levels: int, max_quantity: int, groups: int) -> ShapeKey:
    """The circuit key of a round: the smallest standard shape that holds it, split in at most ``groups``."""
    from fhe.shape import choose_shape

    if isinstance(groups, bool) or not isinstance(groups, int) or not 1 <= groups <= MAX_GROUPS:
        raise ValidationError(f"groups must be in 1..{MAX_GROUPS}, got {groups!r}")
    shape = choose_shape(slots, levels, [max_quantity])
    return shape.slots, shape.levels, shape.quantity_digits, min(groups, shape.slots)
