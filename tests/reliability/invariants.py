"""Invariants the registry and the chain must keep at every step, as lists of problems
(empty = holds), so a failing test says exactly what broke.

- :func:`registry_problems` (always): every issued unit sits in exactly one serial block (no
  overlap, no gap, none lost or created); retired blocks belong to a retirement whose blocks
  add up to its quantity, so no serial is retired twice; held blocks (and only they) point to a
  hold, a placed hold holds exactly its quantity and a released one nothing; the ledger's hash
  chain verifies; the maintained balance table equals the sums over the serial blocks.
- :func:`supply_bound_problems` (always, except while a reorganization is not yet rolled
  back): no class has more tokens on-chain than tonnes in bridge custody.
- :func:`settled_problems` (when the engine has caught up): the conservation check of
  bridge/engine/reconcile.py, the full reconcile, and the chain agrees with a model of what the
  test did (tonnes tokenized minus tonnes retired on-chain).
- :func:`fingerprint`: a digest of the whole registry, to show a refused input changed nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, text
from sqlmodel import Session, select

from bridge.engine.reconcile import conservation, reconcile
from bridge.schema import metadata
from registry.domain.enums import CreditStatus, HoldStatus
from registry.operations.balances import table_problems
from registry.operations.ledger import verify_chain
from registry.tables.core import CreditClass, Issuance, LedgerEntry, Retirement, SerialBlock, Serialization, UnitHold


def fingerprint(engine) -> dict:
    """Row counts of every table, the ledger head and tonnes per status: equal fingerprints
    before and after an operation mean it changed nothing."""
    out: dict = {}
    with engine.connect() as conn:
        existing = set(engine.dialect.get_table_names(conn))
        for name in sorted(metadata().tables):
            if name in existing:
                out[name] = conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar()
    with Session(engine) as s:
        head = s.exec(select(LedgerEntry.entry_hash).order_by(LedgerEntry.seq.desc()).limit(1)).first()
        out["ledger_head"] = head
        out["tonnes"] = sorted(
            (str(status), account, int(total))
            for status, account, total in s.exec(
                select(SerialBlock.status, SerialBlock.account_id, func.sum(SerialBlock.quantity))
                .group_by(SerialBlock.status, SerialBlock.account_id)
            )
        )
    return out


def registry_problems(engine) -> list[str]:
    problems: list[str] = []
    with Session(engine) as s:
        issued: dict[int, int] = defaultdict(int)
        for serialization_id, quantity in s.exec(select(Issuance.serialization_id, Issuance.quantity)):
            issued[serialization_id] += quantity
        blocks: dict[int, list[SerialBlock]] = defaultdict(list)
        for block in s.exec(select(SerialBlock).order_by(SerialBlock.serialization_id, SerialBlock.unit_first)):
            blocks[block.serialization_id].append(block)
        texts = dict(s.exec(select(Serialization.id, Serialization.text)).all())
        for serialization_id in sorted(set(issued) | set(blocks)):
            rows = blocks.get(serialization_id, [])
            name = texts.get(serialization_id, serialization_id)
            held = sum(b.quantity for b in rows)
            if held != issued.get(serialization_id, 0):
                problems.append(f"{name}: serial blocks hold {held} t, issuances {issued.get(serialization_id, 0)} t")
            for a, b in zip(rows, rows[1:]):
                if b.unit_first <= a.unit_last:
                    problems.append(f"{name}: blocks {a.unit_first}-{a.unit_last} and {b.unit_first}-{b.unit_last} "
                                    "overlap (a serial in two places)")
            for b in rows:
                if b.quantity != b.unit_last - b.unit_first + 1:
                    problems.append(f"{name}: block {b.unit_first}-{b.unit_last} says quantity {b.quantity}")
                if (b.status is CreditStatus.retired) != (b.retirement_id is not None):
                    problems.append(f"{name}: block {b.unit_first}-{b.unit_last} is {b.status.value} with "
                                    f"retirement {b.retirement_id}")
                if b.status is CreditStatus.retired and b.account_id is not None:
                    problems.append(f"{name}: retired block {b.unit_first}-{b.unit_last} still sits in an account")
        retired: dict[int, int] = defaultdict(int)
        for retirement_id, quantity in s.exec(
            select(SerialBlock.retirement_id, SerialBlock.quantity).where(SerialBlock.retirement_id.is_not(None))
        ):
            retired[retirement_id] += quantity
        for r in s.exec(select(Retirement)):
            if retired.pop(r.id, 0) != r.quantity:
                problems.append(f"retirement {r.id} of {r.quantity} t does not hold exactly that many retired serials")
        for retirement_id in retired:
            problems.append(f"serials point to retirement {retirement_id}, which does not exist")
        held_by: dict[int, int] = defaultdict(int)
        for block in s.exec(select(SerialBlock).where(
                (SerialBlock.status == CreditStatus.held) | SerialBlock.hold_id.is_not(None))):
            if block.status is not CreditStatus.held or block.hold_id is None:
                problems.append(f"block {block.unit_first}-{block.unit_last} is {block.status.value} with hold "
                                f"{block.hold_id}")
            else:
                held_by[block.hold_id] += block.quantity
        for hold in s.exec(select(UnitHold)):  # a placed hold holds exactly its units; a released one none
            expected = hold.quantity if hold.status == HoldStatus.placed.value else 0
            if held_by.pop(hold.id, 0) != expected:
                problems.append(f"hold {hold.id} ({hold.status}) does not hold exactly {expected} t")
        ledger = verify_chain(s)
        problems.extend(f"ledger: {p}" for p in ledger.problems)
        problems.extend(table_problems(s))
    return problems


def supply_bound_problems(engine, chain) -> list[str]:
    return [
        f"class {c.token_id}: {c.onchain_supply} tokens on-chain but only {c.registry_custody} t in custody"
        for c in conservation(engine, chain)
        if c.onchain_supply > c.registry_custody
    ]


def bridged_retired_by_class(engine, chain_id: int) -> dict[str, int]:
    """Tonnes retired on-chain that the registry holds: bridged retirements, plus quarantined
    Retired events (held for an operator, counted by reconcile), by class."""
    from bridge.tables import QuarantinedEvent

    with Session(engine) as s:
        rows = s.exec(
            select(CreditClass.token_id, func.sum(Retirement.quantity))
            .join(CreditClass, CreditClass.id == Retirement.class_id)
            .where(Retirement.chain_id == chain_id)
            .group_by(CreditClass.token_id)
        ).all()
        held = s.exec(
            select(QuarantinedEvent.token_id, func.sum(QuarantinedEvent.amount))
            .where(QuarantinedEvent.chain_id == chain_id, QuarantinedEvent.event == "Retired")
            .group_by(QuarantinedEvent.token_id)
        ).all()
    totals = {token_id: int(total) for token_id, total in rows}
    for token_id, total in held:
        totals[token_id] = totals.get(token_id, 0) + int(total)
    return totals


def redeemed_by_class(engine, chain_id: int) -> dict[str, int]:
    """Tonnes whose redemption the chain finalized (escrow burned) and the registry applied."""
    from bridge.tables import Redemption, RedemptionStatus

    with Session(engine) as s:
        rows = s.exec(
            select(Redemption.token_id, func.sum(Redemption.amount))
            .where(Redemption.chain_id == chain_id, Redemption.status == RedemptionStatus.finalized)
            .group_by(Redemption.token_id)
        ).all()
    return {token_id: int(total) for token_id, total in rows}


def settled_problems(engine, chain, tokenized: dict[str, int], retired_onchain: dict[str, int]) -> list[str]:
    """Everything that must hold once the engine has minted, answered and synced all there is:
    on-chain supply = tonnes tokenized - retired on-chain - redeemed back into the registry."""
    problems = [f"conservation: {c.as_json()}" for c in conservation(engine, chain) if not c.ok]
    report = reconcile(engine, chain)
    problems.extend(f"reconcile: {p}" for p in report.problems)
    registry_retired = bridged_retired_by_class(engine, chain.chain_id)
    redeemed = redeemed_by_class(engine, chain.chain_id)
    for token_id in sorted(set(tokenized) | set(retired_onchain) | set(registry_retired)):
        supply = chain.token.functions.totalSupply(int(token_id)).call()
        expected = tokenized.get(token_id, 0) - retired_onchain.get(token_id, 0) - redeemed.get(token_id, 0)
        if supply != expected:
            problems.append(f"class {token_id}: {supply} tokens on-chain, the test tokenized "
                            f"{tokenized.get(token_id, 0)} t, retired {retired_onchain.get(token_id, 0)} t and "
                            f"the registry took back {redeemed.get(token_id, 0)} t")
        if registry_retired.get(token_id, 0) != retired_onchain.get(token_id, 0):
            problems.append(f"class {token_id}: registry holds {registry_retired.get(token_id, 0)} t of bridged "
                            f"retirements, the chain retired {retired_onchain.get(token_id, 0)} t")
    return problems
