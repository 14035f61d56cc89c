// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Merkle proofs compatible with OpenZeppelin's StandardMerkleTree.
/// @notice Nodes are keccak256 of the two children sorted as bytes32 (OpenZeppelin's
///         Hashes.commutativeKeccak256); leaves are keccak256(keccak256(abi.encode(values))),
///         hashed by the caller so each tree fixes its own leaf types.
library MerkleProofLib {
    /// @notice Return the root that `proof` climbs to from `leaf`.
    function processProof(bytes32[] calldata proof, bytes32 leaf) internal pure returns (bytes32 computed) {
        computed = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            computed = _hashPair(computed, proof[i]);
        }
    }

    /// @notice Return whether `proof` proves `leaf` under `root`.
    function verify(bytes32[] calldata proof, bytes32 root, bytes32 leaf) internal pure returns (bool) {
        return processProof(proof, leaf) == root;
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32 value) {
        (bytes32 low, bytes32 high) = a < b ? (a, b) : (b, a);
        assembly ("memory-safe") {
            mstore(0x00, low)
            mstore(0x20, high)
            value := keccak256(0x00, 0x40)
        }
    }
}
