// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MockERC20} from "./MockERC20.sol";

/// @title TEST ONLY: an ERC-20 that calls back into a target during `transfer`.
/// @notice Used to check that the vault cannot be re-entered while it pays out. The callback
///         runs once; its success flag and return data are kept for the test to read.
contract ReentrantERC20 is MockERC20 {
    address public attackTarget;
    bytes public attackPayload;
    bool public attackRan;
    bool public attackSucceeded;
    bytes public attackReturn;

    constructor() MockERC20("Reentrant", "RE", 6) {}

    /// @notice Arm the callback: the next `transfer` calls `target` with `payload` first.
    /// @dev Test only: a zero target disarms it, so there is no zero-address check.
    // slither-disable-next-line missing-zero-check
    function arm(address target, bytes calldata payload) external {
        attackTarget = target;
        attackPayload = payload;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        address target = attackTarget;
        if (target != address(0)) {
            attackTarget = address(0);
            attackRan = true;
            // The point of this token: an arbitrary call back into the vault while it pays out.
            // slither-disable-next-line low-level-calls
            (attackSucceeded, attackReturn) = target.call(attackPayload);
        }
        return super.transfer(to, value);
    }
}
