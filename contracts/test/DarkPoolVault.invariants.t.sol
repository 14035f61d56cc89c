// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DarkPoolVault} from "../src/DarkPoolVault.sol";
import {MockERC20} from "../src/MockERC20.sol";
import {VaultTestBase} from "./VaultTestBase.sol";

/// @notice Drives the vault as users, an operator that is honest except when it tries to steal, auditors
///         who veto every stealing batch inside its window (the trust assumption: k honest auditors
///         watching) and sometimes an honest one, and anyone finalizing, claiming, freezing, escaping
///         and reclaiming. Keeps ghost books of what the last final batch owes.
contract VaultHandler is VaultTestBase {
    struct GhostBatch {
        uint256[4] balances;
        bytes32[4] balanceLeaves;
        bytes32[4] withdrawalLeaves;
        uint256[4] withdrawalIds;
        uint256[4] withdrawalAmounts;
        uint64 credited;
        bool stealing;
    }

    uint256[4] public ledger; // the operator's books
    uint256[] public depositAmounts; // index = deposit id - 1
    address[] public depositors;
    uint256[] public depositTimes;
    mapping(uint256 depositId => bool) public reclaimed;
    mapping(uint256 batchId => GhostBatch) internal ghost;
    uint64 public batchCount;
    uint64 public credited; // deposits credited by the operator's books
    uint256 public nextWithdrawalId = 1;
    mapping(uint256 withdrawalId => uint256) public timesPaid;
    mapping(address account => uint256) public timesEscaped;
    uint256[] public vetoedBatches;
    bool public everFrozen;

    constructor(MockERC20 token_, DarkPoolVault vault_, address operator_, address[] memory auditors_, address[4] memory users_) {
        token = token_;
        vault = vault_;
        operator = operator_;
        auditors = auditors_;
        users = users_;
    }

    // --- users ---------------------------------------------------------------------------------

    function deposit(uint256 who, uint256 amount) external {
        if (vault.frozen()) return;
        who = bound(who, 0, 3);
        amount = bound(amount, 1, 1e24);
        vm.prank(users[who]);
        vault.deposit(amount);
        depositAmounts.push(amount);
        depositors.push(users[who]);
        depositTimes.push(block.timestamp);
    }

    function reclaim(uint256 seed) external {
        uint256 count = depositAmounts.length;
        if (count == 0) return;
        uint256 id = bound(seed, 1, count);
        if (reclaimed[id]) return;
        bool allowed = vault.frozen()
            ? id > vault.batches(vault.finalBatchId()).depositsCredited
            : id > vault.depositsCredited() && block.timestamp >= depositTimes[id - 1] + CANCEL_DELAY;
        if (!allowed) return;
        vault.reclaimDeposit(id, depositors[id - 1], depositAmounts[id - 1], depositTimes[id - 1]);
        reclaimed[id] = true;
    }

    function requestAndFreeze(uint256 who) external {
        if (vault.frozen()) return;
        who = bound(who, 0, 3);
        if (vault.forcedRequestedAt(users[who]) == 0) {
            vm.prank(users[who]);
            vault.requestForcedWithdrawal();
        }
        vm.warp(block.timestamp + GRACE);
        vm.roll(block.number + 1);
        vault.freeze(users[who]);
        everFrozen = true;
    }

    // --- operator ------------------------------------------------------------------------------

    /// @dev An honest batch: credit new deposits (a reclaimed one as zero), move some value, withdraw some.
    function settle(uint256 from, uint256 to, uint256 share, uint256 withdrawMask) external {
        if (vault.frozen()) return;
        uint64 count = uint64(depositAmounts.length);
        for (uint256 id = credited + 1; id <= count; ++id) {
            if (!reclaimed[id]) ledger[_index(depositors[id - 1])] += depositAmounts[id - 1];
        }
        credited = count;
        from = bound(from, 0, 3);
        to = bound(to, 0, 3);
        uint256 moved = ledger[from] * bound(share, 0, 100) / 100;
        ledger[from] -= moved;
        ledger[to] += moved;
        uint64 batchId = ++batchCount;
        GhostBatch storage g = ghost[batchId];
        for (uint256 i = 0; i < 4; ++i) {
            uint256 amount = (withdrawMask >> i) & 1 == 1 ? ledger[i] / 2 : 0;
            ledger[i] -= amount;
            g.withdrawalIds[i] = nextWithdrawalId++;
            g.withdrawalAmounts[i] = amount;
            g.withdrawalLeaves[i] = _withdrawalLeaf(g.withdrawalIds[i], users[i], amount);
            g.balances[i] = ledger[i];
        }
        g.balanceLeaves = _balances(g.balances);
        g.credited = count;
        vm.prank(operator);
        vault.commitBatch(batchId, _root(g.balanceLeaves), bytes32(0), _root(g.withdrawalLeaves), HEAD, count);
    }

    /// @dev A stealing batch: everything to user 0. The watching auditors veto it at once.
    function steal() external {
        if (vault.frozen()) return;
        uint64 batchId = ++batchCount;
        GhostBatch storage g = ghost[batchId];
        g.balances[0] = token.balanceOf(address(vault));
        g.balanceLeaves = _balances(g.balances);
        for (uint256 i = 0; i < 4; ++i) g.withdrawalLeaves[i] = PAD;
        g.credited = vault.depositsCredited();
        g.stealing = true;
        vm.prank(operator);
        vault.commitBatch(batchId, _root(g.balanceLeaves), bytes32(0), bytes32(0), HEAD, g.credited);
        for (uint256 i = 0; i < THRESHOLD; ++i) {
            vm.prank(auditors[i]);
            vault.veto(batchId);
        }
        vetoedBatches.push(batchId);
        everFrozen = true;
    }

    // --- auditors and anyone -------------------------------------------------------------------

    function vetoHonest(uint256 auditor) external {
        uint64 batchId = vault.lastBatchId();
        if (vault.frozen() || batchId == 0 || batchId <= vault.finalBatchId()) return;
        if (block.timestamp >= vault.batches(batchId).finalAt) return;
        auditor = bound(auditor, 0, auditors.length - 1);
        if (vault.batches(batchId).vetoes > 0) auditor = (auditor + 1) % auditors.length; // maybe the second
        vm.prank(auditors[auditor]);
        try vault.veto(batchId) {
            if (vault.frozen()) {
                vetoedBatches.push(batchId);
                everFrozen = true;
            }
        } catch {}
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 * WINDOW));
        vm.roll(block.number + 1);
    }

    function finalize() external {
        uint64 batchId = vault.lastBatchId();
        if (vault.frozen() || batchId <= vault.finalBatchId()) return;
        if (block.timestamp < vault.batches(batchId).finalAt) return;
        vault.finalize(batchId);
    }

    /// @dev Claim any known withdrawal, paid or not: a second payment would show in `timesPaid`.
    function claim(uint256 batchSeed, uint256 who) external {
        if (batchCount == 0) return;
        uint64 batchId = uint64(bound(batchSeed, 1, batchCount));
        who = bound(who, 0, 3);
        GhostBatch storage g = ghost[batchId];
        if (g.stealing) return;
        uint256 id = g.withdrawalIds[who];
        try vault.claimWithdrawal(batchId, id, users[who], g.withdrawalAmounts[who], _proof(g.withdrawalLeaves, who)) {
            timesPaid[id] += 1;
        } catch {}
    }

    /// @dev Escape with the last final balance, or try the stolen one.
    function escape(uint256 who, bool tryStolen) external {
        if (!vault.frozen()) return;
        who = bound(who, 0, 3);
        uint64 batchId = vault.finalBatchId();
        if (tryStolen && vetoedBatches.length > 0) batchId = uint64(vetoedBatches[0]);
        if (batchId == 0) return;
        GhostBatch storage g = ghost[batchId];
        try vault.escape(users[who], g.balances[who], _proof(g.balanceLeaves, who)) {
            timesEscaped[users[who]] += 1;
        } catch {}
    }

    // --- ghost views for the invariants --------------------------------------------------------

    /// @notice What users can take out without the operator: the last final batch's balances of
    ///         accounts that have not escaped, its batches' unclaimed withdrawals, uncredited deposits.
    function liabilities() external view returns (uint256 owed) {
        uint64 finalId = vault.finalBatchId();
        if (finalId != 0) {
            GhostBatch storage f = ghost[finalId];
            for (uint256 i = 0; i < 4; ++i) {
                if (!vault.escaped(users[i])) owed += f.balances[i];
            }
            for (uint64 b = 1; b <= finalId; ++b) {
                GhostBatch storage g = ghost[b];
                for (uint256 i = 0; i < 4; ++i) {
                    if (!g.stealing && !vault.isClaimed(g.withdrawalIds[i])) owed += g.withdrawalAmounts[i];
                }
            }
        }
        uint256 finalCredited = ghost[finalId].credited;
        for (uint256 id = finalCredited + 1; id <= depositAmounts.length; ++id) {
            if (!reclaimed[id]) owed += depositAmounts[id - 1];
        }
    }

    function vetoedCount() external view returns (uint256) {
        return vetoedBatches.length;
    }

    function userAt(uint256 i) external view returns (address) {
        return users[i];
    }

    function _index(address who) internal view returns (uint256) {
        for (uint256 i = 0; i < 4; ++i) {
            if (users[i] == who) return i;
        }
        revert("unknown user");
    }
}

