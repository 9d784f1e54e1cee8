"""HTTP routes of the bridge: ERC-1155 token metadata, batch dumps and claim proofs."""

from __future__ import annotations

import json
from typing import Optional

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlmodel import select

from registry import custody
from registry.api import PROBLEM_RESPONSES, SessionDep, install_problem_handlers, router as registry_router
from registry.domain.classes import CAStatus, Purpose, decode_token_id
from registry.errors import NotFound, RuleViolation
from registry.models import CreditClass, Project, Serialization

from .batcher import LEAF_ENCODING, load_tree
from .models import Deployment, MintBatch, MintLeaf

router = APIRouter(responses=PROBLEM_RESPONSES)


class DeploymentPublic(BaseModel):
    chain_id: int
    address: str
    deployed_block: int
    custody_account_id: int


class LeafProof(BaseModel):
    batch_id: int
    leaf_index: int
    leaf: list[str]
    leaf_encoding: list[str]
    serial_block: str
    minted: bool
    proof: list[str]
    root: str


def _class_by_hex(hex_id: str, session) -> CreditClass:
    try:
        token_id = int(hex_id, 16)
    except ValueError:
        raise RuleViolation(f"{hex_id!r} is not a hexadecimal ERC-1155 token id", field="id") from None
    credit_class = session.exec(select(CreditClass).where(CreditClass.token_id == str(token_id))).first()
    if credit_class is None:
        raise NotFound(f"token id {hex_id} is not a registered credit class", field="id")
    return credit_class


@router.get("/metadata/{hex_id}.json", tags=["bridge"])
def token_metadata(hex_id: str, session: SessionDep) -> dict:
    """ERC-1155 metadata JSON for ``uri(id)`` (``{id}`` = 64 lower-case hex digits)."""
    credit_class = _class_by_hex(hex_id, session)
    serialization = session.get(Serialization, credit_class.serialization_id)
    project = session.get(Project, serialization.project_id)
    key = decode_token_id(int(credit_class.token_id))
    designation = "Article 6.2 ICC" if key.article6 else "Standard ICC"
    uses = [p.name for p in Purpose if credit_class.authorized_uses >> p & 1]
    deployments = session.exec(select(Deployment)).all()
    in_custody = sum(custody.custody_total(session, d.custody_account_id, credit_class.id) for d in deployments)
    return {
        "name": f"ICC {project.name} {serialization.vintage}",
        "description": (
            f"International Carbon Credits of ICR project {project.project_number} ({project.name}), vintage "
            f"{serialization.vintage}, {designation}. One token is one tonne of CO2-e, mirrored from serials held "
            "in bridge custody at the International Carbon Registry."
        ),
        "decimals": 0,
        "properties": {
            "unit": "tCO2e",
            "tonnes_per_token": 1,
            "token_id": credit_class.token_id,
            "project_number": project.project_number,
            "project_name": project.name,
            "host_country": project.country,
            "methodology": project.methodology,
            "vintage": serialization.vintage,
            "serialization": serialization.text,
            "article6": key.article6,
            "letter_number": key.letter_number or None,
            "authorized_uses": uses,
            "ca_status": CAStatus(credit_class.ca_status).name,
            "registry_custody": in_custody,
        },
    }


@router.get("/deployments", tags=["bridge"])
def list_deployments(session: SessionDep) -> list[DeploymentPublic]:
    return [DeploymentPublic.model_validate(d, from_attributes=True) for d in session.exec(select(Deployment))]


def _batch(session, batch_id: int) -> MintBatch:
    batch = session.get(MintBatch, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} does not exist", field="batch_id")
    return batch


@router.get("/batches/{batch_id}/tree", tags=["bridge"])
def batch_tree(batch_id: int, session: SessionDep) -> dict:
    """The batch as an OpenZeppelin StandardMerkleTree dump (``standard-v1``)."""
    return json.loads(_batch(session, batch_id).tree_dump)


@router.get("/batches/{batch_id}/leaves/{leaf_index}/proof", tags=["bridge"])
def leaf_proof(batch_id: int, leaf_index: int, session: SessionDep) -> LeafProof:
    """Leaf and proof for ``ICCToken.claim`` (holders can pull their own tokens)."""
    batch = _batch(session, batch_id)
    leaf: Optional[MintLeaf] = session.exec(
        select(MintLeaf).where(MintLeaf.batch_id == batch_id, MintLeaf.leaf_index == leaf_index)
    ).first()
    if leaf is None:
        raise NotFound(f"batch {batch_id} has no leaf {leaf_index}", field="leaf_index")
    tree = load_tree(batch)
    value = [str(v) for v in (leaf.batch_id, leaf.leaf_index, int(leaf.token_id), leaf.recipient, leaf.amount,
                              leaf.unit_first, leaf.unit_last)]
    return LeafProof(
        batch_id=batch_id,
        leaf_index=leaf_index,
        leaf=value,
        leaf_encoding=LEAF_ENCODING,
        serial_block=leaf.serial_block,
        minted=leaf.minted,
        proof=tree.get_proof(leaf_index),
        root=batch.root,
    )


def create_app(engine) -> FastAPI:
    app = FastAPI(
        title="ICR Bridge API",
        version="0.1.0",
        description="International Carbon Registry bridge: registry ledger, token metadata and Merkle proofs.",
    )
    app.state.engine = engine
    install_problem_handlers(app)
    app.include_router(registry_router)
    app.include_router(router)
    return app
