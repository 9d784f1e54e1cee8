"""Checks that the registry and the chain agree (the conservation invariant).

For every credit class on a deployment: tonnes in bridge custody in the registry equal the
token supply on-chain plus the custody units still waiting for their leaf to be minted.
A retirement on-chain that the sync has not applied yet shows up as a difference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry import custody
from registry.models import CreditClass, Serialization

from .chain import Chain
from .models import Deployment


@dataclass
class ClassConservation:
    token_id: str
    serialization: str
    registry_custody: int
    awaiting_mint: int
    onchain_supply: int

    @property
    def ok(self) -> bool:
        return self.registry_custody == self.onchain_supply + self.awaiting_mint

    def as_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def conservation(engine: Engine, chain: Chain) -> list[ClassConservation]:
    with Session(engine) as session:
        deployment = session.exec(select(Deployment).where(Deployment.chain_id == chain.chain_id)).one()
        rows = []
        for credit_class in session.exec(select(CreditClass).order_by(CreditClass.id)):
            in_custody = custody.custody_total(session, deployment.custody_account_id, credit_class.id)
            awaiting = custody.custody_total(session, deployment.custody_account_id, credit_class.id, mirrored=False)
            supply = chain.call(chain.token.functions.totalSupply(int(credit_class.token_id)), "totalSupply")
            if in_custody == 0 and supply == 0:
                continue
            rows.append(
                ClassConservation(
                    token_id=credit_class.token_id,
                    serialization=session.get(Serialization, credit_class.serialization_id).text,
                    registry_custody=in_custody,
                    awaiting_mint=awaiting,
                    onchain_supply=int(supply),
                )
            )
    return rows
