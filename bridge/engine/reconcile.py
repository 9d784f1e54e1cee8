"""Proof that the registry and the chain agree.

- Conservation, per credit class: tonnes in bridge custody in the registry equal the token
  supply on-chain plus the custody units still waiting for their leaf to be minted.
- Every ``Retired`` event up to the block the sync has applied has exactly one registry
  retirement with the same class and quantity, and every bridged retirement has its event.
- Every ``RedemptionFinalized`` event moved exactly its amount out of custody, and every
  redemption recorded as finalized has its event.
- Every ``LeafMinted`` event matches a persisted leaf (same serial range) that belongs to a
  tokenization request for the same wallet and class, and no leaf is marked minted without
  its event.
- A custody snapshot: the Merkle root over the custody serial blocks, signed by the registry
  signer, that anyone can check against the chain's supply at the snapshot block.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bridge.chain.client import Chain
from bridge.chain.logs import fetch_events, to_hex
from bridge.deployments import require_deployment
from bridge.engine.sync import deployment_for
from bridge.merkle.tree import StandardMerkleTree
from bridge.tables import ChainCursor, MintLeaf, QuarantinedEvent, Redemption, RedemptionStatus
from registry.bridged import custody
from registry.domain.enums import CreditStatus
from registry.tables.core import CreditClass, Retirement, SerialBlock, Serialization, TokenizationRequest

SNAPSHOT_ENCODING = ["uint256", "uint256", "uint256"]  # (classId, firstSerial, lastSerial)


@dataclass
class ClassConservation:
    token_id: str
    serialization: str
    registry_custody: int
    awaiting_mint: int
    onchain_supply: int
    # Tonnes of quarantined events (see bridge.tables.QuarantinedEvent): burned on-chain by a
    # Retired or RedemptionFinalized, or minted by a LeafMinted, the registry has not applied.
    quarantined_burned: int = 0
    quarantined_minted: int = 0

    @property
    def ok(self) -> bool:
        return (self.registry_custody
                == self.onchain_supply + self.awaiting_mint + self.quarantined_burned - self.quarantined_minted)

    def as_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


#: Quarantined events whose tonnes left (burned) or entered (minted) the chain's supply.
BURNING_EVENTS = ("Retired", "RedemptionFinalized")
MINTING_EVENTS = ("LeafMinted",)


def quarantined_tonnes(session: Session, chain_id: int, block: int | str = "latest") -> dict[tuple[str, str], int]:
    """Tonnes of quarantined events up to ``block``, by (token id, "burned" or "minted")."""
    query = select(QuarantinedEvent).where(QuarantinedEvent.chain_id == chain_id)
    if isinstance(block, int):
        query = query.where(QuarantinedEvent.block_number <= block)
    totals: dict[tuple[str, str], int] = {}
    for row in session.exec(query):
        way = "burned" if row.event in BURNING_EVENTS else "minted" if row.event in MINTING_EVENTS else None
        if way and row.token_id and row.amount:
            totals[(row.token_id, way)] = totals.get((row.token_id, way), 0) + int(row.amount)
    return totals


def conservation(engine: Engine, chain: Chain, block: int | str = "latest") -> list[ClassConservation]:
    with Session(engine) as session:
        deployment = require_deployment(session, chain.chain_id)
        held = quarantined_tonnes(session, chain.chain_id, block)
        rows = []
        for credit_class in session.exec(select(CreditClass).order_by(CreditClass.id)):
            in_custody = custody.custody_total(session, deployment.custody_account_id, credit_class.id)
            awaiting = custody.custody_total(session, deployment.custody_account_id, credit_class.id, mirrored=False)
            supply = chain.token.functions.totalSupply(int(credit_class.token_id)).call(block_identifier=block)
            if in_custody == 0 and supply == 0:
                continue
            rows.append(
                ClassConservation(
                    token_id=credit_class.token_id,
                    serialization=session.get(Serialization, credit_class.serialization_id).text,
                    registry_custody=in_custody,
                    awaiting_mint=awaiting,
                    onchain_supply=int(supply),
                    quarantined_burned=held.get((credit_class.token_id, "burned"), 0),
                    quarantined_minted=held.get((credit_class.token_id, "minted"), 0),
                )
            )
    return rows


@dataclass
class ReconcileReport:
    head: int  # the block compared: the last one whose events the registry has applied
    final_head: int  # the chain's final block; above ``head`` the sync has not caught up yet
    conservation: list[ClassConservation]
    retirement_events: int
    minted_leaf_events: int
    problems: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # events held for an operator: not disagreements
    flagged: list[str] = field(default_factory=list)  # records stored with changes to what the chain said

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.conservation)

    def as_json(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "final_head": self.final_head,
            "ok": self.ok,
            "conservation": [c.as_json() for c in self.conservation],
            "retirement_events": self.retirement_events,
            "minted_leaf_events": self.minted_leaf_events,
            "problems": self.problems,
            "quarantined": self.quarantined,
            "flagged": self.flagged,
        }


def reconcile(engine: Engine, chain: Chain, confirmations: int = 0, use_finalized_tag: bool = False) -> ReconcileReport:
    """Compare both sides at the last block whose events the registry has applied (the sync's
    cursor, at most the final head): supply at that block against custody now, and every event
    up to it against the registry's records. A sync that is behind is not a disagreement; the
    report says how far behind (``final_head``)."""
    deployment = deployment_for(engine, chain)
    final_head = chain.safe_head(confirmations, use_finalized_tag)
    with Session(engine) as session:
        cursor = session.exec(select(ChainCursor).where(ChainCursor.chain_id == chain.chain_id,
                                                        ChainCursor.address == deployment.address)).first()
    head = min(final_head, cursor.last_block if cursor else deployment.deployed_block - 1)
    events = fetch_events(chain, deployment.deployed_block, head) if head >= deployment.deployed_block else []
    problems: list[str] = []
    with Session(engine) as session:
        held = {(q.tx_hash, q.log_index): q for q in session.exec(
            select(QuarantinedEvent).where(QuarantinedEvent.chain_id == chain.chain_id,
                                           QuarantinedEvent.block_number <= head))}
        flagged = [f"retirement {r.id} ({r.quantity} t): {flag}" for r in session.exec(
            select(Retirement).where(Retirement.chain_id == chain.chain_id, Retirement.input_flags.is_not(None),
                                     Retirement.block_number <= head).order_by(Retirement.id))
                   for flag in json.loads(r.input_flags)]
    quarantined = [f"{q.event} {q.tx_hash}#{q.log_index} ({q.amount or 0} t of class {q.token_id or '?'}): {q.error}"
                   for q in sorted(held.values(), key=lambda q: (q.block_number, q.log_index))]
    events = [(name, e) for name, e in events if (to_hex(e["transactionHash"]), int(e["logIndex"])) not in held]
    retired = [e for name, e in events if name == "Retired"]
    minted = [e for name, e in events if name == "LeafMinted"]
    with Session(engine) as session:
        bridged = {
            (r.tx_hash, r.log_index): r
            for r in session.exec(
                select(Retirement).where(Retirement.chain_id == chain.chain_id, Retirement.block_number <= head)
            )
        }
        for e in retired:
            key = (to_hex(e["transactionHash"]), int(e["logIndex"]))
            record = bridged.pop(key, None)
            args = e["args"]
            if record is None:
                problems.append(f"Retired event {key[0]}#{key[1]} ({args['amount']} t) has no registry retirement")
                continue
            credit_class = session.get(CreditClass, record.class_id)
            if record.quantity != args["amount"] or credit_class.token_id != str(args["tokenId"]):
                problems.append(f"retirement {record.id} differs from its event {key[0]}#{key[1]}")
            blocks = session.exec(select(SerialBlock).where(SerialBlock.retirement_id == record.id)).all()
            if sum(b.quantity for b in blocks) != record.quantity or any(b.status is not CreditStatus.retired for b in blocks):
                problems.append(f"retirement {record.id} does not hold exactly {record.quantity} retired serials")
        for (tx_hash, log_index), record in bridged.items():
            problems.append(f"registry retirement {record.id} has no Retired event at {tx_hash}#{log_index}")

        leaves = {(l.batch_id, l.leaf_index): l for l in session.exec(select(MintLeaf))}
        seen = set()
        for e in minted:
            args = e["args"]
            key = (int(args["batchId"]), int(args["leafIndex"]))
            leaf = leaves.get(key)
            if leaf is None:
                problems.append(f"LeafMinted batch {key[0]} leaf {key[1]} matches no persisted leaf")
                continue
            seen.add(key)
            if (leaf.unit_first, leaf.unit_last) != (args["firstSerial"], args["lastSerial"]):
                problems.append(f"leaf {key} was minted with serials {args['firstSerial']}-{args['lastSerial']}")
            if not leaf.minted:
                problems.append(f"leaf {key} is minted on-chain but not recorded as minted (sync behind?)")
            request = session.get(TokenizationRequest, leaf.tokenization_id)
            credit_class = session.get(CreditClass, request.class_id) if request else None
            if request is None or request.wallet != leaf.recipient or credit_class.token_id != leaf.token_id:
                problems.append(f"leaf {key} does not match its tokenization request")
        for key, leaf in leaves.items():
            if leaf.minted and key not in seen:
                problems.append(f"leaf {key} is recorded as minted but has no final LeafMinted event")
        problems += _redemption_problems(session, chain, [e for name, e in events if name == "RedemptionFinalized"])
    return ReconcileReport(
        head=head,
        final_head=final_head,
        conservation=conservation(engine, chain, block=head),
        retirement_events=len(retired),
        minted_leaf_events=len(minted),
        problems=problems,
        quarantined=quarantined,
        flagged=flagged,
    )


def _redemption_problems(session: Session, chain: Chain, finalized: list) -> list[str]:
    problems = []
    rows = {r.redemption_id: r for r in session.exec(
        select(Redemption).where(Redemption.chain_id == chain.chain_id, Redemption.status == RedemptionStatus.finalized))}
    for e in finalized:
        args = e["args"]
        row = rows.pop(int(args["redemptionId"]), None)
        if row is None:
            problems.append(f"RedemptionFinalized {args['redemptionId']} ({args['amount']} t) has no finalized registry "
                            "redemption")
            continue
        moved = sum(last - first + 1 for first, last, *_ in json.loads(row.moved_ranges or "[]"))
        if moved != args["amount"]:
            problems.append(f"redemption {row.redemption_id} moved {moved} serials out of custody for a burn of "
                            f"{args['amount']}")
    for redemption_id in rows:
        problems.append(f"redemption {redemption_id} is recorded as finalized but has no final RedemptionFinalized event")
    return problems


# ------------------------------------------------------------------------------------------
# Signed custody snapshots
# ------------------------------------------------------------------------------------------


def snapshot_message(chain_id: int, contract: str, block: int, root: str) -> str:
    return f"ICR bridge custody snapshot\nchain {chain_id}\ncontract {contract}\nblock {block}\nroot {root}"


def custody_snapshot(engine: Engine, chain: Chain, signer: LocalAccount, block: int) -> dict[str, Any]:
    """Merkle root over (classId, first, last) of every mirrored custody serial block, signed."""
    deployment = deployment_for(engine, chain)
    with Session(engine) as session:
        rows = session.exec(
            select(SerialBlock, CreditClass.token_id)
            .join(CreditClass, CreditClass.serialization_id == SerialBlock.serialization_id)
            .where(
                SerialBlock.account_id == deployment.custody_account_id,
                SerialBlock.status == CreditStatus.active,
                SerialBlock.mirrored == True,  # noqa: E712
            )
        ).all()
    values = sorted([int(token_id), b.unit_first, b.unit_last] for b, token_id in rows)
    if not values:
        raise ValueError("custody holds no mirrored serial blocks: nothing to snapshot")
    tree = StandardMerkleTree.of(values, SNAPSHOT_ENCODING, sort_leaves=False)
    message = snapshot_message(chain.chain_id, deployment.address, block, tree.root)
    signature = signer.sign_message(encode_defunct(text=message)).signature
    supply: dict[str, int] = {}
    for token_id, first, last in values:
        supply[str(token_id)] = supply.get(str(token_id), 0) + last - first + 1
    return {
        "chain_id": chain.chain_id,
        "contract": deployment.address,
        "block": block,
        "root": tree.root,
        "signer": signer.address,
        "signature": "0x" + bytes(signature).hex(),
        "custody": supply,
        "tree": tree.dump(),
    }


def verify_snapshot(snapshot: dict[str, Any], chain: Chain) -> list[str]:
    """Check a published snapshot: tree, signature by a REGISTRY_ROLE holder, and that the
    chain's supply per class at the snapshot block equals the custody it claims."""
    problems = []
    tree = StandardMerkleTree.load(snapshot["tree"])
    if tree.root != snapshot["root"]:
        problems.append("the tree does not hash to the published root")
    message = snapshot_message(snapshot["chain_id"], snapshot["contract"], snapshot["block"], snapshot["root"])
    signer = Account.recover_message(encode_defunct(text=message), signature=snapshot["signature"])
    token = chain.w3.eth.contract(address=snapshot["contract"], abi=chain.abi)
    role = token.functions.REGISTRY_ROLE().call()
    if signer != snapshot["signer"] or not token.functions.hasRole(role, signer).call(block_identifier=snapshot["block"]):
        problems.append(f"signed by {signer}, which does not hold REGISTRY_ROLE")
    totals: dict[str, int] = {}
    for value in tree.values:
        token_id, first, last = (int(v) for v in value)
        totals[str(token_id)] = totals.get(str(token_id), 0) + last - first + 1
    if totals != {k: int(v) for k, v in snapshot["custody"].items()}:
        problems.append("the custody totals do not match the tree")
    for token_id, amount in totals.items():
        supply = token.functions.totalSupply(int(token_id)).call(block_identifier=snapshot["block"])
        if supply != amount:
            problems.append(f"class {token_id}: supply {supply} at block {snapshot['block']} != custody {amount}")
    return problems
