"""The public side: ERC-1155 token metadata (checked against EIP-1155's metadata JSON schema),
retirement certificates (JSON, HTML, SVG) and the explorer's JSON, on a bridged world with a
live chain; the OpenAPI document says what the server does."""

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from bridge.app import create_app
from bridge.chain.client import eth_tester_web3
from bridge.engine.cycle import run_cycle
from bridge.schema import create_schema
from registry.db import make_engine, transaction
from registry.domain.classes import CERTIFICATE_FLAG
from registry.domain.serials import parse_serial_block
from registry.operations.ledger import verify_chain
from registry.tables.core import LedgerEntry, Retirement
from tests.support.periods import verified
from tests.support.public_world import VINTAGE, add_article6_class
from tests.support.world import make_world

SCHEMA = json.loads((Path(__file__).parent / "erc1155_metadata.schema.json").read_text())
HOSTILE = 'Fjord <script>alert("x")</script> & Sons'


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('public') / 'registry.sqlite'}")
    create_schema(engine)
    world = make_world(engine, eth_tester_web3(), seed="public", issued=1_000)
    world.tokenize(400)
    run_cycle(engine, world.chain, world.keys)
    world.transfer(world.holder, world.others[0].address, 150)
    world.retire_receipt = world.retire(world.others[0], 60, beneficiary=world.others[1].address, name=HOSTILE)
    world.tokenize(50)  # in custody, not yet minted when the metadata is read
    run_cycle(engine, world.chain, world.keys)
    world.a6 = add_article6_class(world)
    world.tokenize(25)  # after the last engine cycle: awaiting its mint
    yield world
    engine.dispose()


def _hex(token_id: int) -> str:
    return f"{token_id:064x}"


def _retirement(world) -> Retirement:
    with Session(world.engine) as s:
        return s.exec(select(Retirement).where(Retirement.class_id == world.class_id)).one()


def test_class_metadata_is_valid_erc1155_metadata(client, world):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    meta = client.get(f"/metadata/{_hex(world.token_id)}.json").json()
    jsonschema.validate(meta, SCHEMA)
    # What the schema leaves optional, a wallet needs: all of it is here and typed.
    assert isinstance(meta["name"], str) and meta["name"] and isinstance(meta["description"], str)
    assert meta["decimals"] == 0 and isinstance(meta["properties"], dict)
    assert "{id}" not in json.dumps(meta)  # ids are substituted, never left for the client
    image = client.get(meta["image"])
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg+xml")
    svg = ET.fromstring(image.text)
    width, height = int(svg.get("width")), int(svg.get("height"))
    assert 320 <= width <= 1080 and 4 / 5 <= width / height <= 1.91  # EIP-1155's image advice
    page = client.get(meta["external_url"])
    assert page.status_code == 200 and f'id="class-{_hex(world.token_id)}"' in page.text


def test_class_metadata_describes_the_class_its_serials_and_supply(client, world):
    props = client.get(f"/metadata/{_hex(world.token_id)}.json").json()["properties"]
    assert props["kind"] == "credit_class" and props["unit"] == "tCO2e" and props["token_id"] == str(world.token_id)
    assert (props["project_number"], props["host_country"], props["methodology"], props["vintage"]) == (
        78040, "ISL", "M", 2023)
    assert props["designation"] == "Standard ICC" and props["article6"] is False and props["letter"] is None
    assert props["authorized_uses"] == ["voluntary"]
    assert props["ca_status"]["status"] == "not_applicable" and props["ca_status"]["label"] == "Not applicable"
    assert isinstance(props["ca_status"]["history"], list)
    supply = props["supply"]
    onchain = world.chain.token.functions.totalSupply(world.token_id).call()
    assert supply["onchain_source"] == "chain" and supply["onchain"] == onchain == 450 - 60
    assert supply["in_custody"] == 450 - 60 + 25 and supply["awaiting_mint"] == 25 and supply["retired"] == 60
    assert supply["conserved"] is True
    # The serial blocks backing the class cover exactly the custody units, in their states.
    blocks = props["serial_blocks"]
    assert props["serial_blocks_total"] == len(blocks)
    assert sum(b["quantity"] for b in blocks) == supply["in_custody"]
    assert sum(b["quantity"] for b in blocks if b["state"] == "minted") == supply["minted"] == onchain
    for b in blocks:
        parsed = parse_serial_block(b["serial_block"])
        assert (parsed.units.first, parsed.units.last) == (b["unit_first"], b["unit_last"])
        assert parsed.serialization.vintage == 2023
    # Retired units (the lowest 60) back nothing any more.
    assert min(b["unit_first"] for b in blocks) == 61


