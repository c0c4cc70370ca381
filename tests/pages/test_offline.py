"""Every node's `/docs` and page work with no internet: the browser can reach nothing but this machine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from loop_testkit.processes import Service
from tests.conftest import node_env
from tests.pages.conftest import console_errors, requested_urls, screenshot, wait_for

METHODS = {"get", "put", "post", "delete", "patch"}
PAGE_READY = {"stub": "#project-table tbody tr", "detector": "#model dl", "trainer": "#totals .figure",
              "converter": "#conversion-table tbody tr", "annotator": "#bounds .figure"}


def operations(service: Service) -> int:
    schema = httpx.get(f"{service.url}/openapi.json").json()
    return sum(1 for item in schema["paths"].values() for method in item if method in METHODS)


def test_docs_and_pages_of_every_node_need_nothing_but_the_node(
        demo_stub: Service, demo_detector: Service, start_node: Callable[..., Service], browser: WebDriver,
        output_dir: Path, tmp_path: Path) -> None:
    trainer = start_node("loop-trainer", node_env(demo_stub, tmp_path / "trainer", "demo"))
    converter = start_node("loop-converter", node_env(demo_stub, tmp_path / "converter", "demo",
                                                      LOOP_POLL_INTERVAL="0.5"))
    annotator = start_node("loop-annotator", node_env(demo_stub, tmp_path / "annotator", "demo"))
    # the network block holds: the CDN FastAPI's default /docs would use cannot be reached from this browser
    browser.get(f"{demo_stub.url}/docs")
    error = browser.execute_async_script(
        "const done = arguments[0]; fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css')"
        ".then(() => done('reached'), (e) => done(String(e)));")
    assert error != "reached" and "Failed to fetch" in error
    assert "ERR_PROXY_CONNECTION_FAILED" in " ".join(console_errors(browser))  # (and the console log is empty again)
    nodes = {"stub": demo_stub, "detector": demo_detector, "trainer": trainer, "converter": converter,
             "annotator": annotator}
    for name, service in nodes.items():
        requested_urls(browser)
        browser.get(f"{service.url}/docs")
        count = operations(service)
        blocks = wait_for(browser, lambda b, n=count: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= n and
                          b.find_elements(By.CSS_SELECTOR, ".opblock"), f"{name}'s {count} operations in /docs")
        assert len(blocks) == count
        assert "Learning Loop" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
        screenshot(browser, output_dir / f"{name}-docs.png")
        assert httpx.get(f"{service.url}/redoc").status_code == 404  # ReDoc would fetch its logo from its CDN
        browser.get(service.url)
        wait_for(browser, lambda b, sel=PAGE_READY[name]: b.find_elements(By.CSS_SELECTOR, sel), f"{name}'s page")
        screenshot(browser, output_dir / f"{name}-page.png")
        urls = requested_urls(browser)
        elsewhere = [u for u in urls if urlsplit(u).hostname != "127.0.0.1" and not u.startswith(("data:", "blob:"))]
        assert urls and elsewhere == [], elsewhere
        assert console_errors(browser) == [], name
