"""registry.bulk.insert_rows: the rows written are the rows given (defaults and enums as the ORM
writes them), on both paths (COPY on PostgreSQL, executemany elsewhere), in the caller's
transaction: nothing committed, a rollback leaves nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert
from sqlmodel import Session, select

from registry.bulk import insert_rows
from registry.domain.enums import AccountType
from registry.tables.core import Account, LedgerEntry, Organization


def organizations(n: int, offset: int = 0) -> list[dict]:
    return [{"id": offset + i, "name": f"Org {offset + i} \t tab, \\ backslash, 'quote', \u00fe\u00f3rn"}
            for i in range(1, n + 1)]


def accounts(n: int, offset: int = 0) -> list[dict]:
    return [{"id": offset + i, "organization_id": offset + i if i % 3 else None, "name": f"Account {offset + i}",
             "type": AccountType.bridge_custody if i % 2 else AccountType.holding} for i in range(1, n + 1)]


def ledger(n: int) -> list[dict]:
    return [{"seq": i, "kind": "transfer", "payload": '{"moves": [], "note": "line\\nbreak"}',
             "prev_hash": f"{i - 1:064x}", "entry_hash": f"{i:064x}"} for i in range(1, n + 1)]


def paths(engine) -> list[bool]:
    """The paths the dialect has: COPY and executemany on PostgreSQL, executemany on SQLite."""
    return [True, False] if engine.dialect.name == "postgresql" else [False]


def read(session: Session, model, columns: list[str]) -> list[tuple]:
    ordered = select(model).order_by(*model.__table__.primary_key)
    return [tuple(getattr(row, c) for c in columns) for row in session.exec(ordered)]


@pytest.mark.parametrize("n", [1, 250])
def test_the_rows_written_are_the_rows_given_on_every_path(engine, n):
    reference: dict[str, list[tuple]] = {}
    for copy in paths(engine):
        with Session(engine) as session:
            assert insert_rows(session, Organization, organizations(n), copy=copy) == n
            assert insert_rows(session, Account, accounts(n), copy=copy) == n
            assert insert_rows(session, LedgerEntry, ledger(n), copy=copy) == n
            got = {"org": read(session, Organization, ["id", "name"]),
                   "account": read(session, Account, ["id", "organization_id", "name", "type"]),
                   "ledger": read(session, LedgerEntry, ["seq", "kind", "payload", "prev_hash", "entry_hash"])}
            created = session.exec(select(func.count()).select_from(Account)
                                   .where(Account.created_at.is_not(None))).one()
            session.rollback()
        assert got["org"] == [(r["id"], r["name"]) for r in organizations(n)]
        assert got["account"] == [(r["id"], r["organization_id"], r["name"], r["type"]) for r in accounts(n)]
        assert got["ledger"] == [(r["seq"], r["kind"], r["payload"], r["prev_hash"], r["entry_hash"])
                                 for r in ledger(n)]
        assert created == n  # the Python-side default was applied
        # the same rows through a plain executemany insert read back the same
        with Session(engine) as session:
            session.execute(insert(Organization), organizations(n))
            session.execute(insert(Account), accounts(n))
            plain = read(session, Account, ["id", "organization_id", "name", "type"])
            session.rollback()
        assert plain == got["account"]
        reference.setdefault("account", got["account"])
        assert got["account"] == reference["account"]


def test_the_rows_are_in_the_callers_transaction_and_a_rollback_leaves_nothing(engine):
    for copy in paths(engine):
        with Session(engine) as session:
            insert_rows(session, Organization, organizations(300), copy=copy)
            # visible to the transaction that wrote them, not to another connection before commit
            assert session.exec(select(func.count()).select_from(Organization)).one() == 300
            other = engine.raw_connection()  # a reader (no write transaction: SQLite would wait for the writer)
            try:
                cursor = other.cursor()
                cursor.execute("SELECT COUNT(*) FROM organization")
                assert cursor.fetchone()[0] == 0
                other.rollback()
            finally:
                other.close()
            session.rollback()
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Organization)).one() == 0
    with Session(engine) as session:  # and committed by the caller, they stay
        insert_rows(session, Organization, organizations(3))
        session.commit()
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Organization)).one() == 3


def test_rows_may_refer_to_objects_the_session_has_pending(engine):
    with Session(engine) as session:
        session.add(Organization(id=1, name="Pending organization"))
        insert_rows(session, Account, [{"id": 1, "organization_id": 1, "name": "A", "type": AccountType.holding}])
        assert session.exec(select(Account.organization_id)).one() == 1
        session.rollback()


def test_a_failing_write_leaves_nothing_once_the_caller_rolls_back(engine):
    for copy in paths(engine):
        with Session(engine) as session:
            rows = organizations(10)
            rows[-1]["name"] = rows[0]["name"]  # the unique name collides
            with pytest.raises(Exception):
                insert_rows(session, Organization, rows, copy=copy)
            session.rollback()
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Organization)).one() == 0


def test_bad_input_is_refused_before_anything_is_written(engine):
    with Session(engine) as session:
        with pytest.raises(ValueError, match="same columns"):
            insert_rows(session, Organization, [{"id": 1, "name": "a"}, {"id": 2}])
        with pytest.raises(ValueError, match="no column"):
            insert_rows(session, Organization, [{"id": 1, "nom": "a"}])
        if engine.dialect.name != "postgresql":
            with pytest.raises(ValueError, match="PostgreSQL"):
                insert_rows(session, Organization, organizations(1), copy=True)
        assert insert_rows(session, Organization, []) == 0
        assert session.exec(select(func.count()).select_from(Organization)).one() == 0
