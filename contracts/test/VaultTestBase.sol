// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {DarkPoolVault} from "../src/DarkPoolVault.sol";
import {MockERC20} from "../src/MockERC20.sol";

/// @notice Deployment and four-leaf Merkle trees (OpenZeppelin leaf encoding, commutative nodes).
abstract contract VaultTestBase is Test {
    uint256 internal constant GRACE = 7 days;
    uint256 internal constant WINDOW = 1 hours;
    uint256 internal constant CANCEL_DELAY = 2 days;
    uint256 internal constant THRESHOLD = 2;
    bytes32 internal constant HEAD = keccak256("journal head");
    bytes32 internal constant PAD = keccak256("pad leaf");

    MockERC20 internal token;
    DarkPoolVault internal vault;
    address internal operator = makeAddr("operator");
    address[] internal auditors;
    address[4] internal users;

    function _deploy() internal {
        token = new MockERC20("Mock USD", "mUSD", 6);
        for (uint256 i = 0; i < 3; ++i) auditors.push(makeAddr(string.concat("auditor", vm.toString(i))));
        vault = new DarkPoolVault(token, operator, GRACE, WINDOW, CANCEL_DELAY, auditors, THRESHOLD, 4);
        for (uint256 i = 0; i < 4; ++i) {
            users[i] = makeAddr(string.concat("user", vm.toString(i)));
            token.mint(users[i], 1e30);
            vm.prank(users[i]);
            token.approve(address(vault), type(uint256).max);
        }
    }

    function _balanceLeaf(address account, uint256 amount) internal view returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, address(token), amount))));
    }

    function _withdrawalLeaf(uint256 id, address account, uint256 amount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(id, account, amount))));
    }

    /// @dev Root of four leaves: H(H(l0, l1), H(l2, l3)).
    function _root(bytes32[4] memory leaves) internal pure returns (bytes32) {
        return Hashes.commutativeKeccak256(
            Hashes.commutativeKeccak256(leaves[0], leaves[1]), Hashes.commutativeKeccak256(leaves[2], leaves[3])
        );
    }

    function _proof(bytes32[4] memory leaves, uint256 index) internal pure returns (bytes32[] memory proof) {
        proof = new bytes32[](2);
        proof[0] = leaves[index ^ 1];
        uint256 other = index < 2 ? 2 : 0;
        proof[1] = Hashes.commutativeKeccak256(leaves[other], leaves[other + 1]);
    }

    function _balances(uint256[4] memory amounts) internal view returns (bytes32[4] memory leaves) {
        for (uint256 i = 0; i < 4; ++i) leaves[i] = _balanceLeaf(users[i], amounts[i]);
    }
}
