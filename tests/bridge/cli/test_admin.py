"""``icr-bridge admin``: the first administrator key comes from the command line and works on
the API; organization keys, listing and revocation."""

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bridge.app import create_app
from bridge.cli.main import app
from bridge.schema import create_schema
from registry.db import make_engine


def test_create_key_prints_a_working_administrator_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    create_schema(make_engine(url))  # only demo and deploy create a registry database
    runner = CliRunner()
    result = runner.invoke(app, ["admin", "create-key", "--name", "registry operator", "--db", url])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("icr_")
    engine = make_engine(url)
    with TestClient(create_app(engine)) as client:
        created = client.post("/organizations", json={"name": "Org"}, headers={"X-API-Key": key})
        assert created.status_code == 201, created.json()
    org_id = created.json()["id"]
    org_key = runner.invoke(app, ["admin", "create-key", "--name", "org", "--organization-id", str(org_id),
                                  "--db", url])
    assert org_key.exit_code == 0
    listed = runner.invoke(app, ["admin", "list-keys", "--db", url])
    assert "administrator" in listed.output and "organization" in listed.output and key not in listed.output
    revoked = runner.invoke(app, ["admin", "revoke-key", "1", "--db", url])
    assert revoked.exit_code == 0
    with TestClient(create_app(engine)) as client:
        assert client.post("/organizations", json={"name": "Org 2"}, headers={"X-API-Key": key}).status_code == 401
    engine.dispose()


def test_create_key_names_a_bad_organization(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    create_schema(make_engine(url))  # only demo and deploy create a registry database
    result = CliRunner().invoke(app, ["admin", "create-key", "--name", "x", "--organization-id", "42", "--db", url])
    assert result.exit_code == 2
    assert "--organization-id" in result.output and "organization 42 does not exist" in result.output
