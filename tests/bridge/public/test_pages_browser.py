"""The explorer and certificate pages in a real headless browser (Debian's chromium), served by
uvicorn on a free port over a bridged world with a standard and an Article 6.2 class."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from bridge.app import create_app
from bridge.chain.client import eth_tester_web3
from bridge.engine.cycle import run_cycle
from bridge.schema import create_schema
from registry.db import make_engine
from registry.domain.classes import CERTIFICATE_FLAG
from tests.support import browser
from tests.support.public_world import add_article6_class
from tests.support.world import make_world

pytestmark = pytest.mark.browser
EXPLORER_TX_URL = "https://explorer.example/tx/{tx}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    browser.require_browser()
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'registry.sqlite'}")
    create_schema(engine)
    world = make_world(engine, eth_tester_web3(), seed="pages")
    world.tokenize(300)
    run_cycle(engine, world.chain, world.keys)
    world.retire(world.holder, 75, name="Reykjavik Harbour Ferries")
    world.a6 = add_article6_class(world)
    world.tokenize(40)  # awaiting its mint
    app = create_app(engine, chains=[world.chain], explorer_tx_url=EXPLORER_TX_URL)
    with browser.live_server(app) as url:
        world.url = url
        yield world
    engine.dispose()


@pytest.fixture(scope="module")
def driver(site):
    with browser.chromium() as d:
        d.set_page_load_timeout(30)
        yield d


def _severe_console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_explorer_shows_classes_supply_badges_and_retirements(site, driver):
    driver.get(f"{site.url}/explorer")
    assert driver.title == "ICR bridge explorer"
    browser.screenshot(driver, "explorer.png", full_page=True)
    classes = httpx.get(f"{site.url}/explorer/classes").json()["items"]
    rows = driver.find_elements("css selector", "#classes-table tbody tr")
    assert [r.get_attribute("data-token-id") for r in rows] == [c["token_id"] for c in classes]
    for row, data in zip(rows, classes):
        cells = {c.get_attribute("data-col"): c.text.replace(",", "").rstrip("*")
                 for c in row.find_elements("css selector", "td[data-col]")}
        assert int(cells["in_custody"]) == data["supply"]["in_custody"]
        assert int(cells["onchain"]) == data["supply"]["onchain"]
        assert int(cells["awaiting_mint"]) == data["supply"]["awaiting_mint"]
        assert row.find_element("css selector", "[data-conserved]").get_attribute("data-conserved") == "true"
    standard, article6 = rows
    assert int(standard.find_element("css selector", "td[data-col=in_custody]").text) == 300 - 75 + 40
    assert int(standard.find_element("css selector", "td[data-col=awaiting_mint]").text) == 40
    badge = {r: r.find_element("css selector", "[data-ca-status]") for r in rows}
    assert (badge[standard].get_attribute("data-ca-status"), badge[standard].text) == ("not_applicable", "Not applicable")
    assert (badge[article6].get_attribute("data-ca-status"), badge[article6].text) == ("applied", "CA applied")
    # The badges are styled by status: the browser computed different colours.
    colours = {r: badge[r].value_of_css_property("background-color") for r in rows}
    assert colours[standard] != colours[article6]
    assert "letter" in article6.text and "Article 6.2 ICC" in article6.text
    totals = {e.get_attribute("data-total"): int(e.text.replace(",", ""))
              for e in driver.find_elements("css selector", "[data-total]")}
    assert totals["in_custody"] == sum(c["supply"]["in_custody"] for c in classes)
    retirements = driver.find_elements("css selector", "#retirements-table tbody tr")
    assert len(retirements) == 3
    assert [r.find_element("css selector", "[data-ca-status]").text for r in retirements] == [
        "CA applied", "CA applied", "Not applicable"]
    assert _severe_console_errors(driver) == []


def test_annual_report_chart_is_drawn_from_the_report(site, driver):
    driver.get(f"{site.url}/explorer")
    report = httpx.get(f"{site.url}/explorer/annual-report").json()
    heading = driver.find_element("id", "annual-report")
    assert heading.text == f"Article 6.2 annual report {report['year']}"
    chart = driver.find_element("id", "report-chart")
    assert chart.is_displayed() and chart.size["width"] > 300 and chart.size["height"] > 100
    widths = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#report-chart rect[data-series]')]"
        ".map(r => [r.dataset.series, [r.getBBox().width, Number(r.dataset.value)]]))")
    (country,) = report["countries"]
    for series, (width, value) in widths.items():
        assert value == country[series], series
    issued_width, issued = widths["issued"]
    assert issued == site.a6.issued and issued_width > 0
    for series, (width, value) in widths.items():
        assert width == pytest.approx(issued_width * value / issued, abs=0.2), series  # bars to scale
    assert widths["retired_ndc"][1] == site.a6.retired_ndc and widths["ca_applied"][1] == 50
    row = driver.find_element("css selector", "#report-table tr[data-country=ISL] td[data-col=issued]")
    assert int(row.text.replace(",", "")) == site.a6.issued
    # Another year: the links lead to it, and it has no Article 6.2 activity (2020 is also outside the
    # letter's vintages 2021-2030, whose every year counts its maximum authorized, §III.3).
    driver.get(f"{site.url}/explorer?year=2020#annual-report")
    assert driver.find_element("id", "annual-report").text == "Article 6.2 annual report 2020"
    assert driver.find_element("id", "report-empty").is_displayed()


def test_certificate_page_from_the_explorer_and_printable(site, driver):
    driver.get(f"{site.url}/explorer")
    link = driver.find_elements("css selector", "#retirements-table a.certificate-link")[-1]  # the standard one
    link.click()
    assert "/certificates/" in driver.current_url and driver.title.startswith("Retirement certificate")
    certificate = driver.find_element("id", "certificate")
    retirement_id = certificate.get_attribute("data-retirement-id")
    data = httpx.get(f"{site.url}/certificates/{retirement_id}.json").json()
    assert driver.find_element("id", "quantity").text == "75 tCO2e"
    assert driver.find_element("id", "beneficiary").text.startswith("Reykjavik Harbour Ferries")
    assert driver.find_element("id", "tx-hash").text == data["chain"]["tx_hash"]
    tx = data["chain"]["tx_hash"]
    assert driver.find_element("id", "explorer-link").get_attribute("href") == EXPLORER_TX_URL.replace("{tx}", tx)
    assert driver.find_element("id", "chain-name").text.startswith("In-process test chain (eth-tester)")
    assert driver.find_element("id", "block-time").text == data["chain"]["block_time"][:19].replace("T", " ") + " UTC"
    assert driver.find_element("id", "registry-time").text == data["retired_at"][:19].replace("T", " ") + " UTC"
    assert driver.find_element("id", "holder-wallet").text.startswith(data["chain"]["holder_wallet"] + " (retired")
    assert driver.find_element("id", "beneficiary-wallet").text.startswith(data["chain"]["beneficiary_wallet"])
    verify = driver.find_element("id", "verification-url")
    assert verify.get_attribute("href") == data["verification_url"] == f"{site.url}/certificates/{retirement_id}"
    qr = driver.find_element("css selector", "#verify svg.qr")
    assert qr.size["width"] >= 80 and qr.find_elements("css selector", "path")
    assert driver.find_element("id", "ledger-hash").text == data["ledger_entry"]["entry_hash"]
    serials = [r.find_element("css selector", "td").text
               for r in driver.find_elements("css selector", "#serials tbody tr")]
    assert serials == [b["serial_block"] for b in data["serial_blocks"]]
    nav = driver.find_element("css selector", "header.site")
    button = driver.find_element("id", "print-button")
    assert nav.is_displayed() and button.is_displayed()
    # Print media: navigation and buttons go, the certificate stays and gets a plain border.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert not nav.is_displayed() and not button.is_displayed()
        assert certificate.is_displayed()
        assert certificate.value_of_css_property("border-top-color") in ("rgb(0, 0, 0)", "rgba(0, 0, 0, 1)")
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": False, "preferCSSPageSize": True})
        browser.screenshot(driver, "certificate-print.png", full_page=True)
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    document = base64.b64decode(pdf["data"])
    assert document.startswith(b"%PDF") and len(document) > 5_000
    assert len(re.findall(rb"/Type\s*/Page\b", document)) == 1  # one A4 page for one serial block
    assert _severe_console_errors(driver) == []


def test_certificate_token_metadata_leads_to_the_page(site, driver):
    with httpx.Client() as http:
        retirements = http.get(f"{site.url}/explorer/retirements").json()["items"]
        cert = http.get(f"{site.url}/certificates/{retirements[0]['retirement_id']}.json").json()
        token_id = int(cert["chain"]["certificate_token_id"])
        assert token_id & CERTIFICATE_FLAG
        meta = http.get(f"{site.url}/metadata/{token_id:064x}.json").json()
    driver.get(meta["external_url"])
    assert driver.find_element("id", "certificate").get_attribute("data-retirement-id") == str(cert["retirement_id"])
    driver.get(meta["image"])
    assert driver.find_element("css selector", "svg") is not None


@pytest.mark.parametrize("path, rendered", [("/docs", ".swagger-ui .info .title"), ("/redoc", ".api-info h1")])
def test_the_api_docs_render_offline_under_their_policy(site, driver, path, rendered):
    """Swagger UI and ReDoc come from the app (pinned packages, no CDN), render the OpenAPI
    document, and break no rule of the docs' Content-Security-Policy (a refusal is a console error)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(f"{site.url}{path}")
    title = WebDriverWait(driver, 30).until(ec.visibility_of_element_located((By.CSS_SELECTOR, rendered)))
    assert "ICR" in title.text
    scripts = [s.get_attribute("src") for s in driver.find_elements(By.TAG_NAME, "script") if s.get_attribute("src")]
    assert scripts and all(src.startswith(site.url) for src in scripts), scripts
    assert _severe_console_errors(driver) == []
