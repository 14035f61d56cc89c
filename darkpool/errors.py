"""The exception tree of darkpool.

Every error the project raises on purpose derives from :class:`DarkPoolError`, and also from
the built-in exception it refines, so callers that only know Python's built-ins still catch it::

    DarkPoolError
    ├── ValidationError (ValueError)          malformed or out-of-range input
    │   ├── NotFound                          no such round, batch, withdrawal or slot
    │   ├── MalformedRequest                  a request body not in the JSON shape the endpoint takes
    │   ├── PayloadTooLarge                   a request body longer than a service accepts
    │   ├── RoundFormatError                  round JSON that does not follow DESIGN.md §2
    │   ├── ShapeError                        input that does not fit a compiled circuit shape
    │   └── MerkleDumpError                   a Merkle tree dump that is malformed or inconsistent
    ├── SignatureError (ValueError)           signed-message checks, one class per failure
    │   ├── InvalidSignature                  opaque: the signature does not verify
    │   ├── MalleableSignature                high-s or bad v
    │   ├── WrongChainId
    │   ├── WrongVerifyingContract
    │   ├── ExpiredMessage
    │   └── ReplayedMessage                   nonce already used by this account
    │       └── DuplicateNonce                a different message reusing a spent nonce
    ├── ProtocolError (RuntimeError)          an action out of phase or against policy
    │   ├── PhaseError                        action not allowed in the round's current phase
    │   │   ├── TooEarly                      its phase has not begun
    │   │   └── TooLate                       its phase is over
    │   ├── AlreadyRevealed                   a commitment opened twice
    │   ├── WrongRound                        a message for another round or instrument
    │   ├── PolicyViolation                   refused by a custodian or operator policy
    │   │   └── InsufficientBond              a commitment below the round's bond
    │   ├── Unauthorized                      an operator-only endpoint without the operator's token
    │   ├── RateLimited                       the caller spent its token bucket
    │   ├── ServiceUnavailable                a configured dependency (chain, custodian) is failing
    │   └── NotConfigured                     the service runs without the dependency (chain, custodian)
    ├── InvalidReveal (ValueError)            opaque: a reveal that does not open its commitment
    ├── UnknownCommitment (LookupError)       a reveal that names no sealed commitment
    ├── InvalidProof (ValueError)             opaque: a Merkle proof that does not verify
    ├── MarginError (ValueError)              pricing or margin inputs that cannot be used
    │   ├── StaleMark                         an oracle mark older than allowed
    │   └── BadOracleAnswer                   a price feed's answer stale, not positive or out of band
    ├── ChainError (RuntimeError)             a chain call failed or reverted
    │   └── TransactionReverted               a contract call reverted with a named error
    └── StorageError (RuntimeError)           the journal or ledger storage failed
"""

from __future__ import annotations

__all__ = [
    "MalformedRequest",
    "PayloadTooLarge",
    "Unauthorized",
    "ServiceUnavailable",
    "NotConfigured",
    "RateLimited",
    "NotFound",
    "AlreadyRevealed",
    "ChainError",
    "DarkPoolError",
    "DuplicateNonce",
    "ExpiredMessage",
    "InsufficientBond",
    "InvalidProof",
    "InvalidReveal",
    "InvalidSignature",
    "MalleableSignature",
    "MarginError",
    "MerkleDumpError",
    "PhaseError",
    "PolicyViolation",
    "ProtocolError",
    "ReplayedMessage",
    "RoundFormatError",
    "ShapeError",
    "SignatureError",
    "StaleMark",
    "BadOracleAnswer",
    "StorageError",
    "TooEarly",
    "TooLate",
    "TransactionReverted",
    "UnknownCommitment",
    "ValidationError",
    "WrongChainId",
    "WrongVerifyingContract",
]


class DarkPoolError(Exception):
    """Root of every error darkpool raises on purpose."""

    #: A stable machine-readable code, used in HTTP error bodies and CLI messages.
    code: str = "darkpool_error"


class ValidationError(DarkPoolError, ValueError):
    """Input is malformed or out of range."""

    code = "invalid_input"


class RoundFormatError(ValidationError):
    """A round document does not follow the JSON form of DESIGN.md §2."""

    code = "invalid_round"


class ShapeError(ValidationError):
    """Input does not fit the shape (slots, levels, bits) of a compiled circuit."""

    code = "shape_mismatch"


class SignatureError(DarkPoolError, ValueError):
    """A signed message failed one of its checks."""

    code = "signature_error"


class InvalidSignature(SignatureError):
    """The signature does not recover to the account that the message names."""

    code = "invalid_signature"


class MalleableSignature(SignatureError):
    """The signature is not canonical (high s, or v not 27/28)."""

    code = "malleable_signature"


