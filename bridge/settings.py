"""Operator settings (pydantic-settings): environment variables ``ICR_*``, or a ``.env``-style
file given with ``--config`` / ``ICR_CONFIG``. Keys never live in the database or in logs:
they come from the environment (hex) or from encrypted JSON keystores with a password from
the environment or a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from eth_account import Account
from eth_account.signers.local import LocalAccount
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.db import DEFAULT_DATABASE_URL


class KeyError_(ValueError):
    """A key setting is missing or unusable; the message names the setting."""


class BridgeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ICR_", env_file=os.environ.get("ICR_CONFIG"), extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    rpc_url: str = Field("eth-tester", description="JSON-RPC URL, or eth-tester for the in-process chain")
    contract: Optional[str] = Field(None, description="ICCToken address (default: the deployment recorded for the chain)")
    confirmations: int = Field(12, ge=0, description="depth before an event is applied when the chain has no finalized tag")
    use_finalized_tag: bool = Field(True, description="apply events only up to the chain's finalized block when it has one")
    poll_interval: float = Field(2.0, gt=0)
    permanent_retry: float = Field(300.0, gt=0, description="seconds a step that failed permanently (a key without "
                                   "ether or without its role) waits before `sync --follow` tries it again")
    mint_chunk: int = Field(200, ge=1, le=1000)
    metadata_uri: str = "http://127.0.0.1:8000/metadata/{id}.json"
    # Liveness and preflight (issue 17): bridge/liveness.py, bridge/preflight.py.
    rpc_timeout: float = Field(10.0, gt=0, description="seconds a JSON-RPC request may take before it fails "
                               "(a stopped node is noticed after this, not after minutes)")
    relayer_min_balance: float = Field(0.05, ge=0, description="ether below which the relayer is reported at "
                                       "start-up (and by the relayer balance metric's alert)")
    ready_max_age: float = Field(60.0, gt=0, description="seconds after the last successful cycle from which "
                                 "the follower's /readyz answers 503")
    ready_failures: int = Field(2, ge=1, description="cycles failed in a row from which /readyz answers 503")
    heartbeat_interval: float = Field(300.0, gt=0, description="seconds between the follower's info-level "
                                      "heartbeat lines (idle cycles log at debug level)")
    standby_poll: float = Field(5.0, gt=0, description="seconds between a standby follower's attempts to take "
                                "the chain's follower claim")

    admin_key: Optional[SecretStr] = None
    registry_signer_key: Optional[SecretStr] = None
    relayer_key: Optional[SecretStr] = None
    admin_keystore: Optional[Path] = None
    registry_signer_keystore: Optional[Path] = None
    relayer_keystore: Optional[Path] = None
    keystore_password: Optional[SecretStr] = None
    keystore_password_file: Optional[Path] = None

    def account(self, role: str) -> LocalAccount:
        """The key for ``role`` (admin, registry_signer or relayer)."""
        key: Optional[SecretStr] = getattr(self, f"{role}_key")
        keystore: Optional[Path] = getattr(self, f"{role}_keystore")
        if key is not None:
            try:
                return Account.from_key(key.get_secret_value())
            except Exception:
                raise KeyError_(f"ICR_{role.upper()}_KEY is not a valid private key") from None
        if keystore is not None:
            password = self.keystore_password_for(role)
            try:
                return Account.from_key(Account.decrypt(keystore.read_text(), password))
            except FileNotFoundError:
                raise KeyError_(f"ICR_{role.upper()}_KEYSTORE: {keystore} does not exist") from None
            except ValueError:
                raise KeyError_(f"ICR_{role.upper()}_KEYSTORE: wrong password or not a keystore") from None
        raise KeyError_(f"no key for the {role}: set ICR_{role.upper()}_KEY or ICR_{role.upper()}_KEYSTORE")

    def keystore_password_for(self, role: str) -> str:
        """The keystore password (ICR_KEYSTORE_PASSWORD or the file ICR_KEYSTORE_PASSWORD_FILE names)."""
        if self.keystore_password is not None:
            return self.keystore_password.get_secret_value()
        if self.keystore_password_file is not None:
            try:
                return self.keystore_password_file.read_text().strip()
            except OSError as exc:
                raise KeyError_(f"ICR_KEYSTORE_PASSWORD_FILE: cannot read {self.keystore_password_file} "
                                f"({exc.strerror or type(exc).__name__})") from None
        raise KeyError_(f"ICR_{role.upper()}_KEYSTORE needs ICR_KEYSTORE_PASSWORD or ICR_KEYSTORE_PASSWORD_FILE")


#: ``ICR_*`` variables other modules read from the environment itself (never from ``--config``).
ENVIRONMENT_ONLY = ("ICR_CONFIG", "ICR_DEBUG", "ICR_ALLOWED_HOSTS", "ICR_WEBHOOK_ALLOW_PRIVATE", "ICR_WEBHOOK_PORTS",
                    "ICR_WRITES_PER_MINUTE", "ICR_ANONYMOUS_WRITES_PER_MINUTE")


def setting_names() -> list[str]:
    """The ``ICR_*`` names of the settings a ``--config`` file may hold."""
    return [f"ICR_{name.upper()}" for name in BridgeSettings.model_fields]


def unknown_settings(config: Path) -> list[str]:
    """One warning per ``ICR_*`` key of ``config`` the settings do not read, with the closest
    setting's name when there is one (a misspelt key would otherwise be ignored in silence)."""
    from difflib import get_close_matches

    from dotenv import dotenv_values

    known = setting_names()
    warnings = []
    for key in dotenv_values(config):
        name = key.upper()
        if name in known:
            continue
        if name in ENVIRONMENT_ONLY:
            warnings.append(f"--config {config}: {key} is read from the environment only, not from this file")
            continue
        if not name.startswith("ICR_"):
            continue
        close = get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"--config {config}: unknown setting {key}, ignored{hint}")
    return warnings


def load_settings(config: Optional[Path] = None, **overrides) -> BridgeSettings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if config is not None:
        if not config.exists():
            raise FileNotFoundError(f"--config: {config} does not exist")
        return BridgeSettings(_env_file=str(config), **values)
    return BridgeSettings(**values)
