"""Many on-chain retirements recorded at once: the set-based form of
:func:`registry.bridged.custody.retire_from_custody` (the sync's bulk applier of ``Retired``
runs uses it).

The result is the registry :func:`~registry.bridged.custody.retire_from_custody` called once
per retirement in order leaves (the same serial blocks, row for row, Retirement rows, ledger
entries and hash chain, balances and ``retirement.recorded`` announcements), reached with a
fixed number of statements for the run instead of a dozen per retirement:

- the bridged retirements already recorded for these chain origins: one query;
- the classes of every token id: one query; each serialization locked once (ids ascending,
  after the ledger's lock, as every credit operation does);
- per serialization, the mirrored active custody blocks covering the run's total on it read
  once, lowest first; which units each retirement takes, and which rows the splits create, is
  computed in Python (:func:`registry.domain.lowest_first.allot_lowest`: the same as serving the
  retirements one by one with ``take_lowest_blocks``);
- the Retirement rows in one flush, the blocks' new state as one multi-row update, the rows the
  splits created as one multi-row insert (in the order the one-by-one path creates them, across
  serializations), the ledger entries with :func:`~registry.operations.ledger.append_entries`,
  and the ``retirement.recorded`` hook once for them all (:func:`registry.operations.hooks.emit_many`).

A retirement the custody does not cover raises the same :class:`~registry.errors.RuleViolation`
as the one-by-one path and writes nothing of its own (the caller's transaction rolls back and
applies the run one by one). Never commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

from sqlmodel import Session, select

from registry.bridged.custody import (
    OnchainRetirement,
    custody_short,
    purpose_refusal,
    retirement_entry,
    retirement_values,
)
from registry.bulk import insert_in_order, insert_rows, one_of, rows_by, update_from_values
from registry.domain import serials as sr
from registry.domain.blocks import move_record
from registry.domain.enums import CreditStatus
from registry.domain.lowest_first import Allotment, ShortOfCredits, allot_lowest
from registry.errors import NotFound
from registry.operations import hooks
from registry.operations.ledger import append_entries
from registry.operations.serial_blocks import lock_serialization, locked_blocks
from registry.tables.core import CreditClass, Retirement, SerialBlock, Serialization

_ACTIVE, _RETIRED = CreditStatus.active.value, CreditStatus.retired.value


class RetirementRow(SimpleNamespace):
    """A Retirement row as inserted (its column values, read-only by convention): what the
    bulk path hands to ledger entries and hook listeners instead of a session object."""


@dataclass(frozen=True)
class RecordedRetirement:
    """One retirement of the run: its row, the serial blocks it retired (as text, lowest first;
    empty when ``created`` is False: it was recorded before, nothing changed)."""

    record: Retirement | RetirementRow
    serial_blocks: tuple[str, ...]
    created: bool


@dataclass
class _Taken:
    """What one retirement of the run takes: from which serialization, and its portions."""

    index: int
    serialization_id: int
    portions: list[tuple[int, sr.SerialRange]]  # (row number in the serialization's allotment, units)


def retire_many_from_custody(session: Session, *, custody_account_id: int,
                             retirements: list[OnchainRetirement]) -> list[RecordedRetirement]:
    """Record on-chain retirements, in order, as registry retirements of custody serials (see
    the module docstring); one :class:`RecordedRetirement` per retirement, in order."""
    existing = _recorded(session, retirements)
    fresh = [i for i, r in enumerate(retirements) if _origin_key(r) not in existing]
    seen: set[tuple] = set()
    for i in list(fresh):  # the same origin twice in one run: the first records it
        if _origin_key(retirements[i]) in seen:
            fresh.remove(i)
        seen.add(_origin_key(retirements[i]))
    classes = _classes(session, [retirements[i].token_id for i in fresh])
    by_serialization: dict[int, list[int]] = defaultdict(list)
    for i in fresh:
        by_serialization[classes[str(retirements[i].token_id)].serialization_id].append(i)
    serializations: dict[int, Serialization] = {}
    allotments: dict[int, tuple[list[SerialBlock], Allotment]] = {}
    for serialization_id in sorted(by_serialization):
        serializations[serialization_id] = lock_serialization(session, serialization_id)
    for serialization_id, indexes in sorted(by_serialization.items()):
        quantities = [retirements[i].quantity for i in indexes]
        blocks = locked_blocks(session, account_id=custody_account_id, serialization_id=serialization_id,
                               status=CreditStatus.active, mirrored=True, covering=sum(quantities))
        try:
            allotment = allot_lowest([sr.SerialRange(b.unit_first, b.unit_last) for b in blocks], quantities)
        except ShortOfCredits as exc:
            raise custody_short(retirements[indexes[exc.index]].token_id, exc) from exc
        allotments[serialization_id] = (blocks, allotment)
    taken = {indexes[k]: _Taken(indexes[k], serialization_id, [(p.row, p.units) for p in portions])
             for serialization_id, indexes in by_serialization.items()
             for k, portions in enumerate(allotments[serialization_id][1].taken)}

    records = _insert_retirements(session, custody_account_id, [(i, retirements[i]) for i in fresh], classes)

    _write_blocks(session, custody_account_id, allotments, by_serialization, records)
    entries, announced, out = [], [], []
    texts = {sid: sr.parse_serialization(s.text) for sid, s in serializations.items()}
    for i, retirement in enumerate(retirements):
        if i not in records:
            out.append(RecordedRetirement(existing.get(_origin_key(retirement)) or _first_of(out, retirements, i),
                                          (), False))
            continue
        record, flags = records[i]
        text = serializations[taken[i].serialization_id].text
        units = sorted((u for _, u in taken[i].portions), key=lambda u: u.first)
        blocks = tuple(str(sr.SerialBlock(texts[taken[i].serialization_id], u)) for u in units)
        moves = [move_record(text, u.first, u.last, (custody_account_id, _ACTIVE), (None, _RETIRED)) for u in units]
        entries.append(("retirement.bridged", retirement_entry(record, retirement, list(blocks), moves, flags)))
        announced.append({"retirement": record, "serial_blocks": list(blocks)})
        out.append(RecordedRetirement(record, blocks, True))
    append_entries(session, entries)
    hooks.emit_many(session, "retirement.recorded", announced)
    return out


def _insert_retirements(session: Session, custody_account_id: int, fresh: list[tuple[int, OnchainRetirement]],
                        classes: dict[str, CreditClass]) -> dict[int, tuple[RetirementRow, list[str]]]:
    """The Retirement rows of the new retirements, inserted in order with one multi-row insert
    (the ids in the same order as one insert each); each purpose refusal asked once per class."""
    refusals: dict[tuple[int, int], str | None] = {}
    rows: list[tuple[int, dict, list[str]]] = []
    defaults: dict | None = None
    for i, retirement in fresh:
        credit_class = classes[str(retirement.token_id)]
        key = (credit_class.id, -1 if retirement.data_malformed else int(retirement.details.purpose))
        if key not in refusals:
            refusals[key] = purpose_refusal(session, credit_class, retirement)
        values, flags = retirement_values(retirement, credit_class.id, custody_account_id, refusals[key])
        if defaults is None:  # the model's defaults for the columns values never set, taken once
            constructed = Retirement.model_construct(**values)  # (the model's __init__ is slow)
            defaults = {c: getattr(constructed, c) for c in _RETIREMENT_COLUMNS if c not in values}
        rows.append((i, {**defaults, **values}, flags))
    if not rows:
        return {}
    ids = insert_in_order(session, Retirement.__table__, [values for _, values, _ in rows])
    return {i: (RetirementRow(id=rid, **values), flags) for (i, values, flags), rid in zip(rows, ids)}


_RETIREMENT_COLUMNS = tuple(c.name for c in Retirement.__table__.columns if c.name != "id")


def _origin_key(retirement: OnchainRetirement) -> tuple[int, str, int]:
    return retirement.origin.chain_id, retirement.origin.tx_hash, retirement.origin.log_index


def _first_of(out: list[RecordedRetirement], retirements: list[OnchainRetirement], i: int) -> Retirement:
    """The row an earlier retirement of the run with the same origin recorded."""
    return next(o.record for o, r in zip(out, retirements) if _origin_key(r) == _origin_key(retirements[i]))


def _recorded(session: Session, retirements: list[OnchainRetirement]) -> dict[tuple[int, str, int], Retirement]:
    """The bridged retirements already recorded for any of these origins, by origin (their
    origins looked up first, the rows read only for those found: usually none)."""
    keys = {_origin_key(r) for r in retirements}
    found: list[int] = []
    for chain_id in sorted({k[0] for k in keys}):
        for condition in one_of(session, Retirement.tx_hash, {k[1] for k in keys if k[0] == chain_id}):
            rows = session.exec(select(Retirement.id, Retirement.tx_hash, Retirement.log_index).where(
                Retirement.chain_id == chain_id, condition))
            found += [rid for rid, tx_hash, log_index in rows if (chain_id, tx_hash, log_index) in keys]
    if not found:
        return {}
    return {(r.chain_id, r.tx_hash, r.log_index): r for r in rows_by(session, Retirement.id, found)}


def _classes(session: Session, token_ids: list[int]) -> dict[str, CreditClass]:
    """The class of each token id (one query); NotFound for the first token id no class has,
    as :func:`registry.operations.classes.class_for_token` says it."""
    wanted = list(dict.fromkeys(str(t) for t in token_ids))
    found = {c.token_id: c for c in session.exec(select(CreditClass).where(CreditClass.token_id.in_(wanted)))} \
        if wanted else {}
    for token_id in wanted:
        if token_id not in found:
            raise NotFound(f"no credit class has token id {token_id}", field="token_id")
    return found


def _write_blocks(session: Session, custody_account_id: int,
                  allotments: dict[int, tuple[list[SerialBlock], Allotment]],
                  by_serialization: dict[int, list[int]], records: dict[int, tuple[RetirementRow, list[str]]]) -> None:
    """The blocks as the allotments leave them: the given rows a retirement took updated in
    one statement, the rows the splits created inserted in one (in the order the one-by-one
    path creates them: by the retirement whose split made them, in log order)."""
    changed: list[dict] = []
    created: list[tuple[int, dict]] = []
    for serialization_id, (blocks, allotment) in allotments.items():
        indexes = by_serialization[serialization_id]
        given = allotment.given

        def state(row: int) -> dict:
            owner = allotment.owner[row]
            units = allotment.ranges[row]
            retired = owner is not None
            return {"unit_last": units.last, "quantity": units.quantity,
                    "status": CreditStatus.retired if retired else CreditStatus.active,
                    "account_id": None if retired else custody_account_id,
                    "retirement_id": records[indexes[owner]][0].id if retired else None}

        for row, block in enumerate(blocks[:given]):
            if allotment.owner[row] is not None:
                final = state(row)
                changed.append({"id": block.id, "unit_last": final["unit_last"], "quantity": final["quantity"],
                                "retirement_id": final["retirement_id"]})
        for k, source in enumerate(allotment.split_from):
            while source >= given:  # split off a row a split created: same attributes
                source = allotment.split_from[source - given]
            block = blocks[source]
            row = given + k
            created.append((indexes[allotment.created_by[k]], {
                "serialization_id": serialization_id, "unit_first": allotment.ranges[row].first,
                "issuance_id": block.issuance_id, "tokenization_id": block.tokenization_id, "mirrored": block.mirrored,
                "cancellation_id": block.cancellation_id, "hold_id": block.hold_id, **state(row)}))
    if changed:  # every row a retirement took is retired, out of any account
        update_from_values(session, SerialBlock.__table__, changed,
                           constants={"status": CreditStatus.retired, "account_id": None})
        for serialization_id, (blocks, allotment) in allotments.items():
            for row, block in enumerate(blocks[:allotment.given]):
                if allotment.owner[row] is not None:
                    session.expire(block)  # the identity map must not keep the rows' old state
    if created:
        insert_rows(session, SerialBlock.__table__, [values for _, values in sorted(created, key=lambda c: c[0])])
