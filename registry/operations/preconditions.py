"""What every operation checks before it changes anything: that the rows it names exist, and that
the pure rules of :mod:`registry.domain.lifecycle` allow it (their refusals become
:class:`registry.errors.RuleViolation`)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from registry.domain import lifecycle as lc
from registry.errors import NotFound, RuleViolation


def get_row(session: Session, model, ident: int, name: str, field: str | None = None):
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{name} {ident} does not exist", field=field or f"{name}_id")
    return row


def check(rule, *args, **kwargs) -> Any:
    """Apply a pure lifecycle rule; its refusal becomes a :class:`RuleViolation` naming the
    field and rule."""
    try:
        return rule(*args, **kwargs)
    except lc.LifecycleError as exc:
        raise RuleViolation(exc.detail, field=exc.field, rule=exc.rule) from exc