def test_metadata_without_a_chain_connection_reports_the_synced_supply(world):
    with TestClient(create_app(world.engine)) as c:
        supply = c.get(f"/metadata/{_hex(world.token_id)}.json").json()["properties"]["supply"]
    assert supply["onchain_source"] == "registry" and supply["onchain"] == supply["minted"] == 390


def test_article6_class_metadata_carries_letter_ca_history_and_blocks(client, world):
    meta = client.get(f"/metadata/{_hex(world.a6.token_id)}.json").json()
    jsonschema.validate(meta, SCHEMA)
    props = meta["properties"]
    assert props["designation"] == "Article 6.2 ICC" and props["article6"] is True and "Article 6.2" in meta["name"]
    assert props["vintage"] == VINTAGE and props["serialization"] == f"ICR-ISL-354-78040-14-R-1-{VINTAGE}"
    letter = props["letter"]
    assert props["letter_number"] == letter["number"] == world.a6.letter_number
    assert letter["status"] == "approved and published" and letter["host_country"] == "ISL"
    assert letter["published_ref"] == "https://registry.example/l/1" and letter["quantity_cap"] == 10_000
    assert sorted(props["authorized_uses"]) == ["corsia", "ndc"]
    assert [(lv["level"], lv["status"]) for lv in props["additionality"]] == [("1", "demonstrated"),
                                                                               ("2a", "demonstrated")]
    ca = props["ca_status"]
    assert (ca["status"], ca["label"]) == ("applied", "CA applied")
    assert [(h["transition"], h["status"]) for h in ca["history"]] == [("open", "pending"),
                                                                        ("confirm_applied", "applied")]
    assert ca["history"][-1]["evidence"] == "BTR1 table 4" and ca["evidence"][0]["reference"] == "BTR1 table 4"
    # Units: the deposit (lowest) stays in the adjustment account; custody holds the tokenized
    # units after them, less the 50 retired.
    first = world.a6.deposit + 1 + 50
    assert [(b["unit_first"], b["unit_last"], b["state"]) for b in props["serial_blocks"]] == [
        (first, world.a6.deposit + world.a6.tokenized, "minted")]
    assert props["supply"]["onchain"] == world.chain.token.functions.totalSupply(world.a6.token_id).call() == 150
    certificate = client.get("/explorer/retirements").json()["items"][0]
    cert = client.get(f"/certificates/{certificate['retirement_id']}.json").json()
    assert cert["designation"] == "Article 6.2 ICC" and cert["ca_status"]["label"] == "CA applied"
    assert cert["purpose"] == "corsia" and cert["purpose_label"] == "CORSIA"


def test_certificate_token_metadata_links_to_the_certificate(client, world):
    retirement = _retirement(world)
    certificate_id = CERTIFICATE_FLAG | retirement.onchain_retirement_id
    # The certificate token exists on-chain, held by the beneficiary.
    assert world.chain.token.functions.balanceOf(world.others[1].address, certificate_id).call() == 1
    meta = client.get(f"/metadata/{_hex(certificate_id)}.json").json()
    jsonschema.validate(meta, SCHEMA)
    props = meta["properties"]
    assert props["kind"] == "retirement_certificate" and props["soulbound"] is True
    assert meta["external_url"].endswith(f"/certificates/{retirement.id}")
    assert props["certificate_url"] == meta["external_url"]
    assert props["quantity"] == 60 and props["beneficiary_name"] == HOSTILE
    assert client.get(props["certificate_json_url"]).json()["retirement_id"] == retirement.id
    assert client.get(meta["image"]).headers["content-type"].startswith("image/svg+xml")


