"""The JSON wire form of any signed message, shared by the SDK and both services.

A signed message travels as ``{"type", "message", "chain_id", "verifying_contract", "signature"}``:
``message`` holds the snake_case fields, integers as JSON numbers and ``bytes`` fields as 0x hex.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from darkpool.errors import ValidationError
from darkpool.signing.messages import MESSAGE_TYPES, TypedMessage
from darkpool.signing.verify import Signed

__all__ = ["signed_from_wire", "signed_to_wire"]


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValidationError(f"{what} must be 0x-prefixed hex, got {value!r}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ValidationError(f"{what} is not valid hex: {value!r}") from None


_names: dict[type, tuple[tuple[str, ...], frozenset[str]]] = {}


def _field_names(cls: type[TypedMessage]) -> tuple[tuple[str, ...], frozenset[str]]:
    """A message type's field names in order, and as a set (looked up once per type)."""
    found = _names.get(cls)
    if found is None:
        ordered = tuple(f.name for f in fields(cls))
        found = _names[cls] = (ordered, frozenset(ordered))
    return found


def signed_to_wire(signed: Signed) -> dict[str, Any]:
    """Return the JSON-ready wire form of ``signed``."""
    message = signed.message
    body: dict[str, Any] = {}
    for f in fields(message):
        value = getattr(message, f.name)
        body[f.name] = "0x" + bytes(value).hex() if isinstance(value, bytes | bytearray) else value
    return {
        "type": message.TYPE_NAME,
        "message": body,
        "chain_id": signed.chain_id,
        "verifying_contract": signed.verifying_contract,
        "signature": "0x" + signed.signature.hex(),
    }


def signed_from_wire(raw: object, expected: type[TypedMessage] | None = None) -> Signed:
    """Parse the wire form strictly (exact fields, exact JSON types); raise :class:`ValidationError`.

    Ranges (``uint64`` and so on) are left to :meth:`darkpool.signing.Verifier.check`.
    """
    if not isinstance(raw, dict):
        raise ValidationError(f"signed message must be an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"type", "message", "chain_id", "verifying_contract", "signature"})
    if unknown:
        raise ValidationError(f"signed message has unknown field(s) {unknown}")
    cls = MESSAGE_TYPES.get(str(raw.get("type")))
    if cls is None and expected is not None and raw.get("type") == expected.TYPE_NAME:
        cls = expected  # a statement type defined elsewhere, such as commit_reveal's CommitmentsSealed
    if cls is None:
        raise ValidationError(f"unknown message type {raw.get('type')!r}; expected one of {sorted(MESSAGE_TYPES)}")
    if expected is not None and cls is not expected:
        raise ValidationError(f"expected a {expected.TYPE_NAME} message, got {cls.TYPE_NAME}")
    body = raw.get("message")
    if not isinstance(body, dict):
        raise ValidationError("signed message needs a 'message' object")
    names, expected_names = _field_names(cls)
    if len(body) != len(names) or body.keys() != expected_names:
        raise ValidationError(f"{cls.TYPE_NAME} fields must be exactly {list(names)}, got {sorted(body)}")
    values: dict[str, Any] = {}
    sol_types = cls.SOL_TYPES
    for name in names:
        sol = sol_types[name]
        value = body[name]
        if sol.startswith(("uint", "int")):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(f"{cls.TYPE_NAME}.{name} must be an integer, got {value!r}")
        elif sol in ("bytes", "bytes32"):
            value = _hex(value, f"{cls.TYPE_NAME}.{name}")
        elif not isinstance(value, str):
            raise ValidationError(f"{cls.TYPE_NAME}.{name} must be a string, got {value!r}")
        values[name] = value
    chain_id = raw.get("chain_id")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int):
        raise ValidationError(f"chain_id must be an integer, got {chain_id!r}")
    contract = raw.get("verifying_contract")
    if not isinstance(contract, str):
        raise ValidationError(f"verifying_contract must be an address string, got {contract!r}")
    message = cls(**values)  # field ranges are checked by Verifier.check, before anything else uses them
    return Signed(message, chain_id, contract, _hex(raw.get("signature"), "signature"))
