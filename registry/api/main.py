"""The registry's HTTP API: every resource router of :mod:`registry.api.routes`, included in the
order of the OpenAPI document (the public reads, then the operations that need an API key, then
Article 6.2 and additionality)."""

from __future__ import annotations

from fastapi import APIRouter

from registry.api.routes import (
    accounts,
    additionality,
    annual_reports,
    api_keys,
    article6_projects,
    balances,
    cancellations,
    corresponding_adjustments,
    designations,
    health,
    holds,
    host_countries,
    issuances,
    ledger,
    letters,
    non_ca_events,
    organizations,
    projects,
    retirements,
    serial_blocks,
    tokenizations,
    transfers,
    wallets,
)

api_router = APIRouter()
for _module in (health, organizations, accounts, balances, projects, serial_blocks, issuances, retirements,
                cancellations, holds, ledger, wallets):
    api_router.include_router(_module.router)
for _module in (organizations, accounts, wallets, projects, issuances, transfers, retirements, cancellations,
                holds, tokenizations, api_keys):
    api_router.include_router(_module.auth_router)
for _module in (host_countries, article6_projects, letters, designations, corresponding_adjustments, non_ca_events,
                annual_reports, additionality):
    api_router.include_router(_module.router)
