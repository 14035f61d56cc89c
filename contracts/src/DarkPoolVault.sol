// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title darkpool settlement vault: one ERC-20 collateral, batch roots, challenge window, escape hatch.
/// @notice The operator keeps balances off chain and commits Merkle roots of them in batches
///         (OpenZeppelin StandardMerkleTree encoding). A batch becomes final only once its
///         challenge window has passed without `vetoThreshold` of the registered auditors vetoing
///         it; a veto that reaches the threshold freezes the vault, so a false root never becomes
///         final. Withdrawal claims, escapes and deposit reclaims use final batches only: funds
///         depend on the operator and `vetoThreshold` auditors colluding, not on the operator alone.
///         Users can always leave: a forced withdrawal request that the operator does not serve
///         within `gracePeriod` lets anyone freeze the vault, after which each account withdraws
///         its balance in the last final batch once, and each deposit that batch did not credit
///         can be taken back once; a deposit still uncredited after `cancelDelay` can be taken
///         back without a freeze.
/// @dev Leaves (each tree has its own types, so a leaf of one cannot pass as a leaf of another):
///      balances    abi.encode(address account, address token, uint256 amount)
///      withdrawals abi.encode(uint256 withdrawalId, address account, uint256 amount)
///      Withdrawal ids are global, so a withdrawal repeated in two batches is still paid once.
///      Batches finalize in order: finalizing batch b makes every earlier batch final too (their
///      windows closed earlier, and a veto would have frozen the vault). A freeze stops the clock:
///      no batch becomes final after it.
contract DarkPoolVault is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice What the vault keeps of a committed batch.
    struct Batch {
        bytes32 balancesRoot;
        bytes32 withdrawalsRoot;
        uint64 committedAt;
        uint64 depositsCredited;
        uint32 vetoMask; // bit i set: auditor i vetoed this batch
        bool vetoed;
    }

    /// @notice A batch as `batches` shows it.
    struct BatchView {
        bytes32 balancesRoot;
        bytes32 withdrawalsRoot;
        uint256 committedAt;
        uint256 finalAt;
        uint256 depositsCredited;
        uint256 vetoes;
        bool vetoed;
        bool isFinal;
    }

    /// @notice Most auditors a vault can register (one bit each in a batch's veto mask).
    uint256 public constant MAX_AUDITORS = 32;

    IERC20 public immutable token;
    address public immutable operator;
    uint256 public immutable gracePeriod;
    uint256 public immutable challengeWindow;
    uint256 public immutable cancelDelay;
    uint256 public immutable vetoThreshold;
    uint256 public immutable auditorCount;
    uint256 public immutable maxForcedRequestsPerBlock;

    /// @notice Latest committed batch id; batches must carry strictly larger ids.
    uint64 public lastBatchId;
    /// @notice Latest final batch id (0 while none is final): escapes and reclaims after a freeze use it.
    uint64 public finalBatchId;
    /// @notice Number of deposits made so far (deposit ids are 1..depositCount).
    uint64 public depositCount;
    /// @notice Once true, no batch, seal, deposit, request, veto or finalization is accepted; escapes open.
    bool public frozen;
    /// @notice Deposits 1..depositsCredited are reflected in the latest committed balances root.
    uint64 public depositsCredited;
    uint64 private _forcedRequestsBlock;
    uint64 private _forcedRequestsInBlock;

    mapping(uint256 batchId => Batch) private _batches;
    /// @notice 1 << index of each registered auditor, 0 for anyone else.
    mapping(address auditor => uint256) public auditorBit;
    /// @notice Commitments root of each sealed commit-reveal round.
    mapping(uint256 roundId => bytes32) public commitmentsRoots;
    /// @notice keccak256(abi.encode(account, amount, depositedAt)) of each deposit, cleared when reclaimed.
    mapping(uint256 depositId => bytes32) public depositHashes;
    /// @notice Time of each account's unserved forced withdrawal request (0 when none).
    mapping(address account => uint256) public forcedRequestedAt;
    /// @notice Whether an account has escaped with its last final balance.
    mapping(address account => bool) public escaped;

    mapping(uint256 word => uint256) private _claimedBits;

    event Deposited(uint256 indexed depositId, address indexed account, uint256 amount, uint256 depositedAt);
    event BatchCommitted(
        uint256 indexed batchId,
        bytes32 balancesRoot,
        bytes32 fillsRoot,
        bytes32 withdrawalsRoot,
        bytes32 journalHead,
        uint256 depositsCredited
    );
    event BatchFinalized(uint256 indexed batchId);
    event VetoCast(uint256 indexed batchId, address indexed auditor, uint256 vetoes);
    event BatchVetoed(uint256 indexed batchId);
    event CommitmentsSealed(uint256 indexed roundId, bytes32 commitmentsRoot);
    event WithdrawalClaimed(uint256 indexed withdrawalId, address indexed account, uint256 amount, uint256 batchId);
    event ForcedWithdrawalRequested(address indexed account, uint256 requestedAt);
    event ForcedWithdrawalServed(address indexed account);
    /// @dev `unservedAccount` is zero when a veto froze the vault.
    event Frozen(address indexed by, address indexed unservedAccount);
    event Escaped(address indexed account, uint256 amount);
    event DepositReclaimed(uint256 indexed depositId, address indexed account, uint256 amount);

    error NotOperator(address caller);
    error NotAuditor(address caller);
    error ZeroAddress();
    error BadConfig(string what);
    error VaultFrozen();
    error VaultNotFrozen();
    error StaleBatchId(uint256 batchId, uint256 lastBatchId);
    error BadDepositsCredited(uint256 depositsCredited, uint256 previous, uint256 depositCount);
    error RoundAlreadySealed(uint256 roundId);
    error ZeroRoot();
    error ZeroAmount();
    error UnknownBatch(uint256 batchId);
    error BatchNotFinal(uint256 batchId);
    error AlreadyFinal(uint256 batchId, uint256 finalBatchId);
    error ChallengeWindowOpen(uint256 batchId, uint256 endsAt);
    error ChallengeWindowClosed(uint256 batchId, uint256 endedAt);
    error AlreadyVetoed(uint256 batchId, address auditor);
    error InvalidProof();
    error AlreadyClaimed(uint256 withdrawalId);
    error AlreadyEscaped(address account);
    error NoFinalBatch();
    error ForcedRequestPending(address account);
    error TooManyForcedRequests(uint256 blockNumber);
    error NoForcedRequest(address account);
    error GracePeriodRunning(address account, uint256 endsAt);
    error DepositNotReclaimable(uint256 depositId);
    error CancelDelayRunning(uint256 depositId, uint256 endsAt);

    modifier onlyOperator() {
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    modifier whenNotFrozen() {
        if (frozen) revert VaultFrozen();
        _;
    }

    modifier nonZero(address account) {
        if (account == address(0)) revert ZeroAddress();
        _;
    }

    /// @param gracePeriod_ how long a forced withdrawal may go unserved; longer than the window,
    ///        so the operator can commit a batch serving it and see it final in time
    /// @param auditors_ the registered auditors (distinct, non-zero, at most MAX_AUDITORS)
    /// @param vetoThreshold_ how many of them must veto a batch to stop it (1..auditors_.length)
    constructor(
        IERC20 token_,
        address operator_,
        uint256 gracePeriod_,
        uint256 challengeWindow_,
        uint256 cancelDelay_,
        address[] memory auditors_,
        uint256 vetoThreshold_,
        uint256 maxForcedRequestsPerBlock_
    ) {
        if (address(token_) == address(0) || operator_ == address(0)) revert ZeroAddress();
        if (challengeWindow_ == 0) revert BadConfig("challengeWindow is 0");
        if (gracePeriod_ <= challengeWindow_) revert BadConfig("gracePeriod not above challengeWindow");
        if (cancelDelay_ == 0) revert BadConfig("cancelDelay is 0");
        if (auditors_.length == 0 || auditors_.length > MAX_AUDITORS) revert BadConfig("auditor count");
        if (vetoThreshold_ == 0 || vetoThreshold_ > auditors_.length) revert BadConfig("vetoThreshold");
        if (maxForcedRequestsPerBlock_ == 0) revert BadConfig("maxForcedRequestsPerBlock is 0");
        for (uint256 i = 0; i < auditors_.length; ++i) {
            address auditor = auditors_[i];
            if (auditor == address(0)) revert ZeroAddress();
            if (auditorBit[auditor] != 0) revert BadConfig("auditor listed twice");
            auditorBit[auditor] = 1 << i;
        }
        token = token_;
        operator = operator_;
        gracePeriod = gracePeriod_;
        challengeWindow = challengeWindow_;
        cancelDelay = cancelDelay_;
        auditorCount = auditors_.length;
        vetoThreshold = vetoThreshold_;
        maxForcedRequestsPerBlock = maxForcedRequestsPerBlock_;
    }

    // --- deposits -----------------------------------------------------------------------------

    /// @notice Move `amount` tokens (approved beforehand) into the vault for the caller.
    function deposit(uint256 amount) external nonReentrant whenNotFrozen returns (uint256 depositId) {
        if (amount == 0) revert ZeroAmount();
        depositId = ++depositCount;
        depositHashes[depositId] = keccak256(abi.encode(msg.sender, amount, block.timestamp));
        emit Deposited(depositId, msg.sender, amount, block.timestamp);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Return a deposit that no final batch credited (after a freeze), or that no committed
    ///         batch credited within `cancelDelay` (without one), to its account, once.
    function reclaimDeposit(uint256 depositId, address account, uint256 amount, uint256 depositedAt)
        external
        nonReentrant
    {
        if (depositHashes[depositId] != keccak256(abi.encode(account, amount, depositedAt))) {
            revert DepositNotReclaimable(depositId);
        }
        if (frozen) {
            if (depositId <= _batches[finalBatchId].depositsCredited) revert DepositNotReclaimable(depositId);
        } else {
            if (depositId <= depositsCredited) revert DepositNotReclaimable(depositId);
            uint256 endsAt = depositedAt + cancelDelay;
            // slither-disable-next-line timestamp
            if (block.timestamp < endsAt) revert CancelDelayRunning(depositId, endsAt);
        }
        delete depositHashes[depositId];
        emit DepositReclaimed(depositId, account, amount);
        token.safeTransfer(account, amount);
    }

    // --- operator -----------------------------------------------------------------------------

    /// @notice Commit a batch: roots of balances, fills and withdrawals, and the journal head.
    ///         It becomes final `challengeWindow` seconds from now unless vetoed.
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
        Batch storage batch = _batches[batchId];
        batch.balancesRoot = balancesRoot_;
        if (withdrawalsRoot != bytes32(0)) batch.withdrawalsRoot = withdrawalsRoot;
        batch.committedAt = uint64(block.timestamp);
        batch.depositsCredited = depositsCredited_;
        emit BatchCommitted(batchId, balancesRoot_, fillsRoot, withdrawalsRoot, journalHead, depositsCredited_);
    }

    /// @notice Seal the commitments root of a commit-reveal round, before its reveals open.
    function sealCommitments(uint256 roundId, bytes32 commitmentsRoot) external onlyOperator whenNotFrozen {
        if (commitmentsRoot == bytes32(0)) revert ZeroRoot();
        if (commitmentsRoots[roundId] != bytes32(0)) revert RoundAlreadySealed(roundId);
        commitmentsRoots[roundId] = commitmentsRoot;
        emit CommitmentsSealed(roundId, commitmentsRoot);
    }

    // --- challenge window ---------------------------------------------------------------------

    /// @notice Veto a batch inside its challenge window (registered auditors, once each per batch).
    ///         The `vetoThreshold`-th veto marks the batch vetoed and freezes the vault.
    function veto(uint64 batchId) external whenNotFrozen {
        uint256 bit = auditorBit[msg.sender];
        if (bit == 0) revert NotAuditor(msg.sender);
        Batch storage batch = _batches[batchId];
        uint256 committedAt = batch.committedAt;
        if (committedAt == 0) revert UnknownBatch(batchId);
        uint256 endsAt = committedAt + challengeWindow;
        // slither-disable-next-line timestamp
        if (block.timestamp >= endsAt || batchId <= finalBatchId) revert ChallengeWindowClosed(batchId, endsAt);
        uint32 mask = batch.vetoMask;
        if (mask & bit != 0) revert AlreadyVetoed(batchId, msg.sender);
        mask |= uint32(bit);
        batch.vetoMask = mask;
        uint256 vetoes = _popcount(mask);
        emit VetoCast(batchId, msg.sender, vetoes);
        if (vetoes >= vetoThreshold) {
            batch.vetoed = true;
            frozen = true;
            emit BatchVetoed(batchId);
            emit Frozen(msg.sender, address(0));
        }
    }

    /// @notice Make `batchId` (and so every earlier batch) final once its window has passed; anyone may call.
    function finalize(uint64 batchId) external whenNotFrozen {
        uint64 current = finalBatchId;
        if (batchId <= current) revert AlreadyFinal(batchId, current);
        _finalize(batchId);
    }

    function _finalize(uint64 batchId) private {
        uint256 committedAt = _batches[batchId].committedAt;
        // An existence test (a committed batch has a non-zero time), not a comparison of times.
        // slither-disable-next-line incorrect-equality
        if (committedAt == 0) revert UnknownBatch(batchId);
        uint256 endsAt = committedAt + challengeWindow;
        // slither-disable-next-line timestamp
        if (block.timestamp < endsAt) revert ChallengeWindowOpen(batchId, endsAt);
        // A vetoed batch froze the vault, and every caller checks `frozen` first: it never gets here.
        finalBatchId = batchId;
        emit BatchFinalized(batchId);
    }

    // --- withdrawals --------------------------------------------------------------------------

    /// @notice Pay a withdrawal committed in a final batch to its account, once; anyone may submit it.
    /// @dev A batch whose window has passed is finalized here first (before a freeze only). A
    ///      claim also serves the account's pending forced withdrawal request.
    function claimWithdrawal(
        uint64 batchId,
        uint256 withdrawalId,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) external nonReentrant nonZero(account) {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(withdrawalId, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, _finalWithdrawalsRoot(batchId), leaf)) revert InvalidProof();
        _spend(withdrawalId);
        if (forcedRequestedAt[account] != 0) {
            delete forcedRequestedAt[account];
            emit ForcedWithdrawalServed(account);
        }
        emit WithdrawalClaimed(withdrawalId, account, amount, batchId);
        if (amount != 0) token.safeTransfer(account, amount);
    }

    /// @dev The withdrawals root of `batchId`, finalizing it first when its window has passed (not after a freeze).
    function _finalWithdrawalsRoot(uint64 batchId) private returns (bytes32 root) {
        Batch storage batch = _batches[batchId];
        if (batch.committedAt == 0) revert UnknownBatch(batchId);
        if (batchId > finalBatchId) {
            if (frozen) revert BatchNotFinal(batchId);
            _finalize(batchId);
        }
        root = batch.withdrawalsRoot;
        if (root == bytes32(0)) revert UnknownBatch(batchId);
    }

    /// @dev Mark a withdrawal id paid (one bit each), or revert if it already was.
    function _spend(uint256 withdrawalId) private {
        uint256 word = withdrawalId >> 8;
        uint256 bit = 1 << (withdrawalId & 0xff);
        uint256 bits = _claimedBits[word];
        if (bits & bit != 0) revert AlreadyClaimed(withdrawalId);
        _claimedBits[word] = bits | bit;
    }

    // --- escape hatch -------------------------------------------------------------------------

    /// @notice Ask the operator to pay out the caller's balance; unserved, it opens `freeze`.
    ///         At most `maxForcedRequestsPerBlock` requests are accepted per block.
    function requestForcedWithdrawal() external whenNotFrozen {
        if (forcedRequestedAt[msg.sender] != 0) revert ForcedRequestPending(msg.sender);
        // The count belongs to one block number: equality is the point, no one can steer it.
        // slither-disable-next-line incorrect-equality
        uint64 inBlock = _forcedRequestsBlock == block.number ? _forcedRequestsInBlock : 0;
        if (inBlock >= maxForcedRequestsPerBlock) revert TooManyForcedRequests(block.number);
        _forcedRequestsBlock = uint64(block.number);
        _forcedRequestsInBlock = inBlock + 1;
        forcedRequestedAt[msg.sender] = block.timestamp;
        emit ForcedWithdrawalRequested(msg.sender, block.timestamp);
    }

    /// @notice Freeze the vault because `account`'s forced withdrawal went unserved; anyone may call.
    function freeze(address account) external whenNotFrozen nonZero(account) {
        uint256 requestedAt = forcedRequestedAt[account];
        if (requestedAt == 0) revert NoForcedRequest(account);
        uint256 endsAt = requestedAt + gracePeriod;
        // Intended: the grace period is measured in time (miners can shift it by seconds, not days).
        // slither-disable-next-line timestamp
        if (block.timestamp < endsAt) revert GracePeriodRunning(account, endsAt);
        frozen = true;
        emit Frozen(msg.sender, account);
    }

    /// @notice After a freeze, pay `account` its balance in the last final batch, once.
    function escape(address account, uint256 amount, bytes32[] calldata proof)
        external
        nonReentrant
        nonZero(account)
    {
        if (!frozen) revert VaultNotFrozen();
        uint64 finalId = finalBatchId;
        if (finalId == 0) revert NoFinalBatch();
        if (escaped[account]) revert AlreadyEscaped(account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(account, address(token), amount))));
        if (!MerkleProof.verifyCalldata(proof, _batches[finalId].balancesRoot, leaf)) revert InvalidProof();
        escaped[account] = true;
        emit Escaped(account, amount);
        if (amount != 0) token.safeTransfer(account, amount);
    }

    // --- views --------------------------------------------------------------------------------

    /// @notice Return what the vault keeps of a batch (all zero for an id never committed).
    function batches(uint256 batchId) external view returns (BatchView memory view_) {
        Batch storage batch = _batches[batchId];
        uint256 committedAt = batch.committedAt;
        view_.balancesRoot = batch.balancesRoot;
        view_.withdrawalsRoot = batch.withdrawalsRoot;
        view_.committedAt = committedAt;
        view_.finalAt = committedAt == 0 ? 0 : committedAt + challengeWindow;
        view_.depositsCredited = batch.depositsCredited;
        view_.vetoes = _popcount(batch.vetoMask);
        view_.vetoed = batch.vetoed;
        view_.isFinal = committedAt != 0 && batchId <= finalBatchId;
    }

    /// @notice Balances root of the last final batch (zero while none is final): what escapes prove against.
    function finalBalancesRoot() external view returns (bytes32) {
        return _batches[finalBatchId].balancesRoot;
    }

    /// @notice Deposits credited by the last final batch: after a freeze, later ones are reclaimable.
    function finalDepositsCredited() external view returns (uint256) {
        return _batches[finalBatchId].depositsCredited;
    }

    /// @notice Return whether the withdrawal with this id has been paid.
    function isClaimed(uint256 withdrawalId) external view returns (bool) {
        return _claimedBits[withdrawalId >> 8] & (1 << (withdrawalId & 0xff)) != 0;
    }

    function _popcount(uint256 mask) private pure returns (uint256 count) {
        while (mask != 0) {
            mask &= mask - 1;
            ++count;
        }
    }
}
