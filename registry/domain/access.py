"""API keys and who may do what (pure: no database, no HTTP).

A key looks like ``icr_<key id>_<secret>``. The key id (12 hex digits) is public: it finds
the stored row; only ``sha256(key)`` is stored, compared in constant time. Keys carry 256
bits of randomness, so a fast hash is enough (there is nothing to brute-force as with a
password).

Roles: an *organization* key acts on its own organization's accounts only; an
*administrator* key (the registry operator) issues credits, reviews letters, decides CA
status, cancels and manages keys and system accounts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Optional

from registry.domain.enums import ApiKeyRole

KEY_PREFIX = "icr"
_KEY = re.compile(r"^icr_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class MalformedApiKey(ValueError):
    pass


def new_api_key() -> tuple[str, str]:
    """A fresh (key id, key); the key is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str:
    match = _KEY.match(key.strip())
    if match is None:
        raise MalformedApiKey("not an ICR registry API key (icr_<key id>_<secret>)")
    return match.group(1)


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key.strip()), stored_hash)


@dataclass(frozen=True)
class Principal:
    """Who an authenticated request acts as."""

    key_id: str
    role: ApiKeyRole
    organization_id: Optional[int]

    @property
    def is_admin(self) -> bool:
        return self.role is ApiKeyRole.administrator


def may_act_for_organization(principal: Principal, organization_id: Optional[int]) -> bool:
    """Administrators act for anyone; an organization key only for its own organization
    (registry-owned accounts, with no organization, are the administrator's)."""
    if principal.is_admin:
        return True
    return organization_id is not None and principal.organization_id == organization_id


def check_key_scope(role: ApiKeyRole, organization_id: Optional[int]) -> Optional[str]:
    """Why a key with this role and organization cannot exist (None if it can)."""
    if role is ApiKeyRole.organization and organization_id is None:
        return "an organization key names its organization"
    if role is ApiKeyRole.administrator and organization_id is not None:
        return "an administrator key belongs to the registry, not to an organization"
    return None
