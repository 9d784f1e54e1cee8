"""Webhook events of the bridge's own state changes, written to the outbox by the code that
makes the change, inside its transaction (see :func:`bridge.webhooks.outbox.record_event`).

Payloads use ICR's field names where ICR has them (a retirement record carries ``id``,
``createdAt``, ``reason``, ``beneficiary``, ``comment``, ``organizationId``,
``serialization``, ``vintage``, ``amount``, ``project``) and add the serial blocks and the
chain origin."""

from __future__ import annotations

from typing import Any, Iterable

from sqlmodel import Session, select

from bridge.tables import MintLeaf
from bridge.webhooks.outbox import _iso, record_event
from bridge.webhooks.tables import EventKind, WebhookEvent
from registry.domain.classes import CERTIFICATE_FLAG, CAStatus
from registry.operations import hooks
from registry.tables.core import (
    Account,
    CreditClass,
    Project,
    Retirement,
    Serialization,
    TokenizationRequest,
    WalletLink,
)


def _class_facts(session: Session, class_id: int) -> dict[str, Any]:
    credit_class = session.get(CreditClass, class_id)
    serialization = session.get(Serialization, credit_class.serialization_id)
    project = session.get(Project, serialization.project_id)
    return {
        "tokenId": credit_class.token_id,
        "serialization": serialization.text,
        "vintage": serialization.vintage,
        "article6": serialization.article6,
        "caStatus": CAStatus(credit_class.ca_status).name,
        "project": {"projectNumber": project.project_number, "name": project.name, "country": project.country},
    }


def organization_of_wallet(session: Session, wallet: str | None) -> int | None:
    """The organization whose account the wallet is linked to (None if it is linked to none)."""
    if not wallet:
        return None
    link = session.exec(select(WalletLink).where(WalletLink.address == wallet)).first()
    if link is None:
        return None
    account = session.get(Account, link.account_id)
    return account.organization_id if account else None


def tokenization_minted(session: Session, request: TokenizationRequest, chain_id: int) -> WebhookEvent:
    leaves = session.exec(
        select(MintLeaf).where(MintLeaf.tokenization_id == request.id).order_by(MintLeaf.batch_id, MintLeaf.leaf_index)
    ).all()
    data = {
        **_tokenization_facts(session, request, chain_id),
        "serialBlocks": [leaf.serial_block for leaf in leaves],
        "mintTransactions": sorted({leaf.mint_tx for leaf in leaves if leaf.mint_tx}),
        "leaves": [{"batchId": leaf.batch_id, "leafIndex": leaf.leaf_index} for leaf in leaves],
    }
    return _tokenization_event(session, EventKind.tokenization_minted, request, data)


def _tokenization_facts(session: Session, request: TokenizationRequest, chain_id: int) -> dict[str, Any]:
    return {
        "id": request.id,
        "createdAt": _iso(request.created_at),
        "accountId": request.account_id,
        "wallet": request.wallet,
        "amount": request.quantity,
        "chainId": chain_id,
        **_class_facts(session, request.class_id),
    }


def _tokenization_event(session: Session, kind: EventKind, request: TokenizationRequest,
                        data: dict[str, Any]) -> WebhookEvent:
    account = session.get(Account, request.account_id)
    return record_event(session, kind, {"tokenization": data}, account.organization_id if account else None)


def tokenization_returned(session: Session, request: TokenizationRequest, chain_id: int, batch_id: int,
                          returned: int, serial_blocks: list[str], tx_hash: str) -> WebhookEvent:
    data = {
        **_tokenization_facts(session, request, chain_id),
        "status": request.status.value,
        "batchId": batch_id,
        "revokeTransaction": tx_hash,
        "returnedAmount": returned,
        "returnedSerialBlocks": serial_blocks,
    }
    return _tokenization_event(session, EventKind.tokenization_returned, request, data)


def organization_of_retirement(session: Session, retirement: Retirement) -> int | None:
    """Whose retirement it is: the holder wallet's organization for an on-chain retirement, the
    retiring account's for a registry one (None: a public event for every subscriber)."""
    if retirement.holder_wallet or retirement.chain_id is not None:
        return organization_of_wallet(session, retirement.holder_wallet)
    account = session.get(Account, retirement.account_id)
    return account.organization_id if account else None


