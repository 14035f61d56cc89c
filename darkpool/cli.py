"""The ``darkpool`` command line (typer + rich).

Start-up stays fast: concrete, torch, web3 and FastAPI are imported only inside the commands that
use them, so ``darkpool --help`` and ``darkpool clear --engine reference`` never load them.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from darkpool.errors import DarkPoolError

__all__ = ["app", "main"]

app = typer.Typer(
    name="darkpool",
    help="A privacy-preserving dark pool: encrypted and commit-reveal batch auctions with on-chain settlement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
audit_app = typer.Typer(help="Verify the operator's commitments from public data.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


class Engine(enum.StrEnum):
    reference = "reference"
    vectorized = "vectorized"
    fhe = "fhe"
    commit_reveal = "commit-reveal"


def _fail(message: str, status: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(status)


def _read_input(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")


@app.command()
def clear(
    file: Annotated[str, typer.Argument(help="Round JSON (DESIGN.md §2), or - for standard input.")],
    engine: Annotated[Engine, typer.Option(help="Clearing engine.")] = Engine.reference,
    simulate: Annotated[bool, typer.Option(help="FHE engine: use concrete's simulation, not encryption.")] = False,
) -> None:
    """Clear one round and print the result JSON on standard output."""
    from darkpool.clearing import clear_reference, clear_vectorized, dump_result, load_round

    try:
        round_, orders = load_round(_read_input(file))
    except DarkPoolError as exc:
        _fail(str(exc))
    if simulate and engine is not Engine.fhe:
        _fail("--simulate applies to --engine fhe only")
    try:
        if engine is Engine.reference:
            result = clear_reference(round_, orders)
        elif engine is Engine.vectorized:
            result = clear_vectorized(round_, orders)
        elif engine is Engine.fhe:
            from fhe import clear_fhe

            result = clear_fhe(round_, orders, simulate=simulate, progress=sys.stderr.isatty())
        else:
            from commit_reveal import clear_commit_reveal

            result = clear_commit_reveal(round_, orders)
    except DarkPoolError as exc:
        _fail(str(exc))
    typer.echo(dump_result(result))


@audit_app.command("tree")
def audit_tree_command(
    dump: Annotated[Path, typer.Argument(help="An OpenZeppelin standard-v1 tree dump (JSON).")],
) -> None:
    """Recompute every leaf and node of a tree dump; print its root on the last line."""
    from darkpool.audit_tree import audit_tree

    try:
        root = audit_tree(dump)
    except DarkPoolError as exc:
        _fail(str(exc), status=1)
    typer.echo(root)


@app.command()
def demo(
    chain: Annotated[str, typer.Option(help="Chain to settle on: 'embedded' (py-evm) or 'anvil'.")] = "embedded",
) -> None:
    """Run the whole flow on embedded defaults and print what was verified."""
    from darkpool.demo import run_demo

    try:
        run_demo(chain=chain)
    except DarkPoolError as exc:
        _fail(str(exc), status=1)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
