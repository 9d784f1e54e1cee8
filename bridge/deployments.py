"""The one lookup of the ICC token deployment this registry mirrors into on a chain."""

from __future__ import annotations

from sqlmodel import Session, select

from bridge.tables import Deployment


def deployment_on(session: Session, chain_id: int) -> Deployment | None:
    """The recorded deployment on chain ``chain_id``, or None when this registry has none there."""
    return session.exec(select(Deployment).where(Deployment.chain_id == chain_id)).first()


def require_deployment(session: Session, chain_id: int) -> Deployment:
    """The recorded deployment on chain ``chain_id``; LookupError naming the chain otherwise."""
    deployment = deployment_on(session, chain_id)
    if deployment is None:
        raise LookupError(f"no ICC token deployment is recorded for chain {chain_id}: run `icr-bridge deploy`")
    return deployment
