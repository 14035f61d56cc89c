"""The ``darkpool`` command line (typer + rich).

Start-up stays fast: concrete, torch, web3 and FastAPI are imported only inside the commands that
use them, so ``darkpool --help`` and ``darkpool clear --engine reference`` never load them.
"""

from __future__ import annotations

import enum
import sys
import warnings
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from darkpool.errors import DarkPoolError
from darkpool.exitstatus import run_keeping_status

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
client_app = typer.Typer(help="Institution verbs: keys, balances, orders, withdrawals, proofs.", no_args_is_help=True)
app.add_typer(client_app, name="client")

OperatorUrl = Annotated[str, typer.Option("--operator", envvar="DARKPOOL_OPERATOR_URL", help="Operator base URL.")]
KeyFile = Annotated[str, typer.Option("--key", envvar="DARKPOOL_KEY", help="Path of the account's key file.")]
RpcUrl = Annotated[str, typer.Option("--rpc", envvar="DARKPOOL_RPC_URL", help="JSON-RPC URL of the chain.")]
Overrides = Annotated[
    list[str] | None, typer.Option("--set", help="Setting override KEY=VALUE (repeatable); env DARKPOOL_* also works.")
]


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
    from darkpool.audit.tree import audit_tree

    try:
        root = audit_tree(dump)
    except DarkPoolError as exc:
        _fail(str(exc), status=1)
    typer.echo(root)


@audit_app.command("run")
def audit_run_command(
    operator: OperatorUrl,
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain (for roots and vault holdings).")] = None,
    vault: Annotated[str | None, typer.Option(help="Vault contract address (default: the operator's).")] = None,
    custodian: Annotated[str | None, typer.Option(help="Key custodian base URL (for its decryption log).")] = None,
    json_path: Annotated[Path, typer.Option("--json", help="Where to write the JSON report.")] = Path("audit.json"),
    png_path: Annotated[Path, typer.Option("--png", help="Where to draw demand/supply curves.")] = Path("audit.png"),
) -> None:
    """Audit an operator from public data; exit non-zero on any failed check."""
    from darkpool.audit.command import audit_command

    try:
        status = audit_command(operator, rpc_url=rpc, vault=vault, custodian_url=custodian,
                               json_path=json_path, png_path=png_path)
    except DarkPoolError as exc:
        _fail(str(exc), status=1)
    raise typer.Exit(status)


@audit_app.command("watch")
def audit_watch_command(
    rpc: RpcUrl,
    vault: Annotated[str | None, typer.Option(help="Vault contract address (default: the operator's).")] = None,
    operator: Annotated[str | None, typer.Option("--operator", envvar="DARKPOOL_OPERATOR_URL",
                                                 help="Operator base URL (its published batches are checked).")] = None,
    key_file: Annotated[Path | None, typer.Option(
        "--key-file", help="0600 file with the auditor's private key in hex (or DARKPOOL_AUDITOR_KEY_FILE, "
                           "DARKPOOL_AUDITOR_KEY).")] = None,
    poll: Annotated[float, typer.Option(help="Seconds between polls of the chain.")] = 2.0,
    margin: Annotated[int, typer.Option(help="Veto a batch that cannot be checked this many seconds before its "
                                             "window ends.")] = 60,
    max_polls: Annotated[int | None, typer.Option(help="Stop after this many polls (default: until frozen).")] = None,
) -> None:
    """Follow the vault: audit each new batch inside its challenge window, veto it when a check fails.

    Prints one JSON line per batch judged; exits 0 once the vault is frozen.
    """
    from darkpool.audit.command import watch_command

    try:
        status = watch_command(rpc, operator_url=operator, vault=vault, key_file=key_file, poll_s=poll,
                               margin_s=margin, max_polls=max_polls)
    except DarkPoolError as exc:
        _fail(str(exc), status=1)
    raise typer.Exit(status)


