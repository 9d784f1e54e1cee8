"""The walking skeleton's main job, end to end, on SQLite and on PostgreSQL."""

import json

from sqlmodel import Session, select
from typer.testing import CliRunner

from bridge.chain.client import Chain
from bridge.chain.lookup import lookup_contract
from bridge.cli.main import app
from bridge.demo import run_demo
from bridge.engine.sync import rewind_cursor, sync_once
from bridge.tables import ChainEvent, MintLeaf
from registry.domain.enums import TokenizationStatus
from registry.tables.core import Retirement, SerialBlock, TokenizationRequest


def test_demo_flow(engine, w3):
    summary = run_demo(engine, w3)
    assert summary["ok"]
    lookup = lookup_contract(Chain(w3, summary["chain"]["contract"]), summary["chain"]["lookup_contract"])
    assert lookup.functions.getProjectIdFromAddress(summary["chain"]["contract"]).call() != 0

    balances = {(b["account_type"], b["status"], b["serialization"][-6:]): b["quantity"]
                for b in summary["registry_balances"]}
    assert balances == {("holding", "active", "0-2023"): 600, ("bridge_custody", "active", "0-2023"): 300,
                        ("terminal", "retired", "0-2023"): 100,
                        # Article 6.2 (designation flag 1): 200 issued, 5 % deposit, 25 retired for CORSIA
                        ("holding", "active", "1-2024"): 165, ("adjustment", "active", "1-2024"): 10,
                        ("terminal", "retired", "1-2024"): 25}
    assert summary["article6"]["ca_status"] == "applied" and summary["article6"]["deposit"] == 10

    onchain = {(b["label"], b["token_id"] == summary["article6"]["token_id"]): b["balance"]
               for b in summary["onchain_balances"]}
    assert onchain == {("linked wallet", False): 250, ("second wallet", False): 50, ("beneficiary", False): 0,
                       ("linked wallet", True): 0, ("second wallet", True): 0, ("beneficiary", True): 0}

    (retirement,) = [r for r in summary["retirements"] if r["chain_id"] is not None]
    assert retirement["quantity"] == 100
    assert retirement["serial_blocks"] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000100"]
    assert retirement["beneficiary_name"] == "Reykjavik Harbour Ferries ehf."
    assert retirement["tx_hash"] == summary["retire_tx"]

    (check,) = summary["conservation"]
    assert check["registry_custody"] == check["onchain_supply"] == 300
    assert check["awaiting_mint"] == 0
    assert summary["ledger"]["ok"]

    with Session(engine) as s:
        assert s.exec(select(TokenizationRequest)).one().status is TokenizationStatus.minted
        assert all(leaf.minted for leaf in s.exec(select(MintLeaf)))


def test_demo_explorer_shows_a_ca_state_and_the_annual_report(sqlite_engine, w3):
    from fastapi.testclient import TestClient

    from bridge.app import create_app

    summary = run_demo(sqlite_engine, w3)
    client = TestClient(create_app(sqlite_engine))
    classes = {c["token_id"]: c for c in client.get("/explorer/classes").json()["items"]}
    article6 = classes[summary["article6"]["token_id"]]
    assert article6["designation"] == "Article 6.2 ICC" and article6["ca_status"]["status"] == "applied"
    report = client.get("/explorer/annual-report").json()
    (iceland,) = report["countries"]
    assert (iceland["host_country"], iceland["issued"], iceland["retired_corsia"], iceland["ca_applied"]) == \
        ("ISL", 200, 25, 25)
    page = client.get("/explorer").text
    assert "CA applied" in page and 'id="report-chart"' in page


def test_replaying_the_event_history_applies_nothing_twice(sqlite_engine, w3):
    run_demo(sqlite_engine, w3)
    chain = Chain(w3)
    with Session(sqlite_engine) as s:
        from bridge.tables import Deployment

        deployment = s.exec(select(Deployment)).one()
        chain.address = deployment.address
        before = (len(s.exec(select(ChainEvent)).all()), len(s.exec(select(Retirement)).all()),
                  sorted((b.unit_first, b.unit_last, b.status.value) for b in s.exec(select(SerialBlock))))
    rewind_cursor(sqlite_engine, chain, deployment.deployed_block)
    report = sync_once(sqlite_engine, chain)
    assert report.applied_total == 0
    assert report.skipped_duplicates == before[0]
    with Session(sqlite_engine) as s:
        after = (len(s.exec(select(ChainEvent)).all()), len(s.exec(select(Retirement)).all()),
                 sorted((b.unit_first, b.unit_last, b.status.value) for b in s.exec(select(SerialBlock))))
    assert after == before


def test_cli_demo_json_prints_the_summary_and_keeps_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    result = CliRunner().invoke(app, ["demo", "--json", "--db", url])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] and summary["database_url"] == url
    # the registry can be inspected afterwards, and the demo refuses to reuse it silently
    verify = CliRunner().invoke(app, ["ledger", "verify", "--db", url])
    assert verify.exit_code == 0 and "OK" in verify.stdout
    again = CliRunner().invoke(app, ["demo", "--json", "--db", url])
    assert again.exit_code == 2
    assert "--db" in again.output and "--reset" in again.output
    exported = CliRunner().invoke(app, ["batch", "export", "1", "--db", url])
    assert exported.exit_code == 0
    dump = json.loads(exported.stdout)
    assert dump["format"] == "standard-v1" and len(dump["values"]) == 1
    missing = CliRunner().invoke(app, ["batch", "export", "99", "--db", url])
    assert missing.exit_code == 2 and "BATCH_ID" in missing.output
