"""Every node's `/docs` and page are served from the node itself: nothing is loaded from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loop_shared.pages import install_pages

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "detector/loop_detector/static", ROOT / "trainer/loop_trainer/static",
         ROOT / "converter/loop_converter/static", ROOT / "stub_loop/stub_loop/static"]


@pytest.mark.parametrize("static_dir", PAGES, ids=lambda p: p.parent.name)
def test_docs_and_the_page_reference_only_the_node_itself(static_dir: Path) -> None:
    app = FastAPI(title="node", docs_url=None, redoc_url=None)
    install_pages(app, static_dir)
    client = TestClient(app)
    for path in ("/docs", "/"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert references, path
        for reference in references:
            assert reference.startswith("/"), (path, reference)  # no scheme, no host: this node
            if reference.startswith("/static"):
                assert client.get(reference).status_code == 200, reference
        assert "http://" not in page.text.replace("http://www.w3.org", "") and "https://" not in page.text
