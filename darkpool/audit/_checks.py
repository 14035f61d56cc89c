"""The auditor's checks: pure functions of :class:`AuditData`, each returning one :class:`Check`.

Leaves, roots and commitments are recomputed by the auditor's own code
(:mod:`darkpool.audit._recompute`), never by the operator's, so a bug there is caught here.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from darkpool.audit._check import Check
from darkpool.audit._data import AuditData, ChainView
from darkpool.audit._derivatives import expiries_settle_at_marks, funding_follows_prices, marks_match_feeds
from darkpool.audit._liquidations import fhe_liquidations_follow_margin, liquidation_caps
from darkpool.audit._recompute import batch_roots as recompute_roots
from darkpool.audit._recompute import commitment_hash, commitments_root
from darkpool.clearing import clear_reference, parse_round
from darkpool.domain import Side
from darkpool.errors import DarkPoolError
from darkpool.ledger import verify_chain
from darkpool.signing import Commitment, Signed, SigningDomain, recover_digest, signed_from_wire

__all__ = ["ALL_CHECKS", "Check", "expiries_settle_at_marks", "funding_follows_prices", "marks_match_feeds"]


def batch_roots(data: AuditData) -> Check:
    """Every published batch's trees recompute to its roots, and equal the roots committed on chain.

    The public's view has no leaves: then only the roots are held against the chain (the auditors'
    token recomputes them; each institution checks its own proofs).
    """
    name = "batch roots recompute and match the chain"
    if not data.batches:
        return Check(name, None, "no batch committed")
    chain = {b["batch_id"]: b for b in data.chain.batches} if data.chain else None
    private = any(record.get("balances") is None for record in data.batches)
    for record in () if private else data.batches:
        try:
            got = tuple(recompute_roots(record))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            return Check(name, False, f"batch {record.get('batch_id')}: published leaves do not encode: {exc!r}")
        want = (record["balances_root"], record["fills_root"], record["withdrawals_root"])
        if got != want:
            return Check(name, False, f"batch {record['batch_id']}: published leaves give roots {got}, not {want}")
    mismatch = _roots_against_chain(data.batches, chain)
    if mismatch is not None:
        return Check(name, False, mismatch)
    if chain is not None and len(chain) != len(data.batches):
        return Check(name, False, f"{len(chain)} batches on chain, {len(data.batches)} published")
    where = "published and on chain" if chain is not None else "published (no chain given)"
    if private:
        return Check(name, chain is not None, f"{len(data.batches)} batch root(s) {where}; leaves are private "
                                              "(recomputed with the auditors' token)")
    return Check(name, chain is not None, f"{len(data.batches)} batch(es) recomputed, {where}")


def _roots_against_chain(batches: list[dict[str, Any]], chain: dict[int, dict[str, Any]] | None) -> str | None:
    """Why a published batch differs from the chain's, or None (also when no chain is given)."""
    if chain is None:
        return None
    for record in batches:
        on_chain = chain.get(record["batch_id"])
        if on_chain is None:
            return f"batch {record['batch_id']} is not on chain"
        for key in ("balances_root", "fills_root", "withdrawals_root", "journal_head", "deposits_credited"):
            if on_chain[key] != record[key]:
                return f"batch {record['batch_id']}: {key} on chain {on_chain[key]} differs from {record[key]}"
    return None


def fills_net_to_zero(data: AuditData) -> Check:
    """Per round and instrument, bought lots equal sold lots equal the round's volume."""
    name = "fills net to zero per instrument and round"
    if any(record.get("fills") is None for record in data.batches):
        return _fills_net_publicly(data, name)
    net: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in data.batches:
        for f in record["fills"]:
            net[(f["round_id"], f["instrument"])][f["side"]] += f["quantity_lots"]
    volumes = {r["round_id"]: (r["result"] or {}).get("volume_lots", 0) for r in data.round_summaries}
    for (rid, inst), (bought, sold) in net.items():
        if bought != sold:
            return Check(name, False, f"round {rid} {inst}: bought {bought} lots, sold {sold}")
        if rid != 0 and volumes.get(rid) != bought:  # round 0: cash settlement at expiry, no auction
            return Check(name, False, f"round {rid}: fills total {bought}, published volume {volumes.get(rid)}")
    if not net:
        return Check(name, None, "no fills in any batch")
    return Check(name, True, f"{len(net)} round(s): buys = sells = volume")


