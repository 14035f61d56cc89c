// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title darkpool settlement vault: one ERC-20 collateral, batch roots, withdrawals, escape hatch.
/// @notice The operator keeps balances off chain and commits Merkle roots of them in batches
///         (OpenZeppelin StandardMerkleTree encoding). The contract stores only what proofs need:
///         the latest balances root (for escapes) and each batch's withdrawals root (for claims);
///         the fills root and the journal head are emitted. Users can always leave: a forced
///         withdrawal request that the operator does not serve within `gracePeriod` lets anyone
///         freeze the vault, after which each account withdraws its last committed balance once,
///         and each deposit the operator never credited can be taken back once.
/// @dev Leaves (each tree has its own types, so a leaf of one cannot pass as a leaf of another):
///      balances    abi.encode(address account, address token, uint256 amount)
///      withdrawals abi.encode(uint256 withdrawalId, address account, uint256 amount)
///      Withdrawal ids are global, so a withdrawal repeated in two batches is still paid once.
contract DarkPoolVault is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    IERC20 public immutable token;
    address public immutable operator;
    uint256 public immutable gracePeriod;

    /// @notice Latest batch id; batches must carry strictly larger ids.
    uint64 public lastBatchId;
    /// @notice Number of deposits made so far (deposit ids are 1..depositCount).
    uint64 public depositCount;
    /// @notice Deposits 1..depositsCredited are reflected in the latest balances root.
    uint64 public depositsCredited;
    /// @notice Once true, no batch, seal, deposit or request is accepted; escapes open.
    bool public frozen;

    /// @notice Balances root of the latest batch.
    bytes32 public balancesRoot;
    /// @notice Withdrawals root of each batch that had withdrawals.
    mapping(uint256 batchId => bytes32) public withdrawalsRoots;
    /// @notice Commitments root of each sealed commit-reveal round.
    mapping(uint256 roundId => bytes32) public commitmentsRoots;
    /// @notice keccak256(abi.encode(account, amount)) of each deposit, cleared when reclaimed.
    mapping(uint256 depositId => bytes32) public depositHashes;
    /// @notice Time of each account's unserved forced withdrawal request (0 when none).
    mapping(address account => uint256) public forcedRequestedAt;
    /// @notice Whether an account has escaped with its last committed balance.
    mapping(address account => bool) public escaped;

    mapping(uint256 word => uint256) private _claimedBits;

    event Deposited(uint256 indexed depositId, address indexed account, uint256 amount);
    event BatchCommitted(
        uint256 indexed batchId,
        bytes32 balancesRoot,
        bytes32 fillsRoot,
        bytes32 withdrawalsRoot,
        bytes32 journalHead,
        uint256 depositsCredited
    );
    event CommitmentsSealed(uint256 indexed roundId, bytes32 commitmentsRoot);
    event WithdrawalClaimed(uint256 indexed withdrawalId, address indexed account, uint256 amount, uint256 batchId);
    event ForcedWithdrawalRequested(address indexed account, uint256 requestedAt);
    event ForcedWithdrawalServed(address indexed account);
    event Frozen(address indexed by, address indexed unservedAccount);
    event Escaped(address indexed account, uint256 amount);
    event DepositReclaimed(uint256 indexed depositId, address indexed account, uint256 amount);

    error NotOperator(address caller);
    error VaultFrozen();
    error VaultNotFrozen();
    error StaleBatchId(uint256 batchId, uint256 lastBatchId);
    error BadDepositsCredited(uint256 depositsCredited, uint256 previous, uint256 depositCount);
    error RoundAlreadySealed(uint256 roundId);
    error ZeroRoot();
    error ZeroAmount();
    error UnknownBatch(uint256 batchId);
    error InvalidProof();
    error AlreadyClaimed(uint256 withdrawalId);
    error AlreadyEscaped(address account);
    error ForcedRequestPending(address account);
    error NoForcedRequest(address account);
    error GracePeriodRunning(address account, uint256 endsAt);
    error DepositNotReclaimable(uint256 depositId);

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    modifier whenNotFrozen() {
        if (frozen) revert VaultFrozen();
        _;
    }

    constructor(IERC20 token_, address operator_, uint256 gracePeriod_) {
        token = token_;
        operator = operator_;
        gracePeriod = gracePeriod_;
    }

    // --- deposits -----------------------------------------------------------------------------

    /// @notice Move `amount` tokens (approved beforehand) into the vault for the caller.
    function deposit(uint256 amount) external nonReentrant whenNotFrozen returns (uint256 depositId) {
        if (amount == 0) revert ZeroAmount();
        depositId = ++depositCount;
        depositHashes[depositId] = keccak256(abi.encode(msg.sender, amount));
        emit Deposited(depositId, msg.sender, amount);
        _pull(msg.sender, amount);
    }

    // --- operator -----------------------------------------------------------------------------

    /// @notice Commit a batch: roots of balances, fills and withdrawals, and the journal head.
    /// @param depositsCredited_ how many deposits (by id) the balances root reflects.
    function commitBatch(
        uint64 batchId,
        bytes32 balancesRoot_,
        bytes32 fillsRoot,
        bytes32 withdrawalsRoot,
        bytes32 journalHead,
        uint64 depositsCredited_
    ) external onlyOperator whenNotFrozen {
        uint64 last = lastBatchId;
        if (batchId <= last) revert StaleBatchId(batchId, last);
        uint64 previous = depositsCredited;
        uint64 count = depositCount;
        if (depositsCredited_ < previous || depositsCredited_ > count) {
            revert BadDepositsCredited(depositsCredited_, previous, count);
        }
        if (balancesRoot_ == bytes32(0)) revert ZeroRoot();
        lastBatchId = batchId;
        depositsCredited = depositsCredited_;
        balancesRoot = balancesRoot_;
        if (withdrawalsRoot != bytes32(0)) withdrawalsRoots[batchId] = withdrawalsRoot;
        emit BatchCommitted(batchId, balancesRoot_, fillsRoot, withdrawalsRoot, journalHead, depositsCredited_);
    }

    /// @notice Seal the commitments root of a commit-reveal round, before its reveals open.
    function sealCommitments(uint256 roundId, bytes32 commitmentsRoot) external onlyOperator whenNotFrozen {
        if (commitmentsRoot == bytes32(0)) revert ZeroRoot();
        if (commitmentsRoots[roundId] != bytes32(0)) revert RoundAlreadySealed(roundId);
        commitmentsRoots[roundId] = commitmentsRoot;
        emit CommitmentsSealed(roundId, commitmentsRoot);
    }

    // --- withdrawals --------------------------------------------------------------------------

    /// @notice Pay a committed withdrawal to its account, once; anyone may submit it.
    /// @dev A claim also serves the account's pending forced withdrawal request.
    function claimWithdrawal(
        uint64 batchId,
        uint256 withdrawalId,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) external nonReentrant {
        bytes32 root = withdrawalsRoots[batchId];
        if (root == bytes32(0)) revert UnknownBatch(batchId);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(withdrawalId, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof();
        uint256 word = withdrawalId >> 8;
        uint256 bit = 1 << (withdrawalId & 0xff);
        uint256 bits = _claimedBits[word];
        if (bits & bit != 0) revert AlreadyClaimed(withdrawalId);
        _claimedBits[word] = bits | bit;
        if (forcedRequestedAt[account] != 0) {
            delete forcedRequestedAt[account];
            emit ForcedWithdrawalServed(account);
        }
        emit WithdrawalClaimed(withdrawalId, account, amount, batchId);
        _push(account, amount);
    }

    /// @notice Return whether the withdrawal with this id has been paid.
    function isClaimed(uint256 withdrawalId) external view returns (bool) {
        return _claimedBits[withdrawalId >> 8] & (1 << (withdrawalId & 0xff)) != 0;
    }

    // --- escape hatch -------------------------------------------------------------------------

    /// @notice Ask the operator to pay out the caller's balance; unserved, it opens `freeze`.
    function requestForcedWithdrawal() external whenNotFrozen {
        if (forcedRequestedAt[msg.sender] != 0) revert ForcedRequestPending(msg.sender);
        forcedRequestedAt[msg.sender] = block.timestamp;
        emit ForcedWithdrawalRequested(msg.sender, block.timestamp);
    }

    /// @notice Freeze the vault because `account`'s forced withdrawal went unserved; anyone may call.
    function freeze(address account) external whenNotFrozen {
        uint256 requestedAt = forcedRequestedAt[account];
        if (requestedAt == 0) revert NoForcedRequest(account);
        uint256 endsAt = requestedAt + gracePeriod;
        if (block.timestamp < endsAt) revert GracePeriodRunning(account, endsAt);
        frozen = true;
        emit Frozen(msg.sender, account);
    }

    /// @notice After a freeze, pay `account` its balance in the latest balances root, once.
    function escape(address account, uint256 amount, bytes32[] calldata proof) external nonReentrant {
        if (!frozen) revert VaultNotFrozen();
        if (escaped[account]) revert AlreadyEscaped(account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, address(token), amount))));
        if (!MerkleProof.verifyCalldata(proof, balancesRoot, leaf)) revert InvalidProof();
        escaped[account] = true;
        emit Escaped(account, amount);
        _push(account, amount);
    }

    /// @notice After a freeze, return a deposit that no committed batch credited, once.
    function reclaimDeposit(uint256 depositId, address account, uint256 amount) external nonReentrant {
        if (!frozen) revert VaultNotFrozen();
        if (depositId <= depositsCredited || depositHashes[depositId] != keccak256(abi.encode(account, amount))) {
            revert DepositNotReclaimable(depositId);
        }
        delete depositHashes[depositId];
        emit DepositReclaimed(depositId, account, amount);
        _push(account, amount);
    }

    // --- token transfers (last, after every effect) -------------------------------------------

    function _pull(address from, uint256 amount) private {
        token.safeTransferFrom(from, address(this), amount);
    }

    function _push(address to, uint256 amount) private {
        if (amount != 0) token.safeTransfer(to, amount);
    }
}
