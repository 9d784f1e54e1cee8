"""Webhook events of the bridge's own state changes, written to the outbox by the code that
makes the change, inside its transaction (see :func:`bridge.webhooks.outbox.record_event`).

Payloads use ICR's field names where ICR has them (a retirement record carries ``id``,
``createdAt``, ``reason``, ``beneficiary``, ``comment``, ``organizationId``,
``serialization``, ``vintage``, ``amount``, ``project``) and add the serial blocks and the
chain origin. Links (``certificate``, ``links``) are stored as paths and delivered absolute
(:func:`bridge.webhooks.outbox.event_document`).

Retractions: when a chain reorganization undoes an event the bridge already announced, the
undoer records ``retirement.retracted``, ``tokenization.retracted`` or ``redemption.retracted``
with ``retracts`` naming the announced event (``{"event": kind, "id": event id}``) and the
record as it stands after the undo. Receivers take the announced event back; the chain's new
history is announced afresh once final."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from sqlmodel import Session, select

from bridge.public.links import certificate_links, metadata_path
from bridge.tables import MintLeaf
from bridge.webhooks.outbox import _iso, last_event, record_event, record_events
from bridge.webhooks.tables import EventKind, WebhookEvent
from registry.bulk import one_of
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


def _known(known: dict | None, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered in ``known`` under ``key`` when a caller keeps one."""
    if known is None:
        return compute()
    if key not in known:
        known[key] = compute()
    return known[key]


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
    data = {**_tokenization_facts(session, request, chain_id), **_minted_leaves(leaves)}
    return _tokenization_event(session, EventKind.tokenization_minted, request, data)


def tokenizations_minted(session: Session, requests: list[Any], chain_id: int) -> list[int]:
    """:func:`tokenization_minted` for many tokenizations (requests as ORM objects or plain
    rows), in order: their leaves read as plain rows in one query (one per 500 on SQLite), each
    class and account once, the outbox rows written with
    :func:`~bridge.webhooks.outbox.record_events`. Returns the events' ids."""
    ids = [request.id for request in requests]
    leaves: dict[int, list[Any]] = {i: [] for i in ids}
    columns = (MintLeaf.tokenization_id, MintLeaf.batch_id, MintLeaf.leaf_index, MintLeaf.serial_block, MintLeaf.mint_tx)
    for condition in one_of(session, MintLeaf.tokenization_id, ids):
        for leaf in session.exec(select(*columns).where(condition).order_by(MintLeaf.batch_id, MintLeaf.leaf_index)):
            leaves[leaf.tokenization_id].append(leaf)
    known: dict = {}
    items = []
    for request in requests:
        data = {**_tokenization_facts(session, request, chain_id, known), **_minted_leaves(leaves[request.id])}
        organization_id = _known(known, ("account", request.account_id),
                                 lambda: _organization_of_account(session, request.account_id))
        items.append(({"tokenization": data}, organization_id, tokenization_subject(request)))
    return record_events(session, EventKind.tokenization_minted, items)


def _minted_leaves(leaves: list[Any]) -> dict[str, Any]:
    return {
        "serialBlocks": [leaf.serial_block for leaf in leaves],
        "mintTransactions": sorted({leaf.mint_tx for leaf in leaves if leaf.mint_tx}),
        "leaves": [{"batchId": leaf.batch_id, "leafIndex": leaf.leaf_index} for leaf in leaves],
    }


def _organization_of_account(session: Session, account_id: int) -> int | None:
    account = session.get(Account, account_id)
    return account.organization_id if account else None


def tokenization_subject(request: TokenizationRequest) -> str:
    return f"tokenization:{request.id}"


def _tokenization_facts(session: Session, request: TokenizationRequest, chain_id: int,
                        known: dict | None = None) -> dict[str, Any]:
    return {
        "id": request.id,
        "createdAt": _iso(request.created_at),
        "accountId": request.account_id,
        "wallet": request.wallet,
        "amount": request.quantity,
        "chainId": chain_id,
        **_known(known, ("class", request.class_id), lambda: _class_facts(session, request.class_id)),
    }


def _tokenization_event(session: Session, kind: EventKind, request: TokenizationRequest,
                        data: dict[str, Any]) -> WebhookEvent:
    return record_event(session, kind, {"tokenization": data}, _organization_of_account(session, request.account_id),
                        subject=tokenization_subject(request))


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


def organization_of_retirement(session: Session, retirement: Retirement, known: dict | None = None) -> int | None:
    """Whose retirement it is: the holder wallet's organization for an on-chain retirement, the
    retiring account's for a registry one (None: a public event for every subscriber)."""
    if retirement.holder_wallet or retirement.chain_id is not None:
        return _known(known, ("wallet", retirement.holder_wallet),
                      lambda: organization_of_wallet(session, retirement.holder_wallet))
    account = session.get(Account, retirement.account_id)
    return account.organization_id if account else None


def _retirement_data(session: Session, retirement: Retirement, serial_blocks: Iterable[str],
                     known: dict | None = None) -> dict[str, Any]:
    """A retirement's webhook data; ``known`` keeps the class facts and wallet organizations
    already read (for many retirements at once)."""
    organization_id = organization_of_retirement(session, retirement, known)
    certificate = (CERTIFICATE_FLAG | retirement.onchain_retirement_id) if retirement.onchain_retirement_id else None
    facts = _known(known, ("class", retirement.class_id), lambda: _class_facts(session, retirement.class_id))
    links = certificate_links("", retirement.id, facts["tokenId"], certificate)
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
        **facts,
        "serialBlocks": list(serial_blocks),
        "chainId": retirement.chain_id,
        "txHash": retirement.tx_hash,
        "logIndex": retirement.log_index,
        "blockNumber": retirement.block_number,
        "holderWallet": retirement.holder_wallet,
        "beneficiaryWallet": retirement.beneficiary_wallet,
        "certificateTokenId": str(certificate) if certificate else None,
        "certificate": links["html"],
        "links": links,
    }