def _fills_net_publicly(data: AuditData, name: str) -> Check:
    """The public's form: every cleared round's published fills (both sides) sum to twice its volume."""
    checked = 0
    for summary in data.round_summaries:
        result = summary.get("result") or {}
        fills = result.get("fills")
        if summary.get("phase") != "cleared" or fills is None or summary.get("mode") != "fhe":
            continue
        if sum(fills.values()) != 2 * result["volume_lots"]:
            return Check(name, False, f"round {summary['round_id']}: fills total {sum(fills.values())}, "
                                      f"twice the volume is {2 * result['volume_lots']}")
        checked += 1
    if not checked:
        return Check(name, None, "fills by account are private; no FHE round's fills to total")
    return Check(name, True, f"{checked} FHE round(s): fills total twice the volume (sides and accounts private)")


def solvency(data: AuditData) -> Check:
    """Committed balances plus unclaimed committed withdrawals are at most what the vault holds."""
    name = "committed balances <= vault holdings"
    if not data.batches:
        return Check(name, None, "no batch committed")
    if data.chain is None:
        return Check(name, False, "no chain given: cannot read vault holdings")
    if data.batches[-1].get("balances") is None:
        return Check(name, None, "balances are private: solvency needs the auditors' token")
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
    """Every commit-reveal round: commitments rebuild the sealed root, reveals open them, clearing replays."""
    name = "commit-reveal rounds replay to their results"
    replayed = 0
    for published in data.rounds:
        if published.get("mode") != "commit_reveal":
            continue
        try:
            problem = _replay_commit_reveal(published, data.chain)
        except (KeyError, TypeError, ValueError, OverflowError, DarkPoolError) as exc:
            problem = f"malformed publication: {exc!r}"
        if problem is not None:
            return Check(name, False, f"round {published.get('round_id')}: {problem}")
        replayed += 1
    if not replayed:
        return Check(name, None, "no commit-reveal round cleared")
    return Check(name, True, f"{replayed} round(s) replayed; roots and reveals check")


def _replay_commit_reveal(published: dict[str, Any], chain: ChainView | None) -> str | None:
    """Return what is wrong with one round's publication (``commit_reveal.publish``'s format), or None."""
    rid = published["round_id"]
    round_, orders = parse_round(published["document"])
    committed = {(e["account"].lower(), e["nonce"]): e for e in published["commitments"]}
    if len(committed) != len(published["commitments"]):
        return "a commitment is listed twice"
    root = commitments_root([(a, n, bytes.fromhex(e["commitment"][2:])) for (a, n), e in committed.items()])
    if root != published["commitments_root"]:
        return f"commitments give root {root}, published {published['commitments_root']}"
    if chain is not None and committed and chain.sealed_roots.get(rid) != root:
        return f"sealed root on chain {chain.sealed_roots.get(rid)} != {root}"
    expected = []
    for rev in published["reveals"]:
        side = Side.parse(rev["side"])
        sealed = committed.get((rev["account"].lower(), rev["nonce"]))
        opened = commitment_hash(rev["account"], round_.instrument, rid, int(side), rev["limit_ticks"],
                                 rev["quantity_lots"], rev["nonce"], bytes.fromhex(rev["salt"][2:]))
        if sealed is None or not sealed["revealed"] or bytes.fromhex(sealed["commitment"][2:]) != opened:
            return f"reveal {rev['account']}:{rev['nonce']} opens no commitment"
        capped = rev["capped_quantity_lots"]
        if not 0 <= capped <= rev["quantity_lots"]:
            return f"reveal {rev['account']}:{rev['nonce']} capped to {capped} of {rev['quantity_lots']} lots"
        if capped:
            expected.append((sealed["order_id"], side, rev["limit_ticks"], capped, sealed["priority"]))
    if sum(1 for e in committed.values() if e["revealed"]) != len(published["reveals"]):
        return "revealed flags and reveals disagree"
    for extra in published.get("extra_orders") or []:
        expected.append((extra["order_id"], Side.parse(extra["side"]), extra["limit_ticks"], extra["quantity_lots"],
                         extra["priority"]))
    actual = [(o.id, o.side, o.limit_ticks, o.quantity_lots, o.priority) for o in orders]
    if sorted(actual) != sorted(expected):
        return "the round document is not the revealed orders"
    if clear_reference(round_, orders).to_json_dict() != published["result"]:
        return "replayed clearing differs from the published result"
    return None