/// @notice The vault's invariants under any sequence of the handler's actions.
contract DarkPoolVaultInvariants is VaultTestBase {
    VaultHandler internal handler;

    function setUp() public {
        _deploy();
        handler = new VaultHandler(token, vault, operator, auditors, users);
        for (uint256 i = 0; i < 4; ++i) {
            vm.prank(users[i]);
            token.approve(address(vault), type(uint256).max);
        }
        targetContract(address(handler));
    }

    /// Vault holdings cover the last final root's balances, unclaimed final withdrawals and uncredited deposits.
    function invariant_holdingsCoverFinalLiabilities() public view {
        assertGe(token.balanceOf(address(vault)), handler.liabilities());
    }

    function invariant_withdrawalPaidAtMostOnce() public view {
        for (uint256 id = 1; id < handler.nextWithdrawalId(); ++id) {
            assertLe(handler.timesPaid(id), 1);
        }
    }

    function invariant_accountEscapesAtMostOnce() public view {
        for (uint256 i = 0; i < 4; ++i) {
            assertLe(handler.timesEscaped(handler.userAt(i)), 1);
        }
    }

    function invariant_freezeIsFinal() public view {
        if (handler.everFrozen()) assertTrue(vault.frozen());
    }

    function invariant_vetoedBatchNeverFinal() public view {
        for (uint256 i = 0; i < handler.vetoedCount(); ++i) {
            uint256 batchId = handler.vetoedBatches(i);
            assertFalse(vault.batches(batchId).isFinal);
            assertLt(vault.finalBatchId(), batchId);
        }
    }
}
