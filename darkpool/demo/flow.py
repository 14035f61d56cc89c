"""The whole flow of ``darkpool demo``: deposits, rounds, margin caps, settlement, withdrawal, audit.

:func:`run_full_flow` runs everything on loopback: a chain (py-evm in process, or anvil), the
settlement contracts, the operator (and the key custodian for FHE rounds) as uvicorn servers on
free 127.0.0.1 ports, and three institutions using the SDK. It returns the statements it
verified; any failed verification raises.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from darkpool.domain import Side
from darkpool.errors import DarkPoolError

__all__ = ["run_full_flow"]

ADMIN_TOKEN_BYTES = 24
DEPOSITS = (10**11, 10**11, 5 * 10**8)
"""Token base units (6 decimals): 100,000, 100,000 and 500 mUSD."""
FHE_MAX_LOTS = 63
"""Largest FHE order in lots: three base-4 quantity digits keep the demo's circuit small."""
FUNDING_INTERVAL_S = 3
"""The demo's perpetual funding interval (8 h in production), so a payment happens while it runs."""
OPTION_LIFE_S = 60
"""The demo lists its ETH options this long before they expire: traded early, settled at the end."""


@contextmanager
def _chain(kind: str) -> Iterator[Any]:
    from darkpool.settlement import embedded_chain, start_anvil

    if kind == "embedded":
        yield embedded_chain()
    elif kind == "anvil":
        with start_anvil() as chain:
            yield chain
    else:
        raise DarkPoolError(f"chain must be 'embedded' or 'anvil', got {kind!r}")


class _Flow:
    def __init__(self, console: Console, chain: Any, out_dir: Path) -> None:
        self.console = console
        self.chain = chain
        self.out_dir = out_dir
        self.verified: list[str] = []

    def ok(self, statement: str) -> None:
        self.verified.append(statement)
        self.console.print(f"[green]✓[/green] {statement}")

    def check(self, condition: bool, statement: str) -> None:
        if not condition:
            raise DarkPoolError(f"demo check failed: {statement}")
        self.ok(statement)


def run_full_flow(console: Console, chain: str = "embedded", out_dir: str | Path | None = None) -> list[str]:
    """Run the whole flow on ``chain`` ("embedded" or "anvil"); return the verified statements."""
    # concrete imports pkg_resources, whose deprecation warnings would only clutter the demo's output.
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    warnings.filterwarnings("ignore", message=".*declare_namespace.*")
    target = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="darkpool-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ExitStack() as stack:
        console.rule(f"darkpool: the whole flow on {chain}")
        node = stack.enter_context(_chain(chain))
        flow = _Flow(console, node, target)
        _run(flow, stack)
    console.rule(f"{len(flow.verified)} statements verified in {time.monotonic() - started:.0f}s; "
                 f"artifacts in {target}")
    return flow.verified