WIRE_KINDS = ("withdraw", "slot", "fhe_order", "cancel")
"""Journal kinds (format 2) that keep the signed request's wire form as JSON text in ``wire``."""


def _signed_requests(data: AuditData) -> Iterator[tuple[int, Signed]]:
    """Yield every journaled signed request (the commitments rebuilt from their round) with its entry's seq."""
    instruments: dict[int, str] = {}
    for entry in data.journal:
        if entry.is_redacted:
            continue
        payload = entry.data()
        if entry.kind == "round_open":
            instruments[payload["round_id"]] = payload["instrument"]
        elif entry.kind in WIRE_KINDS:
            yield entry.seq, signed_from_wire(json.loads(payload["wire"]))
        elif entry.kind == "commits":
            rid, instrument = payload["round_id"], instruments[payload["round_id"]]
            for account, nonce, commitment, bond, expiry, signature in _commit_rows(payload["commits"]):
                message = Commitment(account, instrument, rid, commitment, bond, nonce, expiry)
                yield entry.seq, Signed(message, 0, "", signature)


def _commit_rows(columns: dict[str, Any]) -> Iterator[tuple[str, int, bytes, int, int, bytes]]:
    """The signed fields of a journaled batch of commitments (columns; byte fields packed as hex)."""
    accounts, commitments = columns["account"][2:], bytes.fromhex(columns["commitment"][2:])
    signatures = bytes.fromhex(columns["signature"][2:])
    for i, (nonce, bond, expiry) in enumerate(zip(columns["nonce"], columns["bond"], columns["expiry"], strict=True)):
        yield ("0x" + accounts[40 * i:40 * i + 40], nonce, commitments[32 * i:32 * i + 32], bond, expiry,
               signatures[65 * i:65 * i + 65])


def signed_messages(data: AuditData) -> Check:
    """Every commitment, withdrawal and slot reservation in the journal carries its account's signature."""
    name = "journaled requests are signed by their accounts"
    if data.domain is None:
        return Check(name, None, "no signing domain given")
    domain = SigningDomain(int(data.domain["chain_id"]), str(data.domain["verifying_contract"]))
    checked = 0
    seq = 0
    try:
        for seq, signed in _signed_requests(data):
            if recover_digest(signed.message.digest(domain), signed.signature) != signed.message.signer.lower():
                return Check(name, False, f"journal entry {seq} is not signed by {signed.message.signer}")
            checked += 1
    except (DarkPoolError, KeyError, TypeError, ValueError) as exc:
        return Check(name, False, f"journal entry {seq}: {exc}")
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
        attested_caps = entry["outputs"].get("caps")
        if attested_caps is not None and attested_caps != list(round_.get("caps", [])):
            return Check(name, False, f"FHE round {rid}: the caps the verifiers attested ({attested_caps}) are not "
                                      f"the published ones ({round_.get('caps')})")
    if not published:
        return Check(name, None, "no FHE round cleared")
    return Check(name, True, f"{len(published)} FHE round(s), one decryption each, transcripts and attested caps "
                             f"match; log of {len(data.custodian_log)} entries chained")


