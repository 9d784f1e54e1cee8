"""How every ``icr-bridge`` command fails: one line (two at most) on stderr and an exit code that
means one thing.

====  =====================================================================================
code  meaning
====  =====================================================================================
0     ok
1     the registry and the chain disagree (only ``reconcile`` and ``snapshot verify``)
2     configuration: a setting, a key (missing, without its role or its ether), a database
      URL, a missing registry database, a bad option value
3     infrastructure: the node or the database server does not answer, the node lacks the
      historical state a command reads (an archive node is needed)
4     an error the bridge does not know (a bug): its type and message; ``--debug`` adds the
      traceback
====  =====================================================================================

:func:`explain` is the one place that turns an exception into ``(line, code)``;
:class:`FailingGroup` (the root command's class) calls it for whatever a command raises, so
commands raise (:class:`ConfigError`, :class:`InfraError`, :class:`Disagreement`, or the
library's own exception) instead of printing and exiting. Lines are redacted: passwords in URLs
(``postgresql://user:***@host/db``), query strings and API-key path segments of RPC URLs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

from bridge.redaction import redact, redact_url

EXIT_OK = 0
EXIT_DISAGREE = 1
EXIT_CONFIG = 2
EXIT_INFRA = 3
EXIT_BUG = 4

#: What the running command left for :func:`explain` to name (its chain, keys, database URL) and
#: ``--debug``; emptied when the root command starts (one command per process, or per
#: ``CliRunner.invoke`` in tests).
_memory: dict[str, Any] = {}
_META_CHAIN = "chain"
_META_KEYS = "keys"
_META_DEBUG = "debug"
_META_DATABASE = "database_url"


class CliError(Exception):
    """A failure the command line explains in one line with its exit code."""

    code = EXIT_BUG

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class ConfigError(CliError):
    """A setting, a key, an option or the database URL is wrong (exit 2); the message names it."""

    code = EXIT_CONFIG


class InfraError(CliError):
    """The node or the database does not answer, or lacks the state asked for (exit 3)."""

    code = EXIT_INFRA


class Disagreement(CliError):
    """The registry and the chain disagree (exit 1): only reconcile and snapshot verify."""

    code = EXIT_DISAGREE


# ------------------------------------------------------------------------------------------
# Redaction: bridge/redaction.py (preflight's banner uses it too)
# ------------------------------------------------------------------------------------------


def one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------
# What a command may leave for the explanation: the chain and the keys it uses
# ------------------------------------------------------------------------------------------


def remember(chain: Any = None, keys: Any = None) -> None:
    """Let :func:`explain` name the node, the contract and the keys of this command."""
    if chain is not None:
        _memory[_META_CHAIN] = chain
    if keys is not None:
        _memory[_META_KEYS] = keys


# ------------------------------------------------------------------------------------------
# Exceptions -> (line, exit code)
# ------------------------------------------------------------------------------------------

#: What nodes say when they lack the state of an old block (anvil, geth, erigon, nethermind,
#: hosted providers).
_NO_HISTORY = ("blockoutofrange", "block out of range", "missing trie node", "historical state",
               "state histories haven't been fully indexed", "state is not available", "pruned",
               "header not found", "unknown block", "state not found", "required historical state unavailable")


@dataclass(frozen=True)
class Explanation:
    line: str
    code: int


def explain(exc: BaseException, meta: dict | None = None) -> Explanation:
    """The one line and the exit code for ``exc`` (see the module's table); ``meta`` is what the
    command left with :func:`remember` and :func:`remember_database` (the chain, the keys, the
    database URL), so the line can name them."""
    line, code = _explain(exc, meta or {})
    return Explanation(one_line(redact(line)), code)


def _explain(exc: BaseException, meta: dict) -> tuple[str, int]:
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from bridge.chain.client import ChainRevert, SendRefused, TransactionFailed
    from bridge.operator import NodeUnreachable, OperatorError
    from bridge.settings import KeyError_

    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, NodeUnreachable):
        return str(exc), EXIT_INFRA
    if isinstance(exc, (KeyError_, OperatorError)):
        return str(exc), EXIT_CONFIG
    if isinstance(exc, ValidationError):
        return settings_error(exc), EXIT_CONFIG
    if isinstance(exc, (NoSuchModuleError, ArgumentError)):
        return f"ICR_DATABASE_URL / --db: {exc}", EXIT_CONFIG
    if isinstance(exc, SQLAlchemyError):
        return database_error(exc, meta.get(_META_DATABASE))
    chain, keys = meta.get(_META_CHAIN), meta.get(_META_KEYS)
    if isinstance(exc, (ChainRevert, SendRefused, TransactionFailed)) and chain is not None:
        from bridge.engine.steps import PERMANENT, classify

        kind, reason = classify(exc, chain, keys)
        return reason, EXIT_CONFIG if kind == PERMANENT else EXIT_INFRA
    node = f"the node at {chain.w3.provider.endpoint_uri}" if chain is not None and hasattr(
        chain.w3.provider, "endpoint_uri") else "the node"
    message = str(exc)
    if any(m in message.lower().replace("_", " ").replace("error:", "") for m in _NO_HISTORY) \
            or "BlockOutOfRange" in type(exc).__name__:
        return (f"{node} lacks the historical state this command reads ({type(exc).__name__}: {message}); "
                "use an archive node (anvil keeps it unless --prune-history)"), EXIT_INFRA
    if _is_connection_error(exc):
        return f"{node} does not answer: {type(exc).__name__}: {message}", EXIT_INFRA
    return f"unexpected {type(exc).__name__}: {message} (--debug shows the traceback)", EXIT_BUG


def _is_connection_error(exc: BaseException) -> bool:
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import Timeout
    from web3.exceptions import RequestTimedOut, TimeExhausted

    return isinstance(exc, (ConnectionError, TimeoutError, RequestsConnectionError, Timeout, RequestTimedOut,
                            TimeExhausted))


def settings_error(exc) -> str:
    """A pydantic ValidationError of the settings as one line naming the ``ICR_*`` variable."""
    parts = []
    for error in exc.errors():
        name = "_".join(str(p) for p in error.get("loc", ()) if p != "__root__")
        setting = f"ICR_{name.upper()}" if name else "settings"
        value = "" if name.endswith(("key", "password")) else f" (got {error.get('input')!r})"
        parts.append(f"{setting}: {error.get('msg', 'invalid')}{value}")
    return "; ".join(parts) or str(exc)


def database_error(exc, url: str | None = None) -> tuple[str, int]:
    """An error of the registry database at ``url``: configuration (2) when the URL names
    something that does not exist, refuses the credentials or holds no registry,
    infrastructure (3) when nothing answers."""
    orig = getattr(exc, "orig", None) or exc
    message = one_line(str(orig).splitlines()[0] if str(orig) else type(orig).__name__, 300)
    url = redact_url(url) if url else None
    where = f" ({url})" if url else ""
    low = str(orig).lower()
    if ("relation" in low and "does not exist" in low) or "no such table" in low:
        return (f"ICR_DATABASE_URL / --db: the database{where} holds no registry ({message}); "
                "`icr-bridge deploy` creates its tables"), EXIT_CONFIG
    if "unable to open database file" in low:
        return f"ICR_DATABASE_URL / --db: cannot open the SQLite file{where}: {message}", EXIT_CONFIG
    if "does not exist" in low or "authentication failed" in low or "no password supplied" in low:
        return f"ICR_DATABASE_URL / --db: the database server refused{where}: {message}", EXIT_CONFIG
    if "socket" in low and url and "@" not in url and ":///" in url:
        return (f"ICR_DATABASE_URL / --db: {url} has no host (three slashes: the local socket, which is not "
                "there); write postgresql://USER@HOST:5432/DATABASE"), EXIT_CONFIG
    kind = type(exc).__name__
    if kind in ("OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError"):
        return f"the registry database{where} does not answer: {message}", EXIT_INFRA
    return f"registry database error{where}: {kind}: {message}", EXIT_INFRA


def remember_database(url: str) -> None:
    """Let :func:`explain` name the database URL (redacted) this command opened."""
    _memory[_META_DATABASE] = url


# ------------------------------------------------------------------------------------------
# The root command: every command's failure goes through explain()
# ------------------------------------------------------------------------------------------


def set_debug(value: bool) -> None:
    _memory[_META_DEBUG] = value


class FailingGroup(TyperGroup):
    """The ``icr-bridge`` group: an exception out of any command becomes its one line on stderr
    and its exit code; with ``--debug`` the traceback comes first."""

    def invoke(self, ctx) -> Any:
        _memory.clear()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt):
            raise  # Typer's (and Click's) own: exits, usage errors
        except Exception as exc:  # noqa: BLE001 - the one place failures are explained
            found = explain(exc, _memory)
            if _memory.get(_META_DEBUG):
                import traceback

                traceback.print_exception(exc, file=sys.stderr)
            fail_line(found.line)
            raise typer.Exit(found.code) from None


def fail_line(line: str) -> None:
    """Print a failure line on stderr (red on a terminal, plain otherwise)."""
    from rich.markup import escape

    from bridge.cli.options import err

    err.print(f"[red]{escape(line)}[/]", soft_wrap=True)
