// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Test} from "forge-std/Test.sol";
import {MockAggregator} from "../src/MockAggregator.sol";

contract MockAggregatorTest is Test {
    MockAggregator internal feed;
    address internal owner = makeAddr("owner");

    function setUp() public {
        feed = new MockAggregator(owner, 8, "ETH / USD");
    }

    function test_postAnswer_whenOwner_thenLatestRoundHasItStampedNow() public {
        vm.warp(1_000_000);
        vm.prank(owner);
        feed.postAnswer(3000e8, 0);
        (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredIn) = feed.latestRoundData();
        assertEq(roundId, 1);
        assertEq(answer, 3000e8);
        assertEq(startedAt, 1_000_000);
        assertEq(updatedAt, 1_000_000);
        assertEq(answeredIn, 1);
        assertEq(feed.decimals(), 8);
    }

    function test_postAnswer_whenNotOwner_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(MockAggregator.NotOwner.selector, address(this)));
        feed.postAnswer(1, 0);
    }

    function test_getRoundData_whenNoRound_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(MockAggregator.NoSuchRound.selector, uint80(0)));
        feed.latestRoundData();
    }

    function test_describe_whenRead_thenDescriptionVersionAndDecimalsOfTheFeed() public view {
        assertEq(feed.description(), "ETH / USD");
        assertEq(feed.version(), 4);
        assertEq(feed.decimals(), 8);
        assertEq(feed.owner(), owner);
    }

    function test_getRoundData_whenPastRound_thenItsOwnAnswerAndStampAndBeyondLatestReverts() public {
        vm.startPrank(owner);
        feed.postAnswer(3000e8, 100);
        feed.postAnswer(2900e8, 200);
        vm.stopPrank();
        (uint80 roundId, int256 answer,, uint256 updatedAt, uint80 answeredIn) = feed.getRoundData(1);
        assertEq(roundId, 1);
        assertEq(answer, 3000e8);
        assertEq(updatedAt, 100);
        assertEq(answeredIn, 1);
        vm.expectRevert(abi.encodeWithSelector(MockAggregator.NoSuchRound.selector, uint80(3)));
        feed.getRoundData(3);
    }

    function test_constructor_whenZeroOwner_reverts() public {
        vm.expectRevert(MockAggregator.ZeroAddress.selector);
        new MockAggregator(address(0), 8, "ETH / USD");
    }

    function testFuzz_postAnswer_keepsEveryRound(int256 first, int256 second, uint32 stamp) public {
        vm.startPrank(owner);
        feed.postAnswer(first, uint256(stamp) + 1);
        feed.postAnswer(second, 0);
        vm.stopPrank();
        (, int256 a,, uint256 at,) = feed.getRoundData(1);
        assertEq(a, first);
        assertEq(at, uint256(stamp) + 1);
        (uint80 latest, int256 b,,,) = feed.latestRoundData();
        assertEq(latest, 2);
        assertEq(b, second);
    }
}
