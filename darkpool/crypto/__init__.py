"""The cryptographic primitives, each in one place.

``keccak`` (hashing), ``abi`` (32-byte words and leaf-value encoding), ``eip712`` (type and struct
hashes, domain separators, digests), ``secp256k1`` (canonical checks, recovery, signing),
``merkle_nodes``/``merkle``/``merkle_dump`` (OpenZeppelin trees, proofs, dumps) and ``sealing``
(private journal fields). Core code: no adapter (web3, FastAPI, concrete) is imported here.
"""
