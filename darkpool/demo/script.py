"""``darkpool demo``: run the flow on embedded defaults and print what was verified."""

from __future__ import annotations

import random

from rich.console import Console
from rich.table import Table

from darkpool.clearing import clear_reference, clear_vectorized, curves
from darkpool.domain import Lots, Order, OrderId, Round, Side, Ticks
from darkpool.errors import DarkPoolError, ReplayedMessage

__all__ = ["run_demo", "sample_round"]


def sample_round(seed: int = 7, n_orders: int = 12) -> tuple[Round, list[Order]]:
    """A deterministic ETH-PERP round around 3000.00 with 8 levels."""
    rng = random.Random(seed)
    round_ = Round("ETH-PERP", Ticks(300_000), Ticks(299_996), 8)
    orders = [
        Order(
            OrderId(f"o{i}"),
            rng.choice((Side.BUY, Side.SELL)),
            Ticks(rng.randint(299_993, 300_006)),
            Lots(rng.randint(1, 40)),
            i,
        )
        for i in range(n_orders)
    ]
    return round_, orders


def _verified(console: Console, what: str) -> None:
    console.print(f"[green]✓[/green] {what}")


def _clearing_step(console: Console) -> None:
    round_, orders = sample_round()
    result = clear_reference(round_, orders)
    if clear_vectorized(round_, orders) != result:
        raise DarkPoolError("vectorized engine disagrees with the reference engine")
    table = Table(title=f"{round_.instrument} round: band {round_.band_low_ticks}..{round_.band_high_ticks}")
    for column in ("price", "demand", "supply", "volume"):
        table.add_column(column, justify="right")
    for c in curves(round_, orders):
        style = "bold" if c.price_ticks == result.price_ticks else ""
        table.add_row(*(str(x) for x in c), style=style)
    console.print(table)
    buys = sum(q for o, q in zip(orders, result.fills.values(), strict=True) if o.side is Side.BUY)
    sells = sum(q for o, q in zip(orders, result.fills.values(), strict=True) if o.side is Side.SELL)
    if not buys == sells == result.volume_lots:
        raise DarkPoolError("fills do not net to the volume")
    _verified(console, f"reference and vectorized engines agree: {result.volume_lots} lots at "
                       f"{result.price_ticks} ticks; buy fills = sell fills = volume")


def _signing_step(console: Console) -> None:
    from eth_account import Account

    from commit_reveal import CommitmentScheme, Reveal, Salt
    from darkpool.domain import Lots, Ticks
    from darkpool.signing import Commitment, SigningDomain, Verifier, sign

    key = Account.from_key(bytes(range(1, 33)))
    domain = SigningDomain(chain_id=31337, verifying_contract="0x" + "5e" * 20)
    sealed = CommitmentScheme("ETH-PERP", 1).commitment(
        Reveal(key.address, 1, Side.BUY, Ticks(300_001), Lots(10), Salt(bytes(range(32)))))
    order = Commitment(account=key.address, instrument="ETH-PERP", round_id=1, commitment=sealed, bond=0, nonce=1,
                       expiry=2_000_000_000)
    signed = sign(order, domain, key.key)
    verifier = Verifier(domain, clock=lambda: 1_900_000_000)
    signer = verifier.verify(signed)
    try:
        verifier.verify(signed)
    except ReplayedMessage:
        pass
    else:
        raise DarkPoolError("a replayed order was accepted")
    _verified(console, f"EIP-712 order commitment signed by {signer} verified; its replay rejected")


def run_demo(chain: str = "embedded") -> None:
    """Run every step that exists and print a check mark per verified property."""
    if chain not in ("embedded", "anvil"):
        raise DarkPoolError(f"chain must be 'embedded' or 'anvil', got {chain!r}")
    from darkpool.demo.flow import run_full_flow

    console = Console()
    console.rule("darkpool demo: engines and signatures")
    _clearing_step(console)
    _signing_step(console)
    verified = run_full_flow(console, chain=chain)
    console.rule(f"all checks passed: {len(verified) + 2} statements verified")
