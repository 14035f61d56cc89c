"""The auditor's checks: pure functions of :class:`AuditData`, each returning one :class:`Check`."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from darkpool.audit._commitments import commitment_hash, commitments_root
from darkpool.audit._data import AuditData
from darkpool.clearing import clear_reference, parse_round
from darkpool.errors import DarkPoolError
from darkpool.ledger import verify_chain
from darkpool.operator.batches import batch_trees

__all__ = ["ALL_CHECKS", "Check"]


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``ok`` None means it did not apply (nothing to check)."""

    name: str
    ok: bool | None
    detail: str

    def to_json_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def batch_roots(data: AuditData) -> Check:
    """Every published batch's trees recompute to its roots, and equal the roots committed on chain."""
    name = "batch roots recompute and match the chain"
    if not data.batches:
        return Check(name, None, "no batch committed")
    chain = {b["batch_id"]: b for b in data.chain.batches} if data.chain else None
    for record in data.batches:
        trees = batch_trees(record)
        got = (trees.balances_root, trees.fills_root, trees.withdrawals_root)
        want = (record["balances_root"], record["fills_root"], record["withdrawals_root"])
        if got != want:
            return Check(name, False, f"batch {record['batch_id']}: published leaves give roots {got}, not {want}")
        if chain is not None:
            on_chain = chain.get(record["batch_id"])
            if on_chain is None:
                return Check(name, False, f"batch {record['batch_id']} is not on chain")
            for key in ("balances_root", "fills_root", "withdrawals_root", "journal_head", "deposits_credited"):
                if on_chain[key] != record[key]:
                    return Check(name, False, f"batch {record['batch_id']}: {key} on chain {on_chain[key]} "
                                              f"differs from published {record[key]}")
    if chain is not None and len(chain) != len(data.batches):
        return Check(name, False, f"{len(chain)} batches on chain, {len(data.batches)} published")
    where = "published and on chain" if chain is not None else "published (no chain given)"
    return Check(name, chain is not None, f"{len(data.batches)} batch(es) recomputed, {where}")


def fills_net_to_zero(data: AuditData) -> Check:
    """Per round and instrument, bought lots equal sold lots equal the round's volume."""
    name = "fills net to zero per instrument and round"
    net: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in data.batches:
        for f in record["fills"]:
            net[(f["round_id"], f["instrument"])][f["side"]] += f["quantity_lots"]
    volumes = {r["round_id"]: (r["result"] or {}).get("volume_lots", 0) for r in data.round_summaries}
    for (rid, inst), (bought, sold) in net.items():
        if bought != sold:
            return Check(name, False, f"round {rid} {inst}: bought {bought} lots, sold {sold}")
        if volumes.get(rid) != bought:
            return Check(name, False, f"round {rid}: fills total {bought}, published volume {volumes.get(rid)}")
    if not net:
        return Check(name, None, "no fills in any batch")
    return Check(name, True, f"{len(net)} round(s): buys = sells = volume")


def solvency(data: AuditData) -> Check:
    """Committed balances plus unclaimed committed withdrawals are at most what the vault holds."""
    name = "committed balances <= vault holdings"
    if not data.batches:
        return Check(name, None, "no batch committed")
    if data.chain is None:
        return Check(name, False, "no chain given: cannot read vault holdings")
    owed = sum(data.batches[-1]["balances"].values())
    unclaimed = sum(w["amount"] for b in data.batches for w in b["withdrawals"]
                    if w["withdrawal_id"] not in data.chain.claimed)
    ok = owed + unclaimed <= data.chain.vault_holdings
    return Check(name, ok, f"balances {owed} + unclaimed withdrawals {unclaimed} vs vault {data.chain.vault_holdings}")


def journal_chain(data: AuditData) -> Check:
    """The journal's hash chain is continuous from genesis and every batch's head is in it."""
    name = "journal hash chain continuous; heads match the chain"
    try:
        verify_chain(data.journal)
    except DarkPoolError as exc:
        return Check(name, False, str(exc))
    heads = {"0x" + e.head.hex(): e.seq for e in data.journal}
    sources = data.chain.batches if data.chain else data.batches
    for batch in sources:
        seq = heads.get(batch["journal_head"])
        if seq is None:
            return Check(name, False, f"batch {batch['batch_id']}'s journal head is not in the journal")
    return Check(name, data.chain is not None or not data.batches,
                 f"{len(data.journal)} entries chained; {len(sources)} batch head(s) found")