def _run(flow: _Flow, stack: ExitStack) -> None:
    import secrets

    import httpx

    from darkpool.custodian import create_custodian_app
    from darkpool.operator import create_operator_app
    from darkpool.sdk import DarkPoolClient, Identity
    from darkpool.settlement import Vault
    from darkpool.settlement.deploy import deploy, fund_institution
    from darkpool.settlement.oracle import PriceFeed
    from darkpool.verifier import create_verifier_app
    from darkpool.web.serve import ServerThread, free_port
    from darkpool.web.settings import CustodianSettings, OperatorSettings, VerifierSettings

    chain = flow.chain
    d = deploy(chain)
    feed = PriceFeed.deploy(chain, d.operator, "ETH / USD")
    flow.ok(f"vault {d.vault}, collateral token {d.token} and an ETH/USD price feed {feed.address} "
            f"(AggregatorV3Interface) deployed on chain {d.chain_id}")
    names = ("Alpha Capital", "Beta Markets", "Gamma Fund")
    people = [Identity.generate() for _ in names]
    fund_institution(chain, d, [p.address for p in people], max(DEPOSITS))
    admin_token = secrets.token_urlsafe(ADMIN_TOKEN_BYTES)
    custodian_token = secrets.token_urlsafe(ADMIN_TOKEN_BYTES)
    auditor_token = secrets.token_urlsafe(ADMIN_TOKEN_BYTES)
    verifier_token = secrets.token_urlsafe(ADMIN_TOKEN_BYTES)
    with flow.console.status("key custodian and verifier: compiling the 4-slot, 4-level circuit and generating "
                             "keys (cached after the first run)..."):
        custodian_port, operator_port = free_port(), free_port()
        verifier = stack.enter_context(ServerThread(create_verifier_app(VerifierSettings(
            chain_id=d.chain_id, vault=d.vault, operator_token=verifier_token,
            custodian_url=f"http://127.0.0.1:{custodian_port}", key_dir=str(flow.out_dir.resolve() / "verifier-keys"),
            shapes=f"4x4x{FHE_MAX_LOTS}"))))
        verifier_address = httpx.get(f"{verifier.url}/identity").json()["address"]
        custodian = stack.enter_context(ServerThread(create_custodian_app(CustodianSettings(
            chain_id=d.chain_id, vault=d.vault, operator_token=custodian_token, log=str(flow.out_dir / "custodian.log"),
            key_dir=str(flow.out_dir.resolve() / "custodian-keys"), shapes=f"4x4x{FHE_MAX_LOTS}",
            verifiers=verifier_address, epoch_rounds=1, operator_url=f"http://127.0.0.1:{operator_port}")),
            port=custodian_port))
        option_expiry = int(time.time()) + OPTION_LIFE_S
        settings = OperatorSettings(journal=str(flow.out_dir / "journal.db"), chain_id=d.chain_id, vault=d.vault,
                                    token=d.token, operator_address=d.operator, admin_token=admin_token,
                                    auditor_token=auditor_token,
                                    mark_max_age_s=3600, custodian_url=custodian.url,
                                    oracles=f"ETH={feed.address}", funding_interval_s=FUNDING_INTERVAL_S,
                                    option_expiry=option_expiry,
                                    custodian_token=custodian_token, fhe_max_quantity=FHE_MAX_LOTS,
                                    fhe_shapes="4x4", data_dir=str(flow.out_dir / "operator-data"),
                                    verifier_urls=verifier.url, verifier_token=verifier_token,
                                    secrets_dir=str(flow.out_dir.resolve() / "operator-secrets"))
        server = stack.enter_context(ServerThread(create_operator_app(settings, chain=chain), port=operator_port))
    flow.ok(f"key custodian on {custodian.url} (holds the FHE secret key); operator on {server.url} (evaluation "
            f"keys only; journal: SQLite WAL at {settings.journal}); verifier {verifier_address} on {verifier.url} "
            "(re-evaluates every FHE round; the custodian decrypts only what it attests)")
    admin = stack.enter_context(DarkPoolClient(server.url, admin_token=admin_token))
    clients = [stack.enter_context(DarkPoolClient(server.url, who, custodian=custodian.url)) for who in people]

    vault = Vault(chain, d.vault)
    for who, amount in zip(people, DEPOSITS, strict=True):
        vault.deposit(who, amount, approve=True)
    credited = admin.admin("POST", "/admin/deposits/sync")["credited"]
    balances = [c.balance()["balance"] for c in clients]
    flow.check(credited == 3 and balances == list(DEPOSITS),
               f"three institutions deposited on chain; the operator credited {credited} Deposited events "
               f"({', '.join(f'{n}: {b / 1e6:,.0f} mUSD' for n, b in zip(names, balances, strict=True))})")
    feed.post(d.operator, 3000.0, int(time.time()))
    flow.check(admin.admin("POST", "/admin/oracle/pull") == {"ETH": "ok"},
               "the operator read ETH at 3,000 from the on-chain price feed and journaled it as the mark")

    _fhe_perp_round(flow, admin, clients, names, server)
    _commit_reveal_option_round(flow, admin, clients, names, option_expiry)
    _commit_reveal_perp_round(flow, admin, clients)
    _oracle_funding_and_liquidation(flow, admin, clients, names, feed, d.operator)
    _option_expiry(flow, admin, clients, names, feed, d.operator, option_expiry)

    batch = admin.admin("POST", "/batches")
    on_chain = vault.committed_batches()
    flow.check(on_chain[-1].balances_root == batch["balances_root"]
               and on_chain[-1].journal_head == batch["journal_head"],
               f"batch {batch['batch_id']} settled on chain (tx {batch['tx'][:12]}...): balances, fills and "
               f"withdrawals roots and journal head {batch['journal_head'][:12]}... match the BatchCommitted event")

    amount = 25_000 * 10**6
    wid = clients[1].withdraw(amount)
    batch2 = admin.admin("POST", "/batches")
    proof = next(w for b in clients[1].proofs() for w in b["withdrawals"] if w["withdrawal_id"] == wid)
    window = vault.challenge_window()
    chain.advance_time(window)  # the demo's chain skips ahead; no auditor vetoed, so batch 2 becomes final
    flow.ok(f"batch {batch2['batch_id']}'s {window // 3600} h challenge window passed without a veto: it is final, "
            "so its withdrawals can be claimed")
    before = vault.token().balance_of(people[1].address)
    vault.claim_withdrawal(people[1], batch2["batch_id"], wid, people[1].address, proof["amount"], proof["proof"])
    flow.check(vault.token().balance_of(people[1].address) - before == amount,
               f"{names[1]} withdrew {amount / 1e6:,.0f} mUSD on chain with a Merkle proof against batch "
               f"{batch2['batch_id']}'s withdrawals root")

    on_chain = vault.committed_batches()
    for name, client in zip(names, clients, strict=True):
        statements = client.verify_inclusion(on_chain)
        flow.check(bool(statements), f"{name} verified its own inclusion in every batch: {'; '.join(statements)}")

    from darkpool.audit import run_audit

    public = run_audit(server.url, w3=chain.w3, custodian=custodian.url)
    flow.check(public.ok, f"public audit (no token: private entries by digest, roots, FHE aggregates) passed "
                          f"{sum(1 for c in public.checks if c.ok)} checks")
    report = run_audit(server.url, w3=chain.w3, custodian=custodian.url, json_path=flow.out_dir / "audit.json",
                       png_path=flow.out_dir / "curves.png", auditor_token=auditor_token)
    report.render(flow.console)
    flow.check(report.ok, f"audit passed ({sum(1 for c in report.checks if c.ok)} checks; report "
                          f"{flow.out_dir / 'audit.json'}, curves {flow.out_dir / 'curves.png'})")


