"""Operator settings: keys from the environment or encrypted keystores, errors naming the
setting, and keys never showing in settings dumps or logs."""

import json
import logging

import pytest
from eth_account import Account

from bridge import logs
from bridge.settings import BridgeSettings, KeyError_, load_settings

KEY = "0x" + "11" * 32


def test_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("ICR_RELAYER_KEY", KEY)
    assert BridgeSettings().account("relayer").address == Account.from_key(KEY).address


def test_key_from_an_encrypted_keystore_with_a_password_file(tmp_path, monkeypatch):
    keystore = tmp_path / "signer.json"
    keystore.write_text(json.dumps(Account.encrypt(KEY, "correct horse", kdf="pbkdf2", iterations=2)))
    password = tmp_path / "password"
    password.write_text("correct horse\n")
    monkeypatch.setenv("ICR_REGISTRY_SIGNER_KEYSTORE", str(keystore))
    monkeypatch.setenv("ICR_KEYSTORE_PASSWORD_FILE", str(password))
    assert BridgeSettings().account("registry_signer").address == Account.from_key(KEY).address

    password.write_text("wrong")
    with pytest.raises(KeyError_, match="ICR_REGISTRY_SIGNER_KEYSTORE: wrong password"):
        BridgeSettings().account("registry_signer")
    monkeypatch.setenv("ICR_KEYSTORE_PASSWORD_FILE", str(tmp_path / "no-such-password"))
    with pytest.raises(KeyError_, match="ICR_KEYSTORE_PASSWORD_FILE: cannot read .*no-such-password"):
        BridgeSettings().account("registry_signer")
    monkeypatch.delenv("ICR_KEYSTORE_PASSWORD_FILE")
    with pytest.raises(KeyError_, match="needs ICR_KEYSTORE_PASSWORD"):
        BridgeSettings().account("registry_signer")


@pytest.mark.parametrize("env, message", [
    ({}, "no key for the admin: set ICR_ADMIN_KEY or ICR_ADMIN_KEYSTORE"),
    ({"ICR_ADMIN_KEY": "0x1234"}, "ICR_ADMIN_KEY is not a valid private key"),
    ({"ICR_ADMIN_KEYSTORE": "/nonexistent/k.json", "ICR_KEYSTORE_PASSWORD": "x"}, "does not exist"),
])
def test_missing_or_bad_keys_name_the_setting(monkeypatch, env, message):
    for name in ("ICR_ADMIN_KEY", "ICR_ADMIN_KEYSTORE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(KeyError_, match=message):
        BridgeSettings().account("admin")


def test_config_file_and_overrides(tmp_path):
    config = tmp_path / "bridge.env"
    config.write_text("ICR_RPC_URL=http://node:8545\nICR_CONFIRMATIONS=30\nICR_RELAYER_KEY=" + KEY + "\n")
    settings = load_settings(config, confirmations=5)
    assert settings.rpc_url == "http://node:8545" and settings.confirmations == 5
    with pytest.raises(FileNotFoundError, match="--config"):
        load_settings(tmp_path / "missing.env")
    with pytest.raises(ValueError, match="confirmations"):
        load_settings(config, confirmations=-1)


def test_keys_never_show_in_dumps_or_logs(monkeypatch, capsys):
    monkeypatch.setenv("ICR_ADMIN_KEY", KEY)
    settings = BridgeSettings()
    assert KEY[2:] not in repr(settings) and KEY[2:] not in settings.model_dump_json()
    logs.configure("INFO")
    logging.getLogger("icr_bridge.test").info("settings", extra={"settings": settings.model_dump()})
    assert KEY[2:] not in capsys.readouterr().err
