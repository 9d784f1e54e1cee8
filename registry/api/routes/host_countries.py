"""Article 6.2 host countries: whether each has a national framework (§4.1)."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.auth import AdminDep, actor_of
from registry.api.deps import SessionDep, committing
from registry.api.problems import AUTH_RESPONSES, PROBLEM_RESPONSES
from registry.api.schemas.article6 import HostCountryPublic, HostCountryUpdate
from registry.operations.article6 import projects as project_ops

router = APIRouter(tags=["article6"], responses={**PROBLEM_RESPONSES, **AUTH_RESPONSES})


@router.put("/article6/host-countries/{country}")
def set_host_country(country: str, body: HostCountryUpdate, session: SessionDep, principal: AdminDep
                     ) -> HostCountryPublic:
    """Record whether a host country has a national Article 6.2 framework (§4.1)."""
    with committing(session):
        row = project_ops.set_host_country(session, country, article6_framework=body.article6_framework,
                                     reference=body.reference, actor=actor_of(principal))
        return HostCountryPublic(country=row.country, article6_framework=row.article6_framework,
                                 reference=row.reference)
