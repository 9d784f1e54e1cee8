"""A real browser for page tests: Debian's chromium driven through its chromedriver (Selenium),
and the app served by uvicorn on a free port.

``make browser`` (run by ``make test`` and ``.ci/run``) installs chromium and chromium-driver
with apt when they are missing; nothing here downloads a browser. Tests marked ``browser``
skip with the reason when chromium is missing, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from bridge.chain.anvil import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The toolchain notes' flags: headless, no sandbox (root in containers), and no background
# networking, which would otherwise flood a closed network with refused connections.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,1600")


def unavailable_reason() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} is missing: `make browser` installs Debian's {package} (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (make setup installs requirements.lock)"
    return None


def require_browser() -> None:
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)


@contextmanager
def chromium() -> Iterator:
    """A headless Debian chromium with a fresh, empty profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="icr-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


#: Where the browser tests write their screenshots (gitignored): the README names it.
SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "build" / "screenshots"


def screenshot(driver, name: str, full_page: bool = False) -> Path:
    """Save what the browser shows (with the media it emulates) as ``build/screenshots/<name>``;
    ``full_page`` widens the capture to the page's whole height first."""
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS_DIR / name
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        metrics = {"width": 1280, "height": int(height), "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        assert driver.save_screenshot(str(path)), f"chromium saved no screenshot to {path}"
    finally:
        if full_page:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path



@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port; yields its base URL."""
    import uvicorn

    from bridge.public.protocol import server_config

    port = free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
