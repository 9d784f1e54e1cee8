"""Listeners for registry state changes, run inside the operation's own transaction.

The registry knows nothing of what is built on it: an operation announces what it did with
:func:`emit`, and whoever cares registers a listener with :func:`on`. The bridge's webhook
outbox listens for ``retirement.recorded`` so that a retirement made in the registry (``POST
/retirements``) reaches marketplaces like one synced from the chain. A listener runs in the
caller's transaction and must not commit: if it raises, the whole operation rolls back, so an
operation and what its listeners wrote land together or not at all.

A set-based operation that does many of the same change at once announces them with
:func:`emit_many`: a listener registered with a ``many`` form gets them all in one call (and
writes what it writes in bulk), any other listener is called once per change, in order.

Kinds emitted:

- ``retirement.recorded`` (``retirement``: the :class:`~registry.tables.core.Retirement`,
  ``serial_blocks``: the retired serial blocks as text) by :func:`registry.operations.retirements.retire`
  and, for an on-chain retirement the sync records, :func:`registry.bridged.custody.retire_from_custody`.
- ``ca_status.changed`` (``credit_class``: the :class:`~registry.tables.core.CreditClass` whose
  status changed, ``transition``, ``from_status``, ``to_status``, ``note``, ``evidence``, ``at``) by
  the Article 6.2 CA operations (:mod:`registry.operations.article6.adjustments`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from sqlmodel import Session

Listener = Callable[..., None]

KINDS = frozenset({"retirement.recorded", "ca_status.changed"})

_listeners: dict[str, list[Listener]] = defaultdict(list)
#: The ``many`` form of a listener: ``many(session, [details, ...])`` does what calling the
#: listener once per details in turn does.
_many: dict[Listener, Callable[[Session, list[dict[str, Any]]], None]] = {}


def on(kind: str, listener: Listener, many: Callable[[Session, list[dict[str, Any]]], None] | None = None) -> Listener:
    """Call ``listener(session, **details)`` whenever ``kind`` is emitted (once per listener,
    however often it is registered); ``many``, if given, is called instead by :func:`emit_many`."""
    if kind not in KINDS:
        raise ValueError(f"unknown registry hook {kind!r}; known: {', '.join(sorted(KINDS))}")
    if listener not in _listeners[kind]:
        _listeners[kind].append(listener)
    if many is not None:
        _many[listener] = many
    return listener


def off(kind: str, listener: Listener) -> None:
    """Stop calling ``listener`` for ``kind`` (no error if it was not registered)."""
    if listener in _listeners.get(kind, []):
        _listeners[kind].remove(listener)
    if not any(listener in registered for registered in _listeners.values()):
        _many.pop(listener, None)


def emit(session: Session, kind: str, **details: Any) -> None:
    """Run every listener of ``kind`` in the caller's transaction, in registration order."""
    for listener in list(_listeners.get(kind, ())):
        listener(session, **details)


def emit_many(session: Session, kind: str, details: list[dict[str, Any]]) -> None:
    """Announce many changes of one kind at once, in order: each listener of ``kind`` (in
    registration order) gets them all, through its ``many`` form when it has one, else one call
    per change. With one listener that is exactly what :func:`emit` once per change does."""
    if not details:
        return
    for listener in list(_listeners.get(kind, ())):
        many = _many.get(listener)
        if many is not None:
            many(session, details)
        else:
            for one in details:
                listener(session, **one)
