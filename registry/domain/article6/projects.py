"""A project's Article 6.2 status (§I.12, §V.b): standard, authorization pending,
authorized or suspended, and the transitions between them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from registry.domain.article6.letters import Letter
from registry.domain.article6.rules import (
    R_LETTER_PROJECT,
    R_LETTER_PUBLISHED,
    R_REINSTATE,
    HistoryEntry,
    IllegalTransition,
    Refusal,
    _require,
)


class ProjectStatus(str, Enum):
    standard = "standard"
    authorization_pending = "Article 6.2 authorization pending"
    authorized = "authorized"
    suspended = "suspended"


_PROJECT_TRANSITIONS: dict[str, tuple[frozenset[ProjectStatus], ProjectStatus]] = {
    "request_authorization": (frozenset({ProjectStatus.standard}), ProjectStatus.authorization_pending),
    "authorize": (frozenset({ProjectStatus.authorization_pending}), ProjectStatus.authorized),
    "decline_authorization": (frozenset({ProjectStatus.authorization_pending}), ProjectStatus.standard),
    "suspend": (frozenset({ProjectStatus.authorized}), ProjectStatus.suspended),
    "reinstate": (frozenset({ProjectStatus.suspended}), ProjectStatus.authorized),
    "revoke": (frozenset({ProjectStatus.authorized, ProjectStatus.suspended}), ProjectStatus.standard),
}


@dataclass(frozen=True)
class ProjectArticle6:
    """A project's Article 6.2 status and its history."""

    project_number: int
    status: ProjectStatus = ProjectStatus.standard
    history: tuple[HistoryEntry, ...] = ()


def _project_step(project: ProjectArticle6, transition: str, at: datetime, actor: str, note: str = "",
                  evidence: str | None = None) -> ProjectArticle6:
    allowed, target = _PROJECT_TRANSITIONS[transition]
    if project.status not in allowed:
        raise IllegalTransition("project Article 6.2 status", transition, project.status, "§I.12, §V.b")
    entry = HistoryEntry(transition, project.status.value, target.value, at, actor, note, evidence=evidence)
    return replace(project, status=target, history=project.history + (entry,))


def request_authorization(project: ProjectArticle6, at: datetime, actor: str, note: str = "") -> ProjectArticle6:
    """standard -> Article 6.2 authorization pending, when a letter is received (§I.12)."""
    return _project_step(project, "request_authorization", at, actor, note)


def authorize_project(project: ProjectArticle6, letter: Letter, at: datetime, actor: str) -> ProjectArticle6:
    """pending -> authorized, once a letter for this project is approved and published (§I.12)."""
    if project.status is not ProjectStatus.authorization_pending:
        raise IllegalTransition("project Article 6.2 status", "authorize", project.status, "§I.12")
    refusals = []
    if not letter.in_force:
        refusals.append(Refusal(R_LETTER_PUBLISHED, f"letter {letter.number} is {letter.status.value}", "letter"))
    if letter.content.activity.project_number != project.project_number:
        refusals.append(Refusal(R_LETTER_PROJECT, f"letter {letter.number} is for project "
                                f"{letter.content.activity.project_number}", "letter"))
    _require(refusals)
    return _project_step(project, "authorize", at, actor, evidence=f"letter {letter.number}")


def decline_authorization(project: ProjectArticle6, at: datetime, actor: str, note: str) -> ProjectArticle6:
    """pending -> standard, when the letter is rejected."""
    return _project_step(project, "decline_authorization", at, actor, note)


def suspend_project(project: ProjectArticle6, at: datetime, actor: str, note: str) -> ProjectArticle6:
    """authorized -> suspended after a non-CA event (§V.b, last paragraph)."""
    return _project_step(project, "suspend", at, actor, note)


def reinstate_project(project: ProjectArticle6, at: datetime, actor: str, *, ca_applied_confirmed: bool,
                      outstanding_compensation: int, evidence: str) -> ProjectArticle6:
    """suspended -> authorized, only once a CA is confirmed applied and every previous non-CA
    event is fully rectified (``outstanding_compensation`` == 0 tonnes) (§V.b)."""
    if project.status is not ProjectStatus.suspended:
        raise IllegalTransition("project Article 6.2 status", "reinstate", project.status, "§V.b")
    refusals = []
    if not ca_applied_confirmed:
        refusals.append(Refusal(R_REINSTATE, "no CA confirmed applied by the host country", "ca_applied_confirmed"))
    if outstanding_compensation:
        refusals.append(Refusal(R_REINSTATE, f"{outstanding_compensation} t of non-CA compensation outstanding",
                                "outstanding_compensation"))
    _require(refusals)
    return _project_step(project, "reinstate", at, actor, evidence=evidence)


def revoke_authorization(project: ProjectArticle6, at: datetime, actor: str, note: str) -> ProjectArticle6:
    """authorized or suspended -> standard, when the letter is withdrawn (§I.10.3)."""
    return _project_step(project, "revoke", at, actor, note)