def retirement_subject(retirement: Retirement) -> str:
    return f"retirement:{retirement.id}"


def retirement_recorded(session: Session, retirement: Retirement, serial_blocks: Iterable[str]) -> WebhookEvent:
    data = _retirement_data(session, retirement, serial_blocks)
    return record_event(session, EventKind.retirement_recorded, {"retirement": data}, data["organizationId"],
                        subject=retirement_subject(retirement))


def retirements_recorded(session: Session, recorded: list[dict[str, Any]]) -> list[int]:
    """:func:`retirement_recorded` for many retirements (``recorded``: ``retirement`` and
    ``serial_blocks`` each, in order), written with :func:`~bridge.webhooks.outbox.record_events`:
    each class and wallet read once. Returns the events' ids."""
    known: dict = {}
    items = []
    for one in recorded:
        retirement = one["retirement"]
        data = _retirement_data(session, retirement, one["serial_blocks"], known)
        items.append(({"retirement": data}, data["organizationId"], retirement_subject(retirement)))
    return record_events(session, EventKind.retirement_recorded, items)


def _retracts(session: Session, kinds: list[EventKind], subject: str) -> dict[str, Any] | None:
    announced = last_event(session, [k.value for k in kinds], subject)
    return None if announced is None else {"event": announced.kind, "id": announced.event_id}


def retirement_retracted(session: Session, retirement: Retirement, serial_blocks: Iterable[str],
                         reason: str) -> WebhookEvent:
    """The announced ``retirement.recorded`` of this retirement is taken back (its certificate
    is gone: no links)."""
    data = _retirement_data(session, retirement, serial_blocks)
    data.pop("certificate")
    data.pop("links")
    subject = retirement_subject(retirement)
    return record_event(session, EventKind.retirement_retracted,
                        {"retirement": data, "reason": reason,
                         "retracts": _retracts(session, [EventKind.retirement_recorded], subject)},
                        data["organizationId"], subject=subject)


def tokenization_retracted(session: Session, request: TokenizationRequest, chain_id: int, announced: EventKind,
                           reason: str) -> WebhookEvent:
    """An announced ``tokenization.minted`` or ``tokenization.returned`` is taken back: the
    tokenization is back to ``batched`` (its leaves wait for their mint again)."""
    data = {**_tokenization_facts(session, request, chain_id), "status": request.status.value}
    account = session.get(Account, request.account_id)
    subject = tokenization_subject(request)
    return record_event(session, EventKind.tokenization_retracted,
                        {"tokenization": data, "reason": reason,
                         "retracts": _retracts(session, [announced], subject)},
                        account.organization_id if account else None, subject=subject)


def bridged_retirement_blocks(session: Session, origin) -> list[str]:
    """Serial blocks of the bridged retirement with this chain origin (read before undoing it)."""
    from registry.bridged import custody
    from registry.operations.retirements import retirement_blocks

    retirement = custody.find_bridged_retirement(session, origin)
    return [] if retirement is None else [m.serial_block for m in retirement_blocks(session, retirement.id)]


def redemption_subject(row) -> str:
    return f"redemption:{row.chain_id}:{row.redemption_id}"


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
    return record_event(session, kind, _redemption_data(session, row, serial_blocks), organization_id,
                        subject=redemption_subject(row))


def redemption_retracted(session: Session, row, organization_id: int | None, reason: str) -> WebhookEvent:
    """An announced ``redemption.finalized`` or ``.rejected`` is taken back: the request is open
    again (``organization_id``: whom the announced answer went to)."""
    subject = redemption_subject(row)
    payload = {**_redemption_data(session, row), "reason": reason,
               "retracts": _retracts(session, [EventKind.redemption_finalized, EventKind.redemption_rejected], subject)}
    return record_event(session, EventKind.redemption_retracted, payload, organization_id, subject=subject)


def _registry_retirement_recorded(session: Session, *, retirement: Retirement, serial_blocks: list[str]) -> None:
    """A retirement made in the registry (not synced from the chain) reaches marketplaces too."""
    retirement_recorded(session, retirement, serial_blocks)


def ca_status_changed(session: Session, *, credit_class: CreditClass, transition: str, from_status: str | None,
                      to_status: str, note: str, evidence: str | None, at) -> WebhookEvent:
    """A class's corresponding-adjustment status changed in the registry (§II.2, public): sent to
    every subscriber of the kind. The token's on-chain status follows with the engine's push."""
    payload = {"caStatusChange": {
        **_class_facts(session, credit_class.id), "transition": transition,
        "from": from_status, "to": to_status, "note": note, "evidence": evidence,
        "decidedAt": at.isoformat(), "classMetadata": metadata_path(credit_class.token_id)}}
    return record_event(session, EventKind.ca_status_changed, payload, None,
                        subject=f"class:{credit_class.token_id}")


def register_listeners() -> None:
    """Register the bridge's listeners for registry state changes (idempotent): a registry
    retirement then records its ``retirement.recorded`` webhook, and a CA decision its
    ``ca_status.changed``, in the same transaction. Called by every process entry point that can
    make either (:func:`bridge.app.create_app`, each sync pass)."""
    hooks.on("retirement.recorded", _registry_retirement_recorded, many=retirements_recorded)
    hooks.on("ca_status.changed", ca_status_changed)


def unregister_listeners() -> None:
    """Undo :func:`register_listeners` (no error if they were not registered)."""
    hooks.off("retirement.recorded", _registry_retirement_recorded)
    hooks.off("ca_status.changed", ca_status_changed)