def _option_reference_ticks(expiry: int) -> int:
    from darkpool.margin import option_value
    from darkpool.operator.instruments import DEFAULT_VOLS

    years = max(expiry - time.time(), 1.0) / (365 * 86_400)
    value = float(option_value(3000.0, 3000.0, years, DEFAULT_VOLS["ETH-3000-C"], 0.0, True))
    return round(value / 0.01)


def _fhe_perp_round(flow: _Flow, admin: Any, clients: list[Any], names: tuple[str, ...], server: Any) -> None:
    import re

    rid = admin.admin("POST", "/rounds", {"mode": "fhe", "instrument": "ETH-PERP", "reference_ticks": 300_000,
                                          "band_low_ticks": 299_998, "levels": 4, "slot_count": 4})["round_id"]
    # Alpha buys twice (the second below every sell, so it never fills), Beta and Gamma sell.
    orders = [(0, Side.BUY, 300_001, 40), (1, Side.SELL, 299_999, 25), (2, Side.SELL, 300_000, 30),
              (0, Side.BUY, 299_994, 17)]
    tickets = [(who, clients[who].fhe_order(rid, "ETH-PERP", side, limit, qty)) for who, side, limit, qty in orders]
    flow.ok(f"FHE round {rid} (ETH-PERP, 4 levels): {len(tickets)} orders masked with per-slot masks each client "
            f"fetched from the custodian; the operator holds only masked digits and Enc(R)")
    with flow.console.status("operator: evaluating the round homomorphically; custodian: decrypting its outputs..."):
        started = time.monotonic()
        cleared = admin.admin("POST", f"/rounds/{rid}/clear")
        seconds = time.monotonic() - started
    result = cleared["result"]
    positions = [c.positions().get("ETH-PERP", 0) for c in clients]
    flow.check(result["volume_lots"] == 40 and result["price_ticks"] == 300_000 and positions == [40, -25, -15],
               f"FHE round {rid} cleared in {seconds:.0f}s: {result['volume_lots']} lots at {result['price_ticks']} "
               f"ticks (equal to the reference engine); fills booked with the sides the circuit output (filled "
               f"slots only, no client action), positions {positions}")
    journal = "\n".join(e["payload"] for e in admin.admin("GET", "/audit/journal?limit=10000"))
    tokens = set(re.findall(r"(?<![0-9A-Za-z])[0-9]+(?![0-9A-Za-z])", journal))
    flow.check(not tokens & {"299994", "17"} and result["fills"][f"{clients[0].address}:{rid}:3"] == 0,
               f"{names[0]}'s unfilled FHE order (limit 299994, 17 lots) appears nowhere in the operator's journal")


