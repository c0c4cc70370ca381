"""A real headless Chromium (Debian's `chromium` and `chromium-driver`, through Selenium) for the pages' tests.

The browser can reach nothing but this machine: every request goes to a proxy on a dead port, except those to
loopback addresses (which Chromium never proxies), and host names other than localhost do not resolve. So a
page that needs the internet (a CDN script, a web font) fails here as it would on an offline robot.
`requested_urls` lists every URL a page asked for, from Chromium's own network log.
Screenshots go to build/test-output/<test name>/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
OFFLINE = ["--proxy-server=http://127.0.0.1:9",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if CHROMIUM is None or DRIVER is None:
        reason = ("the page tests need Chromium and its driver: `make test-deps` (apt-get install chromium "
                  "chromium-driver, as root) could not install them on this machine")
        if os.environ.get("CI") == "true":  # CI must look at the pages; a skip there would hide them all
            pytest.fail(f"{reason} (CI=true)")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--disable-gpu", "--no-first-run", "--disable-background-networking", *OFFLINE]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """build/test-output/<test name>/, emptied first: where a test leaves its screenshots."""
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    directory = ROOT / "build" / "test-output" / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def requested_urls(driver: WebDriver) -> list[str]:
    """Every URL the browser requested since the last call (from Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout: float = 20) -> Any:
    """Poll `condition(driver)` until it is truthy (returned), or fail naming `what`. An element the page redrew
    between finding and reading it (a stale reference) is asked again at the next poll."""
    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition,
                                                                                      message=f"{what} not seen")


def screenshot(driver: WebDriver, path: Path) -> None:
    """The whole page (the window grows to its height), as a PNG."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1400, max(1000, min(height, 6000)))
    driver.save_screenshot(str(path))
