// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {DarkPoolVault} from "../src/DarkPoolVault.sol";
import {VaultTestBase} from "./VaultTestBase.sol";

/// @notice Unit and fuzz tests of the vault: challenge window, vetoes, claims, escapes, reclaims.
contract DarkPoolVaultTest is VaultTestBase {
    uint256[4] internal amounts = [uint256(1000), 500, 0, 0];

    function setUp() public {
        _deploy();
    }

    /// @dev users 0 and 1 deposit 1000 and 500; batch 1 credits them (and a withdrawal of 300 for user 0).
    function _commitFirst() internal returns (bytes32[4] memory balances, bytes32[4] memory withdrawals) {
        vm.prank(users[0]);
        vault.deposit(1300);
        vm.prank(users[1]);
        vault.deposit(500);
        balances = _balances(amounts);
        withdrawals = [_withdrawalLeaf(1, users[0], 300), PAD, PAD, PAD];
        vm.prank(operator);
        vault.commitBatch(1, _root(balances), bytes32(0), _root(withdrawals), HEAD, 2);
    }

    function test_claim_whenWindowOpen_reverts_thenPaysOnceAfter() public {
        (, bytes32[4] memory withdrawals) = _commitFirst();
        bytes32[] memory proof = _proof(withdrawals, 0);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.ChallengeWindowOpen.selector, 1, block.timestamp + WINDOW));
        vault.claimWithdrawal(1, 1, users[0], 300, proof);
        vm.warp(block.timestamp + WINDOW);
        uint256 before = token.balanceOf(users[0]);
        vault.claimWithdrawal(1, 1, users[0], 300, proof);
        assertEq(token.balanceOf(users[0]) - before, 300);
        assertEq(vault.finalBatchId(), 1);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.AlreadyClaimed.selector, 1));
        vault.claimWithdrawal(1, 1, users[0], 300, proof);
    }

    function test_veto_whenThresholdReached_freezesAndBatchNeverFinal() public {
        _commitFirst();
        vm.prank(auditors[0]);
        vault.veto(1);
        assertFalse(vault.frozen());
        vm.prank(auditors[0]);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.AlreadyVetoed.selector, 1, auditors[0]));
        vault.veto(1);
        vm.prank(auditors[2]);
        vault.veto(1);
        assertTrue(vault.frozen());
        vm.warp(block.timestamp + 10 * WINDOW);
        vm.expectRevert(DarkPoolVault.VaultFrozen.selector);
        vault.finalize(1);
        DarkPoolVault.BatchView memory b = vault.batches(1);
        assertTrue(b.vetoed);
        assertFalse(b.isFinal);
        assertEq(b.vetoes, 2);
        // Nothing is final: both deposits come back.
        vault.reclaimDeposit(1, users[0], 1300, 1);
        vault.reclaimDeposit(2, users[1], 500, 1);
        assertEq(token.balanceOf(address(vault)), 0);
    }

    function test_veto_whenNotAuditorOrLate_reverts() public {
        _commitFirst();
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.NotAuditor.selector, address(this)));
        vault.veto(1);
        vm.warp(block.timestamp + WINDOW);
        vm.prank(auditors[1]);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.ChallengeWindowClosed.selector, 1, block.timestamp));
        vault.veto(1);
    }

    function test_escape_paysLastFinalBalance_notPendingOne() public {
        (bytes32[4] memory balances,) = _commitFirst();
        vm.warp(block.timestamp + WINDOW);
        vault.finalize(1);
        // Batch 2 (pending) would hand user 1's balance to user 0.
        uint256[4] memory stolen = [uint256(1500), 0, 0, 0];
        bytes32[4] memory theft = _balances(stolen);
        vm.prank(operator);
        vault.commitBatch(2, _root(theft), bytes32(0), bytes32(0), HEAD, 2);
        vm.prank(users[1]);
        vault.requestForcedWithdrawal();
        vm.warp(block.timestamp + GRACE);
        vault.freeze(users[1]);
        vm.expectRevert(DarkPoolVault.InvalidProof.selector);
        vault.escape(users[0], 1500, _proof(theft, 0));
        vault.escape(users[1], 500, _proof(balances, 1));
        vault.escape(users[0], 1000, _proof(balances, 0));
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.AlreadyEscaped.selector, users[0]));
        vault.escape(users[0], 1000, _proof(balances, 0));
        assertEq(token.balanceOf(address(vault)), 300); // the final batch's unclaimed withdrawal
    }

    function test_reclaim_afterCancelDelay_withoutFreeze() public {
        vm.prank(users[2]);
        vault.deposit(77);
        vm.expectRevert(
            abi.encodeWithSelector(DarkPoolVault.CancelDelayRunning.selector, 1, block.timestamp + CANCEL_DELAY)
        );
        vault.reclaimDeposit(1, users[2], 77, block.timestamp);
        uint256 at = block.timestamp;
        vm.warp(at + CANCEL_DELAY);
        vault.reclaimDeposit(1, users[2], 77, at);
        assertFalse(vault.frozen());
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.DepositNotReclaimable.selector, 1));
        vault.reclaimDeposit(1, users[2], 77, at);
    }

    function test_forcedRequests_limitedPerBlock() public {
        for (uint256 i = 0; i < 4; ++i) {
            vm.prank(makeAddr(string.concat("requester", vm.toString(i))));
            vault.requestForcedWithdrawal();
        }
        vm.prank(makeAddr("one too many"));
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.TooManyForcedRequests.selector, block.number));
        vault.requestForcedWithdrawal();
        vm.roll(block.number + 1);
        vm.prank(makeAddr("one too many"));
        vault.requestForcedWithdrawal();
    }

    function test_constructor_rejectsZeroAddressesAndBadSettings() public {
        address[] memory none = new address[](0);
        vm.expectRevert(DarkPoolVault.ZeroAddress.selector);
        new DarkPoolVault(IERC20(address(0)), operator, GRACE, WINDOW, CANCEL_DELAY, auditors, 1, 1);
        vm.expectRevert(DarkPoolVault.ZeroAddress.selector);
        new DarkPoolVault(token, address(0), GRACE, WINDOW, CANCEL_DELAY, auditors, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.BadConfig.selector, "auditor count"));
        new DarkPoolVault(token, operator, GRACE, WINDOW, CANCEL_DELAY, none, 1, 1);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.BadConfig.selector, "gracePeriod not above challengeWindow"));
        new DarkPoolVault(token, operator, WINDOW, WINDOW, CANCEL_DELAY, auditors, 1, 1);
        address[] memory twice = new address[](2);
        twice[0] = auditors[0];
        twice[1] = auditors[0];
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.BadConfig.selector, "auditor listed twice"));
        new DarkPoolVault(token, operator, GRACE, WINDOW, CANCEL_DELAY, twice, 1, 1);
    }

    /// forge-config: default.fuzz.runs = 256
    function testFuzz_claim_rejectsAnyOtherAmountOrAccount(uint256 amount, address account) public {
        (, bytes32[4] memory withdrawals) = _commitFirst();
        vm.assume(account != address(0));
        vm.assume(amount != 300 || account != users[0]);
        vm.warp(block.timestamp + WINDOW);
        vm.expectRevert(DarkPoolVault.InvalidProof.selector);
        vault.claimWithdrawal(1, 1, account, amount, _proof(withdrawals, 0));
    }

    function testFuzz_finality_onlyAfterWindow(uint256 wait) public {
        _commitFirst();
        wait = bound(wait, 0, 3 * WINDOW);
        vm.warp(block.timestamp + wait);
        if (wait < WINDOW) {
            vm.expectRevert(
                abi.encodeWithSelector(DarkPoolVault.ChallengeWindowOpen.selector, 1, block.timestamp - wait + WINDOW)
            );
            vault.finalize(1);
            assertEq(vault.finalBatchId(), 0);
        } else {
            vault.finalize(1);
            assertEq(vault.finalBatchId(), 1);
        }
    }

    function testFuzz_commit_onlyOperator(address caller) public {
        vm.assume(caller != operator);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(DarkPoolVault.NotOperator.selector, caller));
        vault.commitBatch(1, HEAD, HEAD, HEAD, HEAD, 0);
    }
}