def _wait_for(admin: Any, rid: int, deadline: str) -> None:
    """Sleep until the round's published ``deadline`` (its schedule binds the operator too)."""
    time.sleep(max(0.0, admin.admin("GET", f"/rounds/{rid}")[deadline] - time.time() + 0.05))


def _commit_reveal_option_round(flow: _Flow, admin: Any, clients: list[Any], names: tuple[str, ...],
                                expiry: int) -> None:
    reference = _option_reference_ticks(expiry)
    rid = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-3000-C",
                                          "reference_ticks": reference, "band_low_ticks": reference - 8,
                                          "levels": 16, "commit_s": 2, "reveal_s": 2})["round_id"]
    orders = [(Side.BUY, reference + 6, 180), (Side.SELL, reference - 2, 60), (Side.SELL, reference - 4, 150)]
    tickets = [c.commit_order(rid, "ETH-3000-C", side, limit, qty, bond=10**6)
               for c, (side, limit, qty) in zip(clients, orders, strict=True)]
    _wait_for(admin, rid, "commit_closes_at")
    sealed = admin.admin("POST", f"/rounds/{rid}/seal")
    summary = admin.admin("GET", f"/rounds/{rid}")
    flow.ok(f"commit-reveal round {rid} (ETH-3000-C call options): 3 sealed commitments; root "
            f"{summary['commitments_root'][:12]}... posted on chain before reveals (journal seq {sealed['seq']})")
    for c, t in zip(clients, tickets, strict=True):
        c.reveal(t)
    cleared = admin.admin("POST", f"/rounds/{rid}/clear")
    published = next(r for r in admin.admin("GET", "/audit/rounds") if r["round_id"] == rid)
    gamma = next(r for r in published["reveals"] if r["account"] == clients[2].address)
    flow.check(gamma["capped_quantity_lots"] < gamma["quantity_lots"],
               f"margin cap applied: {names[2]}'s short call of {gamma['quantity_lots']} lots was capped to "
               f"{gamma['capped_quantity_lots']} lots by portfolio margin on its 500 mUSD")
    result = cleared["result"]
    positions = [c.positions().get("ETH-3000-C", 0) for c in clients]
    flow.check(result["volume_lots"] > 0 and sum(positions) == 0,
               f"round {rid} cleared {result['volume_lots']} lots at {result['price_ticks']} ticks; positions "
               f"{positions} net to zero")
    margin = clients[2].margin()
    flow.check(margin["free_collateral"] >= 0,
               f"{names[2]} stays within margin after its capped fill: equity {margin['equity'] / 1e6:,.2f}, "
               f"initial margin {margin['initial_margin'] / 1e6:,.2f} mUSD")


