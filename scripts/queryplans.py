"""The plans of the statements an operation really runs, for the benchmarks' EXPLAIN sections.

:func:`explain_run` runs a callable (one real operation, in its own transaction, committed as
usual) and returns the plan of every statement it sent to the database, in order:

- PostgreSQL: the server's ``auto_explain`` module, loaded for the run's transactions only
  (``SET LOCAL``), logs each statement's plan as it executes with ``ANALYZE`` and ``BUFFERS``
  (actual rows, timings, pages hit and read); the log lines reach the client as notices
  (``client_min_messages = log``). Where ``auto_explain`` cannot be loaded (not a superuser, no
  contrib package), each captured statement is given to ``EXPLAIN`` with its parameters instead.
- SQLite: each statement captured (``before_cursor_execute``) is given to ``EXPLAIN QUERY PLAN``
  with its parameters after the run (it plans without executing).

Either way the SQL shown is what SQLAlchemy sent, not a copy of it written by hand.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from sqlalchemy import event

#: Statements whose plan says nothing (locks, savepoints, transaction control).
_SKIP = re.compile(r"^\s*(SELECT pg_advisory|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|COMMIT|LOAD|SET |PRAGMA)", re.I)


@dataclass
class Plan:
    """One statement and its plan (one line per plan node)."""

    statement: str
    lines: list[str] = field(default_factory=list)
    ms: float | None = None  # PostgreSQL with ANALYZE: the statement's execution time
    method: str = ""  # how the plan was obtained

    @property
    def label(self) -> str:
        """The statement on one line, its column lists elided and its columns unqualified."""
        text = " ".join(self.statement.split())
        text = re.sub(r"^SELECT (?!pg_).*? FROM ", "SELECT … FROM ", text)
        text = re.sub(r"^(INSERT INTO \w+) \(.*?\) VALUES \(.*?\)", r"\1 (…) VALUES (…)", text)
        text = re.sub(r"^(INSERT INTO \w+) \(.*?\) (SELECT|VALUES)", r"\1 (…) \2", text)
        return re.sub(r"\b[a-z_]+\.(?=[a-z_]+\b)", "", text)


@dataclass
class Captured:
    statement: str
    parameters: Any
    executemany: bool


@contextmanager
def captured_statements(engine) -> Iterator[list[Captured]]:
    """Every statement ``engine`` sends while the block runs, with its parameters, in order."""
    out: list[Captured] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        out.append(Captured(statement, parameters, executemany))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield out
    finally:
        event.remove(engine, "before_cursor_execute", before)


def explain_run(engine, run: Callable[[], Any], sent: list[Captured] | None = None) -> list[Plan]:
    """Run ``run()`` and return the plans of the statements it executed (see the module doc);
    ``sent``, if given, receives every statement the run itself sent (those of the explaining
    left out)."""
    if engine.dialect.name == "postgresql":
        plans = _auto_explain(engine, run, sent)
        if plans is not None:
            return plans
    with captured_statements(engine) as captured:
        run()
    if sent is not None:
        sent.extend(captured)
    return _explain_each(engine, captured, "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN ")


def _auto_explain_available(engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("LOAD 'auto_explain'")
            conn.rollback()
        return True
    except Exception:  # noqa: BLE001 - any refusal means: fall back to EXPLAIN
        return False


def _auto_explain(engine, run: Callable[[], Any], sent: list[Captured] | None) -> list[Plan] | None:
    if not _auto_explain_available(engine):
        return None
    notices: list[str] = []
    hooked: list[Any] = []

    def on_notice(diag) -> None:
        if diag.message_primary and "plan:" in diag.message_primary:
            notices.append(diag.message_primary)

    def on_begin(conn) -> None:
        raw = conn.connection.driver_connection
        if raw not in hooked:
            raw.add_notice_handler(on_notice)
            hooked.append(raw)
        conn.exec_driver_sql("LOAD 'auto_explain'")
        for setting, value in (("auto_explain.log_min_duration", "0"), ("auto_explain.log_analyze", "on"),
                               ("auto_explain.log_buffers", "on"), ("auto_explain.log_timing", "on"),
                               ("auto_explain.log_level", "log"), ("client_min_messages", "log")):
            conn.exec_driver_sql(f"SET LOCAL {setting} = {value}")

    event.listen(engine, "begin", on_begin)
    try:
        with captured_statements(engine) as captured:
            run()
    finally:
        event.remove(engine, "begin", on_begin)
        for raw in hooked:
            raw.remove_notice_handler(on_notice)
    if sent is not None:  # what the run sent, without the settings that turned auto_explain on
        sent.extend(c for c in captured if not re.match(r"\s*(SET LOCAL|LOAD) ", c.statement))
    texts = {_numbered(c.statement) for c in captured}
    plans = []
    for notice in notices:
        head, _, body = notice.partition("\n")
        duration = re.search(r"duration: ([0-9.]+) ms", head)
        body = body.removeprefix("Query Text: ")
        # the statement may span lines: it is the one sent that the text starts with
        statement = max((s for s in texts if body.startswith(s)), key=len, default=body.partition("\n")[0])
        tree = body[len(statement):]
        if _SKIP.match(statement):
            continue
        plans.append(Plan(statement, [line for line in tree.splitlines() if line.strip()],
                          float(duration.group(1)) if duration else None, "auto_explain, ANALYZE BUFFERS"))
    return plans


def _numbered(statement: str) -> str:
    """A statement as psycopg sends it: ``%(name)s`` placeholders become ``$1``, ``$2``... in
    order of first appearance."""
    numbers: dict[str, int] = {}

    def number(match: re.Match) -> str:
        return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

    return re.sub(r"%\((\w+)\)s", number, statement).replace("%%", "%")


def _explain_each(engine, captured: list[Captured], prefix: str) -> list[Plan]:
    plans = []
    with engine.connect() as conn:
        for c in captured:
            if c.executemany or _SKIP.match(c.statement):
                continue
            rows = conn.exec_driver_sql(prefix + c.statement, c.parameters).all()
            if prefix.startswith("EXPLAIN QUERY PLAN"):
                depth: dict[int, int] = {0: -1}
                lines = []
                for node, parent, _unused, detail in rows:
                    depth[node] = depth.get(parent, -1) + 1
                    lines.append("  " * depth[node] + detail)
            else:
                lines = [row[0] for row in rows]
            plans.append(Plan(c.statement, lines, method=prefix.strip()))
        conn.rollback()
    return plans


def render(title: str, plans: list[Plan], width: int = 150) -> list[str]:
    """A compact text section: each statement (shortened) and its plan nodes, indented."""
    method = plans[0].method if plans else "nothing was run"
    out = [f"Plans: {title} ({method})"]
    for plan in plans:
        label = plan.label
        if len(label) > width:
            label = label[: width - 1] + "…"
        timing = f"  [{plan.ms:.3f} ms]" if plan.ms is not None else ""
        out.append(f"  {label}{timing}")
        for line in plan.lines:
            out.append(f"      {_compact(line)}")
    return out


def _compact(line: str) -> str:
    """A plan line without the cost estimate (the actual figures stay)."""
    return re.sub(r"\s*\(cost=[^)]*\)", "", line.rstrip())