def test_certificate_json_has_everything_a_claim_needs(client, world):
    retirement = _retirement(world)
    cert = client.get(f"/certificates/{retirement.id}.json").json()
    assert cert["quantity"] == 60 and cert["unit"] == "tCO2e"
    assert [b["serial_block"] for b in cert["serial_blocks"]] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000060"]
    assert cert["beneficiary_name"] == HOSTILE and cert["purpose"] == "voluntary"
    assert cert["ca_status"]["status"] == "not_applicable"
    assert cert["project"]["project_number"] == 78040 and cert["vintage"] == 2023
    receipt = world.retire_receipt
    chain = cert["chain"]
    assert chain["tx_hash"] == retirement.tx_hash and chain["block_number"] == receipt.block_number
    assert chain["contract"] == world.chain.address and chain["beneficiary_wallet"] == world.others[1].address
    assert int(chain["certificate_token_id"]) == CERTIFICATE_FLAG | retirement.onchain_retirement_id
    with Session(world.engine) as s:
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.seq == cert["ledger_entry"]["seq"])).one()
        assert verify_chain(s).ok
    assert entry.entry_hash == cert["ledger_entry"]["entry_hash"]
    assert json.loads(entry.payload)["retirement_id"] == retirement.id and entry.kind.startswith("retirement.")


