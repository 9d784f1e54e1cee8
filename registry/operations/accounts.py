"""Organizations, their holding accounts, the registry's system accounts and wallet links (each
appends a ledger entry, none commits)."""

from __future__ import annotations

from typing import Optional

from sqlmodel import Session, select

from registry.domain.enums import AccountType
from registry.domain.wallets import ContractSignatureCheck, WalletLinkError, verify_wallet_link
from registry.errors import Conflict, RuleViolation
from registry.operations.ledger import append_entry
from registry.operations.preconditions import get_row
from registry.tables.core import Account, Organization, WalletLink


def create_organization(session: Session, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise RuleViolation("organization name must not be empty", field="name")
    if session.exec(select(Organization).where(Organization.name == name)).first():
        raise Conflict(f"organization {name!r} already exists", field="name")
    org = Organization(name=name)
    session.add(org)
    session.flush()
    append_entry(session, "organization.created", {"organization_id": org.id, "name": name})
    return org


def _account_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise RuleViolation("account name must not be empty", field="name")
    return name


def open_account(session: Session, organization_id: int, name: str) -> Account:
    """Open a holding account for an organization (an organization may hold several)."""
    get_row(session, Organization, organization_id, "organization")
    name = _account_name(name)
    account = Account(organization_id=organization_id, name=name, type=AccountType.holding)
    session.add(account)
    session.flush()
    append_entry(
        session,
        "account.opened",
        {"account_id": account.id, "organization_id": organization_id, "name": name, "type": account.type.value},
    )
    return account


def open_system_account(session: Session, type: AccountType, name: str) -> Account:
    """A registry-owned account: bridge custody, buffer or Article 6.2 adjustment."""
    if type is AccountType.holding:
        raise RuleViolation("system accounts are custody, buffer or adjustment accounts", field="type")
    name = _account_name(name)
    account = Account(organization_id=None, name=name, type=type)
    session.add(account)
    session.flush()
    append_entry(session, "account.opened", {"account_id": account.id, "name": name, "type": type.value})
    return account


def holding_account(session: Session, account_id: int) -> Account:
    """The account, which must be a holding account (only those link wallets): 404 or 422 otherwise."""
    account = get_row(session, Account, account_id, "account")
    if account.type is not AccountType.holding:
        raise RuleViolation(f"account {account_id} is not a holding account", field="account_id")
    return account


def link_wallet(session: Session, account_id: int, wallet: str, signed_at: int, signature: str, now: int,
                contract_signature: Optional[ContractSignatureCheck] = None) -> WalletLink:
    """Link a wallet to a holding account after checking its EIP-712 signature (ECDSA, or ERC-1271
    through ``contract_signature`` for a contract wallet)."""
    holding_account(session, account_id)
    try:
        wallet = verify_wallet_link(account_id, wallet, signed_at, signature, now, contract_signature)
    except WalletLinkError as exc:
        raise RuleViolation(str(exc), field=exc.field, rule="wallet-link-signature") from exc
    existing = session.exec(select(WalletLink).where(WalletLink.address == wallet)).first()
    if existing is not None:
        if existing.account_id == account_id:
            return existing
        raise Conflict(f"wallet {wallet} is linked to another account", field="wallet")
    link = WalletLink(account_id=account_id, address=wallet, signature=signature, signed_at=signed_at)
    session.add(link)
    session.flush()
    append_entry(session, "wallet.linked", {"account_id": account_id, "wallet": wallet, "signature": signature})
    return link
