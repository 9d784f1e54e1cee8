"""Every place that prints a serial block prints the one text of
:func:`registry.domain.serials.serial_block_text`, past unit 999,999 too, where a fixed
six-digit padding would print ``000001-1234567`` for ``0000001-1234567``."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.engine.cycle import run_cycle
from bridge.tables import MintLeaf
from bridge.webhooks.outbox import WebhookEvent
from registry.domain.serials import serial_block_text
from registry.tables.core import LedgerEntry, Retirement
from tests.support.world import make_world

ISSUED = 1_234_567
SERIALIZATION = "ICR-ISL-354-78040-14-R-0-2023"
BLOCK = f"{SERIALIZATION}-0000001-1234567"


def test_the_formatter_pads_both_units_to_the_width_of_the_last():
    assert serial_block_text(SERIALIZATION, 1, ISSUED) == BLOCK
    assert serial_block_text(SERIALIZATION, 5, 1000) == f"{SERIALIZATION}-000005-001000"
    assert serial_block_text(SERIALIZATION, 999_999, 1_000_000) == f"{SERIALIZATION}-0999999-1000000"


def _ledger_blocks(session: Session, kind: str) -> list[str]:
    entry = session.exec(select(LedgerEntry).where(LedgerEntry.kind == kind)).one()
    return json.loads(entry.payload)["serial_blocks"]


def _webhook_blocks(session: Session, kind: str, subject: str) -> list[str]:
    event = session.exec(select(WebhookEvent).where(WebhookEvent.kind == kind)).one()
    return json.loads(event.data)[subject]["serialBlocks"]


def test_every_place_that_prints_a_block_prints_the_same_text(sqlite_engine, w3):
    world = make_world(sqlite_engine, w3, issued=ISSUED)
    world.tokenize(ISSUED)
    run_cycle(sqlite_engine, world.chain, world.keys, confirmations=0)
    with TestClient(create_app(sqlite_engine)) as api:
        custody = api.get("/serial-blocks", params={"account_id": world.deployment.custody_account_id}).json()
        issuances = api.get("/issuances").json()
    world.retire(world.holder, ISSUED)
    run_cycle(sqlite_engine, world.chain, world.keys, confirmations=0)
    with Session(sqlite_engine) as session:
        retirement = session.exec(select(Retirement)).one()
        printed = {
            "mint leaf": [leaf.serial_block for leaf in session.exec(select(MintLeaf))],
            "ledger: tokenization.requested": _ledger_blocks(session, "tokenization.requested"),
            "ledger: retirement.bridged": _ledger_blocks(session, "retirement.bridged"),
            "webhook: tokenization.minted": _webhook_blocks(session, "tokenization.minted", "tokenization"),
            "webhook: retirement.recorded": _webhook_blocks(session, "retirement.recorded", "retirement"),
        }
    with TestClient(create_app(sqlite_engine)) as api:
        printed["GET /serial-blocks"] = [b["serial_block"] for b in custody["items"]]
        printed["GET /issuances"] = [i["serial_block"] for i in issuances["items"]]
        printed["GET /retirements/{id}"] = api.get(f"/retirements/{retirement.id}").json()["serial_blocks"]
        certificate = api.get(f"/certificates/{retirement.id}.json").json()
        printed["GET /certificates/{id}.json"] = [b["serial_block"] for b in certificate["serial_blocks"]]
    assert printed == {place: [BLOCK] for place in printed}