def test_certificate_page_is_printable_and_escapes_user_text(client, world):
    retirement = _retirement(world)
    page = client.get(f"/certificates/{retirement.id}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "@media print" in html and "@page" in html
    assert retirement.tx_hash in html and "ICR-ISL-354-78040-14-R-0-2023-000001-000060" in html
    cert = client.get(f"/certificates/{retirement.id}.json").json()
    assert cert["ledger_entry"]["entry_hash"] in html
    svg = client.get(f"/certificates/{retirement.id}.svg").text
    ET.fromstring(svg)  # well-formed: user text is escaped
    assert "<script>" not in svg


def test_explorer_json(client, world):
    classes = client.get("/explorer/classes").json()["items"]
    assert [c["token_id"] for c in classes] == [str(world.token_id), str(world.a6.token_id)]
    assert [c["supply"]["onchain"] for c in classes] == [390, world.a6.tokenized - 50]
    assert [c["ca_status"]["label"] for c in classes] == ["Not applicable", "CA applied"]
    rows = client.get("/explorer/retirements").json()["items"]
    assert [(r["quantity"], r["ca_status"]) for r in rows] == [(20, "applied"), (30, "applied"), (60, "not_applicable")]
    report = client.get("/explorer/annual-report").json()
    (iceland,) = report["countries"]
    assert (iceland["host_country"], iceland["issued"], iceland["retired_ndc"], iceland["retired_corsia"]) == (
        "ISL", world.a6.issued, world.a6.retired_ndc, world.a6.retired_corsia)
    assert iceland["ca_applied"] == 50 and iceland["ca_pending"] == 0
    assert report["year"] in report["years_available"]
    empty = client.get("/explorer/annual-report", params={"year": 2020}).json()  # before the letter's vintages
    assert empty["year"] == 2020 and empty["countries"] == []
    scope = client.get("/explorer/annual-report", params={"year": 2021}).json()  # no activity, the letter's cap
    assert [(c["issued"], c["max_authorized"] > 0) for c in scope["countries"]] == [(0, True)]
    assert client.get("/explorer/annual-report", params={"year": 1900}).status_code == 422


def test_errors_are_problem_json(client, world):
    unknown_class = client.get(f"/metadata/{_hex(world.token_id + 1)}.json")
    assert unknown_class.status_code == 404 and unknown_class.json()["field"] == "id"
    assert unknown_class.headers["content-type"] == "application/problem+json"
    unsynced_certificate = client.get(f"/metadata/{_hex(CERTIFICATE_FLAG | 999)}.json")
    assert unsynced_certificate.status_code == 404 and "not recorded" in unsynced_certificate.json()["detail"]
    for path, status, field in (("/metadata/nothex.json", 422, "id"), ("/metadata/" + "f" * 65 + ".json", 422, "id"),
                                ("/certificates/999", 404, "retirement_id"),
                                ("/certificates/abc", 422, "retirement_id"),
                                ("/certificates/999.json", 404, "retirement_id")):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["field"] == field, path


def test_openapi_documents_models_and_problem_errors_on_every_route(client):
    from bridge import app as api
    from bridge.public import pages
    from bridge.webhooks import routes as webhooks_api

    bridge_paths = {route.path for r in (api.router, pages.router, webhooks_api.router) for route in r.routes}
    doc = client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    seen = set()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            seen.add(path)
            responses = op["responses"]
            success = [code for code in responses if code.startswith("2")]
            assert success, (method, path)
            for code in success:
                if code == "204" or path not in bridge_paths:
                    continue
                content = responses[code]["content"]
                assert all("schema" in media and media["schema"] for media in content.values()), (method, path, code)
            has_input = bool(op.get("parameters")) or "requestBody" in op
            assert ("422" in responses) == has_input, (method, path)
            for code, response in responses.items():
                if code[0] in "45":
                    assert list(response["content"]) == ["application/problem+json"], (method, path, code)
    for path in ("/metadata/{hex_id}.json", "/metadata/{hex_id}.svg", "/certificates/{retirement_id}",
                 "/certificates/{retirement_id}.json", "/explorer", "/explorer/classes", "/explorer/annual-report",
                 "/organizations/{organization_id}/webhooks", "/webhooks/deliveries/{delivery_id}/redeliver"):
        assert path in seen, path
    metadata = doc["paths"]["/metadata/{hex_id}.json"]["get"]["responses"]["200"]["content"]["application/json"]
    assert metadata["schema"]["$ref"].endswith("/TokenMetadata")


def test_certificate_of_a_registry_retirement_has_no_chain_part(sqlite_engine):
    from registry.domain.classes import Purpose
    from registry.domain.lifecycle import RetirementDetails
    from registry.operations.accounts import create_organization, open_account
    from registry.operations.issuances import issue_ex_post
    from registry.operations.projects import register_project
    from registry.operations.retirements import retire

    with transaction(sqlite_engine) as s:
        org = create_organization(s, "Harbour Ferries ehf.")
        account = open_account(s, org.id, "holding")
        project = register_project(s, project_number=78040, name="P", country="ISL", dial_code="354", sector=14,
                                   credit_type="R", methodology="M")
        issuance = issue_ex_post(s, project_id=project.id, vintage=2023, **verified(s, project.id, 2023), quantity=100, account_id=account.id)
        retirement, _ = retire(s, account_id=account.id, serialization_id=issuance.serialization_id, quantity=7,
                               details=RetirementDetails(purpose=Purpose.voluntary, comment="2023 ferries"))
    with TestClient(create_app(sqlite_engine)) as c:
        cert = c.get(f"/certificates/{retirement.id}.json").json()
        page = c.get(f"/certificates/{retirement.id}")
    assert cert["chain"] is None and "certificate_metadata" not in cert["links"]
    assert cert["quantity"] == 7 and cert["beneficiary_name"] == "Harbour Ferries ehf."
    assert [b["serial_block"] for b in cert["serial_blocks"]] == ["ICR-ISL-354-78040-14-R-0-2023-000001-000007"]
    with Session(sqlite_engine) as s:
        entry = s.exec(select(LedgerEntry).where(LedgerEntry.seq == cert["ledger_entry"]["seq"])).one()
    assert entry.kind == "retirement" and cert["ledger_entry"]["entry_hash"] == entry.entry_hash
    assert page.status_code == 200 and 'id="chain"' not in page.text and entry.entry_hash in page.text


def test_pages_and_badges_carry_security_headers(sqlite_engine):
    """A retiree name that is markup can run nothing: HTML and SVG get a policy that allows no
    script but the print button's, no framing; every answer is nosniff with no referrer."""
    from bridge.public.headers import HTML_POLICY, SVG_POLICY

    with TestClient(create_app(sqlite_engine)) as client:
        page = client.get("/explorer")
        assert page.headers["content-security-policy"] == HTML_POLICY and page.headers["x-frame-options"] == "DENY"
        assert "script-src 'unsafe-hashes' 'sha256-" in HTML_POLICY and "frame-ancestors 'none'" in HTML_POLICY
        data = client.get("/explorer/classes")
        assert data.headers["x-content-type-options"] == "nosniff" and data.headers["referrer-policy"] == "no-referrer"
        assert "content-security-policy" not in data.headers
        problem = client.get("/certificates/999999")
        assert problem.headers["x-content-type-options"] == "nosniff"
    assert "script-src" not in SVG_POLICY and "default-src 'none'" in SVG_POLICY


def test_absolute_links_never_follow_a_strangers_host_header(sqlite_engine, monkeypatch):
    from bridge.public.pages import ALLOWED_HOSTS_ENV

    with TestClient(create_app(sqlite_engine)) as client:
        token = client.get("/metadata/" + "0" * 64 + ".json", headers={"host": "evil.example"})
        assert token.status_code == 400 and token.json()["rule"] == "trusted-host"
        monkeypatch.setenv(ALLOWED_HOSTS_ENV, "bridge.example, other.example")
        assert client.get("/metadata/" + "0" * 64 + ".json", headers={"host": "bridge.example"}).status_code == 404
    with TestClient(create_app(sqlite_engine, public_base_url="https://bridge.example.org")) as client:
        assert client.get("/metadata/" + "0" * 64 + ".json", headers={"host": "evil.example"}).status_code == 404


def test_metadata_carries_opensea_attributes(client, world):
    meta = client.get(f"/metadata/{_hex(world.token_id)}.json").json()
    traits = {a["trait_type"]: a for a in meta["attributes"]}
    assert traits["Vintage"] == {"trait_type": "Vintage", "value": 2023, "display_type": "number"}
    assert traits["Designation"]["value"] == meta["properties"]["designation"] == "Standard ICC"
    assert traits["Host country"]["value"] == meta["properties"]["host_country"]
    assert traits["Corresponding adjustment"]["value"] == meta["properties"]["ca_status"]["label"]
    assert "Letter of authorization" not in traits  # a standard class has none: no empty trait
    a6 = {a["trait_type"]: a["value"] for a in client.get(f"/metadata/{_hex(world.a6.token_id)}.json").json()["attributes"]}
    assert a6["Designation"] == "Article 6.2 ICC" and isinstance(a6["Letter of authorization"], int)
    certificate = client.get(f"/metadata/{_hex(CERTIFICATE_FLAG | _retirement(world).onchain_retirement_id)}.json").json()
    cert_traits = {a["trait_type"]: a["value"] for a in certificate["attributes"]}
    assert cert_traits["Quantity (tCO2e)"] == 60 and cert_traits["Beneficiary"] == HOSTILE
    assert cert_traits["Chain"] == "In-process test chain (eth-tester)"
    jsonschema.validate(certificate, SCHEMA)


def test_certificate_json_has_both_times_the_chain_name_and_a_verification_url(client, world):
    retirement = _retirement(world)
    cert = client.get(f"/certificates/{retirement.id}.json").json()
    assert cert["verification_url"] == cert["links"]["html"] == f"http://testserver/certificates/{retirement.id}"
    block = world.chain.w3.eth.get_block(retirement.block_number)
    block_time = datetime.fromtimestamp(block["timestamp"], tz=timezone.utc)
    assert cert["chain"]["block_time"].startswith(block_time.strftime("%Y-%m-%dT%H:%M:%S"))
    assert cert["retired_at"] and cert["chain"]["chain_name"] == "In-process test chain (eth-tester)"
    assert cert["chain"]["explorer_tx_url"] is None  # no explorer configured
    with TestClient(create_app(world.engine, explorer_tx_url="https://polygonscan.com/tx/{tx}")) as other:
        linked = other.get(f"/certificates/{retirement.id}.json").json()["chain"]
    assert linked["explorer_tx_url"] == f"https://polygonscan.com/tx/{retirement.tx_hash}"


def test_public_reads_carry_cors_and_cache_headers(client, world):
    retirement = _retirement(world)
    for path in (f"/metadata/{_hex(world.token_id)}.json", f"/certificates/{retirement.id}.json",
                 f"/certificates/{retirement.id}.svg"):
        first = client.get(path)
        assert first.status_code == 200 and first.headers["access-control-allow-origin"] == "*"
        assert first.headers["cache-control"] == "public, max-age=60"
        etag = first.headers["etag"]
        assert etag.startswith('"') and client.get(path).headers["etag"] == etag  # the same body, the same tag
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    missing = client.get(f"/metadata/{_hex(12345)}.json")
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == "*"
    assert "etag" not in missing.headers
    page = client.get(f"/certificates/{retirement.id}")  # the HTML page is not a cross-origin read
    assert "access-control-allow-origin" not in page.headers and "etag" not in page.headers
    # A change to what the metadata says changes its tag.
    before = client.get(f"/metadata/{_hex(world.token_id)}.json").headers["etag"]
    world.tokenize(5)
    assert client.get(f"/metadata/{_hex(world.token_id)}.json").headers["etag"] != before