def _oracle_funding_and_liquidation(flow: _Flow, admin: Any, clients: list[Any], names: tuple[str, ...],
                                    feed: Any, owner: str) -> None:
    """A bad feed answer halts ETH; funding is paid at the next interval; a feed move queues a liquidation."""
    feed.post_raw(owner, -1, int(time.time()))
    refused = admin.admin("POST", "/admin/oracle/pull")["ETH"]
    flow.check("not a positive" in refused, f"a non-positive feed answer was refused and halted ETH: {refused}")
    feed.post(owner, 2990.0, int(time.time()))
    admin.admin("POST", "/admin/oracle/pull")
    admin.admin("POST", "/admin/funding")  # each perpetual's funding clock starts
    time.sleep(FUNDING_INTERVAL_S + 1)
    feed.post(owner, 2990.0, int(time.time()))
    admin.admin("POST", "/admin/oracle/pull")
    before = [c.balance()["balance"] for c in clients]
    payments = admin.admin("POST", "/admin/funding")["payments"]
    moved = [c.balance()["balance"] - b for c, b in zip(clients, before, strict=True)]
    perp = next(p for p in payments if p["symbol"] == "ETH-PERP")
    flow.check(sum(moved) == 0 and any(moved),
               f"funding paid on ETH-PERP (traded at {perp['last_price_ticks']} ticks over a 2,990 index: rate "
               f"{perp['rate']:.4%}, {perp['per_lot']} base units per lot, longs to shorts): "
               + ", ".join(f"{n} {m / 1e6:+,.2f} mUSD" for n, m in zip(names, moved, strict=True)) + ", zero-sum")
    feed.post(owner, 2990.0 * 1.22, int(time.time()))
    admin.admin("POST", "/admin/oracle/pull")
    queued = [n for n, c in zip(names, clients, strict=True) if c.margin().get("under_maintenance")]
    flow.check(bool(queued), "the feed moved ETH 22% up; the operator recomputed every account at once: "
               f"{', '.join(queued)} fell under maintenance margin and queued for liquidation (reduce-only orders "
               "join the next round)")


def _option_expiry(flow: _Flow, admin: Any, clients: list[Any], names: tuple[str, ...], feed: Any, owner: str,
                   expiry: int) -> None:
    """The ETH calls expire in the money: cash-settled at the feed's last mark before expiry, positions closed."""
    price = 3150.0
    feed.post(owner, price, int(time.time()))  # ETH falls back before the calls expire
    admin.admin("POST", "/admin/oracle/pull")
    time.sleep(max(0.0, expiry - time.time() + 1))
    before = [c.balance()["balance"] for c in clients]
    held = [c.positions().get("ETH-3000-C", 0) for c in clients]
    feed.post(owner, price + 25, int(time.time()))
    admin.admin("POST", "/admin/oracle/pull")  # a mark after expiry settles every expired instrument
    moved = [c.balance()["balance"] - b for c, b in zip(clients, before, strict=True)]
    left = [c.positions().get("ETH-3000-C", 0) for c in clients]
    rows = list(zip(names, held, moved, strict=True))
    flow.check(any(held) and not any(left) and sum(moved) == 0 and all(m * h > 0 for _, h, m in rows if h),
               f"ETH-3000-C expired in the money at the feed's last mark before expiry, {price:,.1f}: intrinsic "
               f"{price - 3000:,.1f} per ETH less the premium traded, "
               + ", ".join(f"{n} {h:+} lots -> {m / 1e6:+,.2f} mUSD" for n, h, m in rows)
               + "; positions closed, zero-sum")
    try:
        admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-3000-C", "reference_ticks": 60_000,
                                        "band_low_ticks": 59_992, "levels": 16, "commit_s": 2, "reveal_s": 2})
    except DarkPoolError as refused:
        flow.check("expired" in str(refused), f"the expired option takes no more rounds: {refused}")
    else:
        raise DarkPoolError("a round of an expired option was opened")


def _commit_reveal_perp_round(flow: _Flow, admin: Any, clients: list[Any]) -> None:
    rid = admin.admin("POST", "/rounds", {"mode": "commit_reveal", "instrument": "ETH-PERP",
                                          "reference_ticks": 300_000, "band_low_ticks": 299_992,
                                          "levels": 16, "commit_s": 2, "reveal_s": 2})["round_id"]
    orders = [(Side.SELL, 299_998, 40), (Side.BUY, 300_003, 25), (Side.BUY, 300_001, 10)]
    tickets = [c.commit_order(rid, "ETH-PERP", side, limit, qty) for c, (side, limit, qty)
               in zip(clients, orders, strict=True)]
    _wait_for(admin, rid, "commit_closes_at")
    admin.admin("POST", f"/rounds/{rid}/seal")
    for c, t in zip(clients[:2], tickets[:2], strict=True):
        c.reveal(t)
    _wait_for(admin, rid, "reveal_closes_at")  # the third commitment stays closed: its bond forfeits
    result = admin.admin("POST", f"/rounds/{rid}/clear")["result"]
    flow.check(result["volume_lots"] == 25,
               f"commit-reveal round {rid} (ETH-PERP): one commitment left unrevealed and dropped; "
               f"{result['volume_lots']} lots cleared at {result['price_ticks']} ticks")
