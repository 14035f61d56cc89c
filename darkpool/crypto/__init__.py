"""The cryptographic primitives, each in one place: keccak, Merkle trees and dumps, field sealing."""
