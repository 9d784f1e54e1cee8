"""Bulk tokenization: many tokenization requests applied in one transaction with set-based SQL.

:func:`request_tokenizations` leaves the registry exactly as :func:`registry.bridged.custody.request_tokenization`
called once per request, in order, would: the same serial blocks (ids included), the same
``TokenizationRequest`` rows, the same ledger entries (so the same hash chain) and balances
(tests/registry/operations/test_bulk_tokenization.py compares both on SQLite and PostgreSQL).
It gets there with a fixed number of queries, whatever the number of requests: the accounts,
classes, custody accounts and wallet links of all requests read at once (``IN`` lists), the
Article 6.2 rule checked once per class, each vintage serialization locked once (in id order),
each (account, serialization) holding read once, lowest-first selection for all requests
at once (:func:`registry.domain.lowest_first.take_lowest_each`), then one multi-row insert of the
requests, one of the split-off block remainders, the moved blocks updated in one flush, and
one append of every ledger entry with the balance-table deltas aggregated
(:func:`registry.operations.ledger.append_entries`).

Refusals: the call is atomic. Every request is checked (the same checks, in the same order
and with the same refusal as the one-by-one operation; a request short of units is checked
against what the requests before it in the call leave, and a refused one takes nothing); if
any is refused, :class:`BulkTokenizationRefused` lists every refused request by its index and
nothing is applied. Units under a hold are refused as the one-by-one operation refuses them
(rule ``unit-held``, :func:`registry.operations.serial_blocks.held_refusal`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import Session

from registry.bridged import custody
from registry.bulk import insert_rows, next_ids, rows_by
from registry.domain import lifecycle as lc
from registry.domain import serials as sr
from registry.domain.blocks import move_record
from registry.domain.enums import AccountType, CreditStatus, TokenizationStatus
from registry.domain.lowest_first import take_lowest_each
from registry.errors import NotFound, RegistryError, RuleViolation
from registry.operations.article6 import uses as uses_ops
from registry.operations.ledger import append_entries
from registry.operations.preconditions import check
from registry.operations.serial_blocks import MovedBlock, held_refusal, lock_serialization, locked_blocks
from registry.tables.core import (
    Account,
    CreditClass,
    SerialBlock,
    Serialization,
    TokenizationRequest,
    WalletLink,
    utcnow,
)

#: Requests one bulk call may carry (the API's limit; a body of this many stays far below its size limit).
MAX_BULK_REQUESTS = 1_000


@dataclass(frozen=True)
class TokenizationOrder:
    """One request of a bulk call: what :func:`registry.bridged.custody.request_tokenization` takes."""

    account_id: int
    wallet: str
    class_id: int
    quantity: int
    custody_account_id: int


@dataclass(frozen=True)
class Tokenized:
    """A tokenization request the bulk call recorded, with the blocks it moved to custody."""

    id: int
    account_id: int
    class_id: int
    token_id: str
    wallet: str
    quantity: int
    status: TokenizationStatus
    moved: list[MovedBlock]


class BulkTokenizationRefused(RuleViolation):
    """At least one request of a bulk tokenization was refused, so none was applied.
    ``refusals`` holds (index of the request in the call, its refusal), lowest index first."""

    def __init__(self, refusals: list[tuple[int, RegistryError]], total: int):
        first_index, first = refusals[0]
        super().__init__(f"{len(refusals)} of {total} tokenization requests refused, nothing applied; "
                         f"the first, request {first_index}: {first.detail}", rule="bulk-atomic")
        self.refusals = refusals

    def problem(self) -> dict:
        body = super().problem()
        body["problems"] = [{"index": index, **error.problem()} for index, error in self.refusals]
        return body


def _missing(name: str, ident: int) -> NotFound:
    """What :func:`registry.operations.preconditions.get_row` raises for a missing row."""
    return NotFound(f"{name} {ident} does not exist", field=f"{name}_id")


@dataclass(frozen=True)
class NamedRequest:
    """A request as the API names it: the class by its vintage serialization, the custody
    account left out when the registry has only one."""

    account_id: int
    wallet: str
    serialization: str
    quantity: int
    custody_account_id: int | None = None


def orders_for_serializations(session: Session, requests: list[NamedRequest]) -> list[TokenizationOrder | RegistryError]:
    """Each request with its class (found by serialization, one query for all) and custody
    account, or the refusal the single endpoint gives when it cannot find them."""
    parsed: dict[str, str | RegistryError] = {}
    for request in requests:
        if request.serialization not in parsed:
            try:
                parsed[request.serialization] = str(sr.parse_serialization(request.serialization))
            except sr.SerialFormatError as exc:
                parsed[request.serialization] = RuleViolation(str(exc), field="serialization", rule="serial-format")
    texts = [t for t in parsed.values() if isinstance(t, str)]
    serialization_ids = {row.text: row.id for row in rows_by(session, Serialization.text, texts)}
    class_of = {c.serialization_id: c.id for c in rows_by(session, CreditClass.serialization_id,
                                                          serialization_ids.values())}
    default: int | RegistryError | None = None
    out: list[TokenizationOrder | RegistryError] = []
    for request in requests:
        text = parsed[request.serialization]
        if isinstance(text, RegistryError):
            out.append(text)
            continue
        if text not in serialization_ids:
            out.append(NotFound(f"no ICCs have been issued under {text}", field="serialization"))
            continue
        custody_id = request.custody_account_id
        if custody_id is None:
            if default is None:
                try:
                    default = custody.default_custody_account(session)
                except RegistryError as exc:
                    default = exc
            if isinstance(default, RegistryError):
                out.append(default)
                continue
            custody_id = default
        out.append(TokenizationOrder(request.account_id, request.wallet, class_of[serialization_ids[text]],
                                     request.quantity, custody_id))
    return out


@dataclass
class _Checked:
    order: TokenizationOrder
    credit_class: CreditClass
    wallet: str


def _check_orders(session: Session, orders: list[TokenizationOrder]) -> tuple[dict[int, _Checked],
                                                                              dict[int, RegistryError]]:
    """Every request checked as ``request_tokenization`` checks it, with a query per kind of row."""
    accounts = {a.id: a for a in rows_by(session, Account.id,
                                          [o.account_id for o in orders] + [o.custody_account_id for o in orders])}
    classes = {c.id: c for c in rows_by(session, CreditClass.id, [o.class_id for o in orders])}
    links = {w.address: w for w in rows_by(session, WalletLink.address, [o.wallet for o in orders])}
    untokenizable: dict[int, RegistryError] = {}
    for credit_class in sorted(classes.values(), key=lambda c: c.id):
        try:
            uses_ops.require_tokenizable(session, credit_class)
        except RegistryError as exc:
            untokenizable[credit_class.id] = exc
    checked: dict[int, _Checked] = {}
    refused: dict[int, RegistryError] = {}
    for index, order in enumerate(orders):
        try:
            if order.quantity < 1:
                raise RuleViolation("quantity must be a positive whole number of tonnes", field="quantity")
            account = accounts.get(order.account_id) or _raise(_missing("account", order.account_id))
            credit_class = classes.get(order.class_id) or _raise(_missing("class", order.class_id))
            custody = (accounts.get(order.custody_account_id)
                       or _raise(_missing("custody_account", order.custody_account_id)))
            if custody.type is not AccountType.bridge_custody:
                raise RuleViolation(f"account {order.custody_account_id} is not a bridge custody account",
                                    field="custody_account_id")
            check(lc.check_tokenization, account.type, CreditStatus.active)
            if credit_class.id in untokenizable:
                raise untokenizable[credit_class.id]
            link = links.get(order.wallet)
            if link is None or link.account_id != account.id:
                raise RuleViolation(f"wallet {order.wallet} is not linked to account {order.account_id}",
                                    field="wallet", rule="wallet-must-be-linked")
        except RegistryError as exc:
            refused[index] = exc
            continue
        checked[index] = _Checked(order, credit_class, link.address)
    return checked, refused


def _raise(error: Exception):
    raise error


@dataclass
class _Row:
    """A serial block as the selection leaves it: an existing row (``row``) or a new one."""

    id: int | None
    first: int
    last: int
    kept: dict  # the stored block's attributes before the call (a split-off rest copies them)
    row: SerialBlock | None = None
    tokenization: int | None = None  # index of the request that moves it to custody


def request_tokenizations(session: Session, orders: list[TokenizationOrder | RegistryError]) -> list[Tokenized]:
    """Apply every request of ``orders`` in the caller's transaction, in order, as
    ``request_tokenization`` called once per request would; all or nothing (see the module
    docstring). An item of ``orders`` that is an error is a request refused before it got here
    (:func:`orders_for_serializations`): it is reported with the others. Returns the recorded
    requests in the order of ``orders``."""
    if not orders:
        return []
    early = {i: o for i, o in enumerate(orders) if isinstance(o, RegistryError)}
    checked, refused = _check_orders(session, [o for o in orders if not isinstance(o, RegistryError)])
    if early:  # number the checked requests as in ``orders``
        positions = [i for i, o in enumerate(orders) if not isinstance(o, RegistryError)]
        checked = {positions[i]: c for i, c in checked.items()}
        refused = {**{positions[i]: e for i, e in refused.items()}, **early}
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)  # (account, serialization) -> request indices
    for index, item in checked.items():
        groups[(item.order.account_id, item.credit_class.serialization_id)].append(index)
    serializations = {sid: lock_serialization(session, sid) for sid in sorted({s for _, s in groups})}
    texts = {sid: str(sr.parse_serialization(row.text)) for sid, row in serializations.items()}
    rows_of: dict[tuple[int, int], dict[int, _Row]] = {}
    taken_of: dict[int, list[sr.SerialRange]] = {}
    for (account_id, serialization_id), indices in sorted(groups.items()):
        blocks = locked_blocks(session, account_id=account_id, serialization_id=serialization_id,
                               status=CreditStatus.active, covering=sum(orders[i].quantity for i in indices))
        rows_of[(account_id, serialization_id)] = {b.unit_first: _Row(b.id, b.unit_first, b.unit_last, _kept(b), b)
                                                   for b in blocks}
        plans = take_lowest_each([sr.SerialRange(b.unit_first, b.unit_last) for b in blocks],
                                    [orders[i].quantity for i in indices])
        for index, plan in zip(indices, plans):
            if isinstance(plan, sr.InsufficientCredits):
                refused[index] = held_refusal(session, account_id, serialization_id, str(plan)) or RuleViolation(
                    str(plan), field="quantity", rule="sufficient-active-credits")
            else:
                taken_of[index] = plan
    if refused:
        raise BulkTokenizationRefused(sorted(refused.items()), len(orders))

    # Split the blocks in request order, as the one-by-one operation does: the taken (lower)
    # part keeps its row, the rest is a new row, whose id is the next one handed out.
    new_rows: list[_Row] = []
    taken_rows: dict[int, list[_Row]] = {}
    for index in range(len(orders)):
        group = rows_of[(orders[index].account_id, checked[index].credit_class.serialization_id)]
        taken_rows[index] = []
        for part in taken_of[index]:
            piece = group[part.first]
            if part.last != piece.last:
                rest = _Row(None, part.last + 1, piece.last, piece.kept)
                group[rest.first] = rest
                new_rows.append(rest)
                piece.last = part.last
            piece.tokenization = index
            taken_rows[index].append(piece)
    for piece, ident in zip(new_rows, next_ids(session, SerialBlock, len(new_rows))):
        piece.id = ident
    request_ids = next_ids(session, TokenizationRequest, len(orders))
    now = utcnow()
    insert_rows(session, TokenizationRequest, [
        {"id": request_ids[i], "account_id": o.account_id, "class_id": o.class_id, "wallet": checked[i].wallet,
         "quantity": o.quantity, "status": TokenizationStatus.pending, "created_at": now}
        for i, o in enumerate(orders)])
    for index, pieces in taken_rows.items():
        for piece in pieces:
            if piece.row is not None:
                piece.row.unit_last = piece.last
                piece.row.quantity = piece.last - piece.first + 1
                piece.row.account_id = orders[index].custody_account_id
                piece.row.tokenization_id = request_ids[index]
                session.add(piece.row)
    session.flush()
    if new_rows:
        insert_rows(session, SerialBlock, [_new_block(piece, orders, request_ids) for piece in new_rows])
    entries, out = [], []
    for index, order in enumerate(orders):
        credit_class = checked[index].credit_class
        text = texts[credit_class.serialization_id]
        pieces = taken_rows[index]
        moved = [MovedBlock(sr.serial_block_text(text, p.first, p.last), p.first, p.last, p.last - p.first + 1)
                 for p in pieces]
        src, dst = (order.account_id, CreditStatus.active.value), (order.custody_account_id, CreditStatus.active.value)
        entries.append(("tokenization.requested", {
            "tokenization_id": request_ids[index],
            "account_id": order.account_id,
            "custody_account_id": order.custody_account_id,
            "wallet": checked[index].wallet,
            "token_id": credit_class.token_id,
            "serial_blocks": [m.serial_block for m in moved],
            "quantity": order.quantity,
            "moves": [move_record(serializations[credit_class.serialization_id].text, p.first, p.last, src, dst)
                      for p in pieces],
        }))
        out.append(Tokenized(request_ids[index], order.account_id, order.class_id, credit_class.token_id,
                             checked[index].wallet, order.quantity, TokenizationStatus.pending, moved))
    append_entries(session, entries)
    return out


#: The attributes a split-off rest copies from the block it splits (take_lowest_blocks).
_COPIED = ("serialization_id", "status", "account_id", "issuance_id", "tokenization_id", "mirrored", "retirement_id",
           "cancellation_id", "hold_id")


def _kept(block: SerialBlock) -> dict:
    return {name: getattr(block, name) for name in _COPIED}


def _new_block(piece: _Row, orders: list[TokenizationOrder], request_ids: list[int]) -> dict:
    """The row of a block split off an existing one: the stored block's attributes (as the
    one-by-one split copies them), moved to custody if a request took it."""
    row = {**piece.kept, "id": piece.id, "unit_first": piece.first, "unit_last": piece.last,
           "quantity": piece.last - piece.first + 1}
    if piece.tokenization is not None:
        row["account_id"] = orders[piece.tokenization].custody_account_id
        row["tokenization_id"] = request_ids[piece.tokenization]
    return row