def _overrides(pairs: list[str] | None, env_prefix: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            _fail(f"--set expects KEY=VALUE, got {pair!r}")
        # ``token`` is the collateral token's address and a ``*_token_file`` a path: neither is secret.
        if "token" in key and key != "token" and not key.endswith("_file"):
            _fail(f"--set {key}: tokens are never taken from the command line (every local user can read "
                  f"a process's arguments); set {env_prefix}{key.upper()} or --set {key}_file=PATH (a 0600 file)")
        result[key] = value
    return result


@app.command()
def serve(overrides: Overrides = None) -> None:
    """Run the operator service (FastAPI); settings from DARKPOOL_* and --set KEY=VALUE (tokens: env or file)."""
    import pydantic

    from darkpool.web.serve import serve_operator

    settings = _overrides(overrides, "DARKPOOL_")
    try:
        serve_operator(**settings)
    except (DarkPoolError, pydantic.ValidationError) as exc:
        _fail(str(exc))


@app.command()
def custodian(overrides: Overrides = None) -> None:
    """Run the key custodian service; settings from DARKPOOL_CUSTODIAN_* and --set KEY=VALUE (tokens: env or file)."""
    import pydantic

    from darkpool.web.serve import serve_custodian

    settings = _overrides(overrides, "DARKPOOL_CUSTODIAN_")
    try:
        serve_custodian(**settings)
    except (DarkPoolError, pydantic.ValidationError) as exc:
        _fail(str(exc))


@app.command()
def verifier(overrides: Overrides = None) -> None:
    """Run a verifier (re-evaluates FHE rounds, signs them); settings from DARKPOOL_VERIFIER_* and --set KEY=VALUE."""
    import pydantic

    from darkpool.web.serve import serve_verifier

    settings = _overrides(overrides, "DARKPOOL_VERIFIER_")
    try:
        serve_verifier(**settings)
    except (DarkPoolError, pydantic.ValidationError) as exc:
        _fail(str(exc))


def _print_json(data: object) -> None:
    import json

    typer.echo(json.dumps(data, indent=2))


def _client_call(fn_name: str, *args: object, **kwargs: object) -> None:
    from darkpool.sdk import commands

    try:
        _print_json(getattr(commands, fn_name)(*args, **kwargs))
    except DarkPoolError as exc:
        _fail(str(exc), status=1)


@client_app.command("key")
def client_key(path: Annotated[str, typer.Argument(help="Where to write the new key file.")]) -> None:
    """Create an account key file and print its address."""
    _client_call("key_create", path)


@client_app.command("balance")
def client_balance(operator: OperatorUrl, key: KeyFile) -> None:
    """Show the account's collateral balance and positions."""
    _client_call("balance", operator, key)


@client_app.command("fills")
def client_fills(operator: OperatorUrl, key: KeyFile) -> None:
    """List the account's fills."""
    _client_call("fills", operator, key)


@client_app.command("margin")
def client_margin(operator: OperatorUrl, key: KeyFile) -> None:
    """Show the account's margin: equity, initial and maintenance, free collateral."""
    _client_call("margin", operator, key)


@client_app.command("commit")
def client_commit(
    operator: OperatorUrl, key: KeyFile,
    round_id: Annotated[int, typer.Option("--round")],
    instrument: Annotated[str, typer.Option()],
    side: Annotated[str, typer.Option(help="buy or sell")],
    limit_ticks: Annotated[int, typer.Option("--limit")],
    quantity_lots: Annotated[int, typer.Option("--quantity")],
    ticket: Annotated[str, typer.Option(help="File that keeps the order and its secret salt for the reveal.")],
    bond: Annotated[int, typer.Option(help="Bond in token base units.")] = 0,
) -> None:
    """Commit a sealed order in a commit-reveal round."""
    _client_call("commit", operator, key, round_id, instrument, side, limit_ticks, quantity_lots, ticket, bond)


@client_app.command("reveal")
def client_reveal(operator: OperatorUrl, key: KeyFile, ticket: Annotated[str, typer.Option()]) -> None:
    """Reveal a committed order from its ticket."""
    _client_call("reveal", operator, key, ticket)


@client_app.command("deposit")
def client_deposit(operator: OperatorUrl, key: KeyFile, rpc: RpcUrl,
                   amount: Annotated[int, typer.Argument(help="Token base units.")]) -> None:
    """Approve and deposit collateral into the vault on chain."""
    _client_call("deposit", operator, key, rpc, amount)


@client_app.command("withdraw")
def client_withdraw(operator: OperatorUrl, key: KeyFile,
                    amount: Annotated[int, typer.Argument(help="Token base units.")]) -> None:
    """Request a withdrawal for the next batch."""
    _client_call("withdraw", operator, key, amount)


@client_app.command("claim")
def client_claim(operator: OperatorUrl, key: KeyFile, rpc: RpcUrl,
                 withdrawal_id: Annotated[int, typer.Argument()]) -> None:
    """Claim a committed withdrawal on chain with its Merkle proof."""
    _client_call("claim", operator, key, rpc, withdrawal_id)


@client_app.command("verify")
def client_verify(operator: OperatorUrl, key: KeyFile,
                  rpc: Annotated[str | None, typer.Option(help="Check against the chain's roots.")] = None) -> None:
    """Verify the account's inclusion in every committed batch."""
    _client_call("verify", operator, key, rpc)


@app.command()
def demo(
    chain: Annotated[str, typer.Option(help="Chain to settle on: 'embedded' (py-evm) or 'anvil'.")] = "embedded",
) -> None:
    """Run the whole flow on embedded defaults and print what was verified."""
    from darkpool.demo.script import run_demo

    try:
        run_demo(chain=chain)
    except DarkPoolError as exc:
        _fail(str(exc), status=1)


def main() -> None:
    """Console-script entry point."""
    # concrete-python imports pkg_resources (setuptools<81 is pinned for it); its deprecation
    # notices say nothing to a darkpool user.
    warnings.filterwarnings("ignore", message=r".*pkg_resources", category=UserWarning)
    warnings.filterwarnings("ignore", message=r".*declare_namespace", category=DeprecationWarning)
    run_keeping_status(app)


if __name__ == "__main__":  # pragma: no cover
    main()