def rounds_replay(data: AuditData) -> Check:
    """Every commit-reveal round: sealed root matches the chain, reveals open commitments, clearing replays."""
    name = "commit-reveal rounds replay to their results"
    commits: dict[tuple[int, str, int], bytes] = {}
    reveals: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entry in data.journal:
        p = entry.data()
        if entry.kind == "commit":
            m = p["signed"]["message"]
            commits[(p["round_id"], m["account"].lower(), m["nonce"])] = bytes.fromhex(m["commitment"][2:])
        elif entry.kind == "reveal":
            reveals[p["round_id"]].append(p)
    replayed = 0
    for published in data.rounds:
        if published["mode"] != "commit_reveal":
            continue
        rid = published["round_id"]
        leaves = [(a, n, c) for (r, a, n), c in commits.items() if r == rid]
        root = commitments_root(leaves) if leaves else None
        if root != published.get("commitments_root"):
            claimed = published.get("commitments_root")
            return Check(name, False, f"round {rid}: commitments give root {root}, published {claimed}")
        if data.chain is not None and root is not None and data.chain.sealed_roots.get(rid) != root:
            return Check(name, False, f"round {rid}: sealed root on chain {data.chain.sealed_roots.get(rid)} != {root}")
        round_, orders = parse_round(published["document"])
        for rev in reveals[rid]:
            opened = commitment_hash(rev["account"], round_.instrument, rid, rev["side"], rev["limit_ticks"],
                                     rev["quantity_lots"], rev["nonce"], bytes.fromhex(rev["salt"][2:]))
            if commits.get((rid, rev["account"], rev["nonce"])) != opened:
                return Check(name, False, f"round {rid}: reveal {rev['account']}:{rev['nonce']} opens no commitment")
        for o in orders:
            asked = published["requested"].get(o.id)
            if asked is None or o.quantity_lots > asked["requested_lots"]:
                return Check(name, False, f"round {rid}: order {o.id} is not a revealed order within its size")
        if clear_reference(round_, orders).to_json_dict() != published["result"]:
            return Check(name, False, f"round {rid}: replayed clearing differs from the published result")
        replayed += 1
    if not replayed:
        return Check(name, None, "no commit-reveal round cleared")
    return Check(name, True, f"{replayed} round(s) replayed; roots and reveals check")


SIGNED_KINDS = ("commit", "withdraw", "slot")


def signed_messages(data: AuditData) -> Check:
    """Every commitment, withdrawal and slot reservation in the journal carries its account's signature."""
    from darkpool.signing import SigningDomain, recover_digest, signed_from_wire

    name = "journaled requests are signed by their accounts"
    if data.domain is None:
        return Check(name, None, "no signing domain given")
    domain = SigningDomain(int(data.domain["chain_id"]), str(data.domain["verifying_contract"]))
    checked = 0
    for entry in data.journal:
        if entry.kind not in SIGNED_KINDS:
            continue
        try:
            signed = signed_from_wire(entry.data()["signed"])
            signer = recover_digest(signed.message.digest(domain), signed.signature)
        except DarkPoolError as exc:
            return Check(name, False, f"journal entry {entry.seq}: {exc}")
        if signer != signed.message.signer.lower():
            return Check(name, False, f"journal entry {entry.seq} is not signed by {signed.message.signer}")
        checked += 1
    if not checked:
        return Check(name, None, "no signed request in the journal")
    return Check(name, True, f"{checked} signed requests verify (EIP-712, chain {domain.chain_id})")


def _custodian_chain(entries: list[dict[str, Any]]) -> str | None:
    """Return why the custodian's log chain breaks, or None (``hash = sha256(canonical entry)``)."""
    previous = "0" * 64
    for index, entry in enumerate(entries):
        body = {k: entry[k] for k in ("sequence", "round_id", "transcript_hash", "outputs", "previous")}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        if entry["sequence"] != index or entry["previous"] != previous or entry.get("hash", digest) != digest:
            return f"custodian log broken at entry {index}"
        previous = digest
    return None


def one_decryption_per_fhe_round(data: AuditData) -> Check:
    """The custodian's log is chained and holds exactly one decryption per FHE round, for its transcript."""
    name = "custodian decrypted exactly once per FHE round"
    published = {r["round_id"]: r for r in data.rounds if r["mode"] == "fhe"}
    if data.custodian_log is None:
        return Check(name, None if not published else False, "no custodian log given")
    broken = _custodian_chain(data.custodian_log)
    if broken:
        return Check(name, False, broken)
    counts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in data.custodian_log:
        counts[str(entry["round_id"])].append(entry)
    for rid, entries in counts.items():
        if len(entries) != 1 or int(rid) not in published:
            return Check(name, False, f"round {rid}: {len(entries)} decryption(s) in the log, "
                                      f"{'a' if int(rid) in published else 'no'} published FHE round")
    for rid, round_ in published.items():
        entries = counts.get(str(rid), [])
        if len(entries) != 1:
            return Check(name, False, f"FHE round {rid} has {len(entries)} decryptions in the custodian's log")
        entry = entries[0]
        if entry["transcript_hash"] != round_["transcript_hash"]:
            return Check(name, False, f"FHE round {rid}: the log's transcript differs from the operator's")
        if entry["outputs"] is None or entry["outputs"]["volume_lots"] != round_["result"]["volume_lots"]:
            return Check(name, False, f"FHE round {rid}: the decrypted volume differs from the published one")
    if not published:
        return Check(name, None, "no FHE round cleared")
    return Check(name, True, f"{len(published)} FHE round(s), one decryption each, transcripts match; "
                             f"log of {len(data.custodian_log)} entries chained")


ALL_CHECKS: tuple[Callable[[AuditData], Check], ...] = (
    batch_roots, fills_net_to_zero, solvency, journal_chain, signed_messages, rounds_replay,
    one_decryption_per_fhe_round,
)
