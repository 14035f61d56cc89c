// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title The read side of Chainlink's AggregatorV3Interface, as the operator consumes it.
interface AggregatorV3Interface {
    function decimals() external view returns (uint8);

    function description() external view returns (string memory);

    function version() external view returns (uint256);

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80 roundId_, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}

/// @title A price feed whose owner posts answers, for tests and the demo. Never use it for value.
/// @notice Behaves as a Chainlink aggregator reads: rounds numbered from 1, each answer stamped with
///         the block time it was posted (or a chosen time, to test staleness).
contract MockAggregator is AggregatorV3Interface {
    struct Answer {
        int256 answer;
        uint256 updatedAt;
    }

    address public immutable owner;
    uint8 public immutable override decimals;
    string private _description;
    uint80 private _latest;
    mapping(uint80 roundId => Answer) private _answers;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    error NotOwner(address caller);
    error NoSuchRound(uint80 roundId);
    error ZeroAddress();

    constructor(address owner_, uint8 decimals_, string memory description_) {
        if (owner_ == address(0)) revert ZeroAddress();
        owner = owner_;
        decimals = decimals_;
        _description = description_;
    }

    /// @notice Post `answer` as a new round, stamped `updatedAt` (0: this block's time).
    function postAnswer(int256 answer, uint256 updatedAt) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        uint80 roundId = _latest + 1;
        uint256 stamp = updatedAt == 0 ? block.timestamp : updatedAt;
        _answers[roundId] = Answer(answer, stamp);
        _latest = roundId;
        emit AnswerUpdated(answer, roundId, stamp);
    }

    function description() external view override returns (string memory) {
        return _description;
    }

    function version() external pure override returns (uint256) {
        return 4;
    }

    function getRoundData(uint80 roundId) public view override returns (uint80, int256, uint256, uint256, uint80) {
        Answer memory found = _answers[roundId];
        if (roundId == 0 || roundId > _latest) revert NoSuchRound(roundId);
        return (roundId, found.answer, found.updatedAt, found.updatedAt, roundId);
    }

    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(_latest);
    }
}