def _retirement_data(session: Session, retirement: Retirement, serial_blocks: Iterable[str]) -> dict[str, Any]:
    organization_id = organization_of_retirement(session, retirement)
    certificate = (CERTIFICATE_FLAG | retirement.onchain_retirement_id) if retirement.onchain_retirement_id else None
    return {
        "id": retirement.id,
        "createdAt": _iso(retirement.created_at),
        "reason": retirement.purpose,
        "beneficiary": retirement.beneficiary_name,
        "beneficiaryAddress": retirement.beneficiary_address,
        "retiree": retirement.retiree,
        "comment": retirement.comment,
        "organizationId": organization_id,
        "amount": retirement.quantity,
        **_class_facts(session, retirement.class_id),
        "serialBlocks": list(serial_blocks),
        "chainId": retirement.chain_id,
        "txHash": retirement.tx_hash,
        "logIndex": retirement.log_index,
        "blockNumber": retirement.block_number,
        "holderWallet": retirement.holder_wallet,
        "beneficiaryWallet": retirement.beneficiary_wallet,
        "certificateTokenId": str(certificate) if certificate else None,
        "certificate": f"/certificates/{retirement.id}",
    }


def retirement_recorded(session: Session, retirement: Retirement, serial_blocks: Iterable[str]) -> WebhookEvent:
    data = _retirement_data(session, retirement, serial_blocks)
    return record_event(session, EventKind.retirement_recorded, {"retirement": data}, data["organizationId"])


def retirement_reverted(session: Session, retirement: Retirement, serial_blocks: Iterable[str],
                        reason: str) -> WebhookEvent:
    data = _retirement_data(session, retirement, serial_blocks)
    data.pop("certificate")
    return record_event(session, EventKind.retirement_reverted, {"retirement": data, "reason": reason},
                        data["organizationId"])


def bridged_retirement_blocks(session: Session, origin) -> list[str]:
    """Serial blocks of the bridged retirement with this chain origin (read before undoing it)."""
    from registry.bridged import custody
    from registry.operations.retirements import retirement_blocks

    retirement = custody.find_bridged_retirement(session, origin)
    return [] if retirement is None else [m.serial_block for m in retirement_blocks(session, retirement.id)]


def _redemption_data(session: Session, row, serial_blocks: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "redemption": {
            "id": row.redemption_id,
            "createdAt": _iso(row.created_at),
            "chainId": row.chain_id,
            "holder": row.holder,
            "amount": row.amount,
            "accountReference": row.account_reference,
            "accountId": row.account_id,
            "reason": row.decision_reason,
            "requestTransaction": row.request_tx,
            "answerTransaction": row.answered_tx,
            **_class_facts(session, row.class_id),
            "serialBlocks": list(serial_blocks),
        }
    }


def redemption_answered(session: Session, row, serial_blocks: Iterable[str] = ()) -> WebhookEvent:
    """A redemption's final answer: ``redemption.finalized`` (serials in the account) for the
    destination account's organization, or ``redemption.rejected`` for the holder's."""
    finalized = row.account_id is not None
    if finalized:
        account = session.get(Account, row.account_id)
        organization_id = account.organization_id if account else None
        kind = EventKind.redemption_finalized
    else:
        organization_id = organization_of_wallet(session, row.holder)
        kind = EventKind.redemption_rejected
    return record_event(session, kind, _redemption_data(session, row, serial_blocks), organization_id)


def _registry_retirement_recorded(session: Session, *, retirement: Retirement, serial_blocks: list[str]) -> None:
    """A retirement made in the registry (not synced from the chain) reaches marketplaces too."""
    retirement_recorded(session, retirement, serial_blocks)


def register_listeners() -> None:
    """Register the bridge's listeners for registry state changes (idempotent): a registry
    retirement then records its ``retirement.recorded`` webhook in the same transaction. Called
    by every process entry point that can make a registry retirement (:func:`bridge.app.create_app`)."""
    hooks.on("retirement.recorded", _registry_retirement_recorded)


def unregister_listeners() -> None:
    """Undo :func:`register_listeners` (no error if they were not registered)."""
    hooks.off("retirement.recorded", _registry_retirement_recorded)
