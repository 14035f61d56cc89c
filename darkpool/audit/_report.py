"""The audit report: readable (rich), JSON, and a PNG of the replayable rounds' demand and supply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from darkpool.audit._checks import Check

__all__ = ["AuditReport", "plot_curves"]


@dataclass(frozen=True)
class AuditReport:
    """Every check's outcome; ``ok`` when none failed and at least one passed."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks) and any(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.ok is False]

    def to_json_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_json_dict() for c in self.checks]}

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json_dict(), indent=2) + "\n", encoding="utf-8")

    def render(self, console: Console) -> None:
        table = Table(title="darkpool audit")
        table.add_column("", width=2)
        table.add_column("check")
        table.add_column("detail")
        for c in self.checks:
            mark = "[green]✓[/green]" if c.ok else ("[red]✗[/red]" if c.ok is False else "[yellow]-[/yellow]")
            table.add_row(mark, c.name, c.detail)
        console.print(table)
        console.print("[bold green]audit passed[/bold green]" if self.ok else "[bold red]audit FAILED[/bold red]")


def plot_curves(rounds: list[dict[str, Any]], path: str | Path) -> int:
    """Draw demand and supply of every replayable round into one PNG; return how many rounds were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from darkpool.clearing import curves, parse_round

    drawable = [r for r in rounds if r.get("document")]
    if not drawable:
        return 0
    fig, axes = plt.subplots(1, len(drawable), figsize=(5 * len(drawable), 4), squeeze=False)
    for ax, published in zip(axes[0], drawable, strict=True):
        round_, orders = parse_round(published["document"])
        levels = curves(round_, orders)
        prices = [c.price_ticks for c in levels]
        ax.step(prices, [c.demand_lots for c in levels], where="mid", label="demand D(p)")
        ax.step(prices, [c.supply_lots for c in levels], where="mid", label="supply S(p)")
        price = published["result"]["price_ticks"]
        if price is not None:
            ax.axvline(price, linestyle="--", color="grey",
                       label=f"clearing {price} ({published['result']['volume_lots']} lots)")
        ax.set_title(f"round {published['round_id']} {round_.instrument}")
        ax.set_xlabel("price (ticks)")
        ax.set_ylabel("lots")
        ax.ticklabel_format(useOffset=False, style="plain")
        ax.tick_params(axis="x", labelrotation=45)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return len(drawable)