class WrongChainId(SignatureError):
    """The message was signed for another chain."""

    code = "wrong_chain_id"


class WrongVerifyingContract(SignatureError):
    """The message was signed for another settlement contract."""

    code = "wrong_verifying_contract"


class ExpiredMessage(SignatureError):
    """The message's expiry has passed."""

    code = "expired_message"


class ReplayedMessage(SignatureError):
    """The account already used this nonce."""

    code = "replayed_message"


class ProtocolError(DarkPoolError, RuntimeError):
    """An action is not allowed now."""

    code = "protocol_error"


class PhaseError(ProtocolError):
    """The action does not belong to the round's current phase."""

    code = "wrong_phase"


class PolicyViolation(ProtocolError):
    """A party's policy refuses the request."""

    code = "policy_violation"


class InvalidReveal(DarkPoolError, ValueError):
    """A reveal does not open its commitment."""

    code = "invalid_reveal"


class InvalidProof(DarkPoolError, ValueError):
    """A Merkle proof does not verify against the root."""

    code = "invalid_proof"


class MarginError(DarkPoolError, ValueError):
    """Pricing or margin inputs cannot be used."""

    code = "margin_error"


class StaleMark(MarginError):
    """An oracle mark is older than the configured limit."""

    code = "stale_mark"


class BadOracleAnswer(MarginError):
    """An on-chain price feed's answer is stale, not positive, or moved out of the allowed band:
    refused, and the underlying's instruments halt until a good answer arrives."""

    code = "bad_oracle_answer"


class ChainError(DarkPoolError, RuntimeError):
    """A chain call failed or a transaction reverted."""

    code = "chain_error"


class StorageError(DarkPoolError, RuntimeError):
    """Durable storage failed."""

    code = "storage_error"


class MerkleDumpError(ValidationError):
    """A Merkle tree dump is malformed, or a leaf or node in it does not hash to what it claims."""

    code = "invalid_merkle_dump"


class TransactionReverted(ChainError):
    """A contract call reverted; ``error_name`` is the contract's custom error (or ``"revert"``)."""

    code = "transaction_reverted"

    def __init__(self, error_name: str, args: tuple[object, ...] = (), detail: str = "") -> None:
        self.error_name = error_name
        self.error_args = args
        shown = f"{error_name}({', '.join(map(repr, args))})"
        super().__init__(f"contract reverted with {shown}" + (f": {detail}" if detail else ""))


class TooEarly(PhaseError):
    """The action's phase has not begun yet (a commit before the round opens, a reveal before the seal)."""

    code = "too_early"


class TooLate(PhaseError):
    """The action's phase is over (a commit after the commit phase closed, a reveal after the deadline)."""

    code = "too_late"


class DuplicateNonce(ReplayedMessage):
    """A different message reuses a nonce the account already spent in this round."""

    code = "duplicate_nonce"


class UnknownCommitment(DarkPoolError, LookupError):
    """A reveal names no sealed commitment (no commitment by that account with that nonce)."""

    code = "unknown_commitment"


class AlreadyRevealed(ProtocolError):
    """The commitment was already opened; a second reveal never adds a second order."""

    code = "already_revealed"


class InsufficientBond(PolicyViolation):
    """A commitment posts less bond than the round requires."""

    code = "insufficient_bond"


# FHE engine errors (fhe/), appended to the tree above:
#
#     ValidationError
#     └── ShapeError
#         └── CiphertextShapeError        a ciphertext whose shape is not the circuit's
#     ProtocolError
#     ├── WrongRound                      a mask, ciphertext or request of another round
#     ├── ForeignKey                      a ciphertext or key from another key set or circuit
#     ├── InconsistentOutputs             decrypted outputs that no honest evaluation gives
#     └── PolicyViolation
#         ├── MaskReuse                   a mask asked for twice, or a round opened twice
#         ├── ReplayedDecryption          a second decryption request for a round
#         ├── TranscriptMismatch          a request naming a transcript the custodian never issued
#         ├── UndeclaredOutput            a request to decrypt anything but the round's outputs
#         │   ├── TrivialCiphertext       an output with a trivial or crafted low-entropy mask
#         │   └── ReplayedCiphertext      an output reusing Enc(R) or an output already decrypted
#         ├── MissingAttestation          fewer verifiers' signed re-evaluations than the quorum
#         ├── InvalidAttestation          an attestation by no configured verifier, or of another transcript
#         ├── EvaluationMismatch          the operator's and a verifier's evaluations decrypt differently
#         ├── UnannouncedRound            a round the operator's journal never announced (with this Enc(R))
#         ├── RoundAborted                the operator aborted the round at the custodian: no masks, no decryption
#         └── CustodianHalted             decryption stopped after a void round (mismatch or inconsistent outputs)