def fhe_caps_follow_margin(data: AuditData) -> Check:
    """Each FHE round's caps are what the margin rule gives its slot holders, recomputed from the journaled
    margin basis (exact cash and positions, the journaled marks, the round's band), with the margin library;
    a liquidation slot's cap is its order's quantity (reduce-only, see :mod:`darkpool.audit._liquidations`)."""
    name = "FHE caps follow the margin rule"
    results = {e.data()["round_id"]: e.data() for e in data.journal if e.kind == "fhe_result" and not e.is_redacted}
    if not results:
        return Check(name, None, "no FHE round cleared")
    marks: dict[str, list[Any]] = {}
    opened: dict[int, dict[str, Any]] = {}
    bases: dict[int, dict[str, Any]] = {}
    liquidated = liquidation_caps(data)
    for e in data.journal:
        if e.is_redacted:
            if e.kind == "fhe_caps":
                return Check(name, None, "the caps' margin basis is private: audit with the auditors' token")
            continue
        if e.kind not in ("mark", "round_open", "fhe_caps"):
            continue
        payload = e.data()
        if e.kind == "mark":
            marks[payload["underlying"]] = [payload["price"], payload.get("observed_at") or payload["at"]]
        elif e.kind == "round_open":
            opened[payload["round_id"]] = payload
        else:
            basis = json.loads(payload["basis"])
            if basis["margin"]["marks"] != marks:
                return Check(name, False, f"FHE round {payload['round_id']}: its caps were computed on marks "
                                          f"{basis['margin']['marks']}, the journal's were {marks}")
            bases[payload["round_id"]] = basis
    for rid, result in sorted(results.items()):
        basis = bases.get(rid)
        if basis is None:
            return Check(name, False, f"FHE round {rid}: no margin basis journaled for its caps")
        problem = _caps_problem(rid, basis, opened.get(rid), list(result["caps"]), liquidated.get(rid, {}))
        if problem:
            return Check(name, False, problem)
    return Check(name, True, f"{len(results)} FHE round(s): every slot's cap recomputed from the journaled margin "
                             "basis and marks")


def _caps_problem(rid: int, basis: dict[str, Any], opened: dict[str, Any] | None, caps: list[int],
                  liquidated: dict[int, int]) -> str | None:
    from darkpool.margin import engine_from_snapshot

    if opened is None or (opened["instrument"], opened["band_low_ticks"]) != (basis["instrument"],
                                                                              basis["band_low_ticks"]) \
            or basis["band_high_ticks"] != opened["band_low_ticks"] + opened["levels"] - 1:
        return f"FHE round {rid}: the caps' basis names another instrument or band than the round announced"
    try:
        engine = engine_from_snapshot(basis["margin"])
        at = int(basis["margin"]["at"])
        expected = [0] * len(caps)
        for slot, who in basis["slots"].items():
            if int(slot) in liquidated:
                expected[int(slot)] = liquidated[int(slot)]
                continue
            buy = engine.cap(who, basis["instrument"], Side.BUY, max(0, basis["band_high_ticks"]), at,
                             max_lots=basis["max_lots"])
            sell = engine.cap(who, basis["instrument"], Side.SELL, max(0, basis["band_low_ticks"]), at,
                              max_lots=basis["max_lots"])
            expected[int(slot)] = int(min(buy, sell))
    except (DarkPoolError, KeyError, IndexError, TypeError, ValueError) as exc:
        return f"FHE round {rid}: its caps' margin basis does not recompute: {exc}"
    if expected != caps:
        wrong = [slot for slot, (a, b) in enumerate(zip(expected, caps, strict=True)) if a != b]
        return (f"FHE round {rid}: slot(s) {wrong} were capped at {[caps[s] for s in wrong]}, the margin rule "
                f"gives {[expected[s] for s in wrong]}")
    return None


ALL_CHECKS: tuple[Callable[[AuditData], Check], ...] = (
    batch_roots, fills_net_to_zero, solvency, journal_chain, signed_messages, rounds_replay,
    one_decryption_per_fhe_round, fhe_caps_follow_margin, fhe_liquidations_follow_margin, marks_match_feeds,
    funding_follows_prices, expiries_settle_at_marks,
)