class CiphertextShapeError(ShapeError):
    """A ciphertext (or masked digits) whose shape is not the one the circuit takes."""

    code = "ciphertext_shape"


class WrongRound(ProtocolError):
    """A mask, ciphertext or request that belongs to another round."""

    code = "wrong_round"


class ForeignKey(ProtocolError):
    """A ciphertext or key made under another key set or for another circuit."""

    code = "foreign_key"


class InconsistentOutputs(ProtocolError):
    """Decrypted round outputs that no honest evaluation of the circuit can produce."""

    code = "inconsistent_outputs"


class MaskReuse(PolicyViolation):
    """A slot's mask asked for a second time, or a round's masks drawn twice."""

    code = "mask_reuse"


class ReplayedDecryption(PolicyViolation):
    """A second decryption request for a round that was already decrypted."""

    code = "replayed_decryption"


class RoundIdTaken(PolicyViolation):
    """An FHE round id the custodian already holds for this operator with another shape, or has spent
    (aborted or decrypted): it is never opened again, so the operator opens its round under the next id."""

    code = "round_id_taken"


class TranscriptMismatch(PolicyViolation):
    """A decryption request naming a transcript hash the custodian cannot reproduce."""

    code = "transcript_mismatch"


class UndeclaredOutput(PolicyViolation):
    """A request to decrypt something other than a round's declared outputs."""

    code = "undeclared_output"


class TrivialCiphertext(UndeclaredOutput):
    """An output ciphertext whose mask is trivial or of low entropy (zero words): refused before any
    decryption; the round is void."""

    code = "trivial_ciphertext"


class ReplayedCiphertext(UndeclaredOutput):
    """An output that reuses, whole or in part, a ciphertext the custodian issued (``Enc(R)``) or
    already decrypted: refused before any decryption; the round is void."""

    code = "replayed_ciphertext"


class MissingAttestation(PolicyViolation):
    """A decryption request without the quorum of verifiers' signed re-evaluations of its transcript."""

    code = "missing_attestation"


class InvalidAttestation(PolicyViolation):
    """A verifier's attestation that is not by a configured verifier, names another round, circuit,
    ``Enc(R)`` or inputs than the request, or does not sign the outputs it came with."""

    code = "invalid_attestation"


class EvaluationMismatch(PolicyViolation):
    """The operator's and a verifier's evaluations of one transcript decrypt to different values:
    nothing is released, the round is void and the disagreement is logged as evidence."""

    code = "evaluation_mismatch"


class UnannouncedRound(PolicyViolation):
    """The operator's hash-chained journal does not announce this FHE round with the ``Enc(R)`` the
    custodian issued for it (or does not verify): nothing of it is decrypted."""

    code = "unannounced_round"


class RoundAborted(PolicyViolation):
    """The operator aborted this round at the custodian: its masks are spent and nothing is decrypted."""

    code = "round_aborted"


class CustodianHalted(PolicyViolation):
    """The custodian decrypts nothing more: its log holds as many void rounds (evaluations that
    disagreed, outputs that did not decode) as it tolerates. Each void round told the operator one
    bit (equal or not), so the custodian stops before a chosen-ciphertext search can go on."""

    code = "custodian_halted"


__all__ += [
    "CustodianHalted",
    "RoundAborted",
    "UnannouncedRound",
    "CiphertextShapeError",
    "ForeignKey",
    "InconsistentOutputs",
    "MaskReuse",
    "ReplayedDecryption",
    "RoundIdTaken",
    "TranscriptMismatch",
    "UndeclaredOutput",
    "WrongRound",
    "MissingAttestation",
    "TrivialCiphertext",
    "ReplayedCiphertext",
    "InvalidAttestation",
    "EvaluationMismatch",
]


class NotFound(ValidationError):
    """The named round, batch, withdrawal or slot does not exist."""

    code = "not_found"


class Unauthorized(ProtocolError):
    """An operator-only endpoint was called without the operator's bearer token."""

    code = "unauthorized"


class RateLimited(ProtocolError):
    """The account sent more requests than its token bucket allows."""

    code = "rate_limited"


class ServiceUnavailable(ProtocolError):
    """A dependency the request needs (chain, custodian) failed or is not ready."""

    code = "service_unavailable"


class NotConfigured(ProtocolError):
    """The request needs a dependency (chain, custodian) this service was started without: a
    permanent refusal of this deployment, not an outage (so a 4xx, not a 5xx)."""

    code = "not_configured"


class MalformedRequest(ValidationError):
    """A request whose body is not the JSON shape the endpoint takes (FastAPI's own validation too)."""

    code = "malformed_request"


class PayloadTooLarge(ValidationError):
    """A request body longer than the service accepts (refused before it is read whole)."""

    code = "payload_too_large"
