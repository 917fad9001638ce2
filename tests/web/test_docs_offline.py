"""/docs and /redoc work offline: their scripts come from the package, and Swagger UI
renders the operations in headless Chromium with every host but the server unreachable."""

from __future__ import annotations

import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog

CHROMIUM = "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def test_docs_pages_reference_only_local_assets(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert urls and all(u.startswith("/") for u in urls), urls
        for u in urls:
            if u.startswith("/docs/assets/"):
                a = client.get(u)
                assert a.status_code == 200 and len(a.content) > 1000, u
        assert "cdn" not in r.text.lower()


@pytest.fixture
def server(catalog: Catalog) -> Iterator[str]:
    import uvicorn

    from tonearm.api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    srv = uvicorn.Server(
        uvicorn.Config(create_app(catalog=catalog), "127.0.0.1", port, log_level="warning")
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="needs Debian chromium and chromium-driver",
)
def test_swagger_ui_renders_operations_with_no_network(server: str) -> None:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tonearm-chromium-")
    for a in (
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # no network: every host name fails to resolve; only the server's IP is reachable
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
    ):  # fmt: skip
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        for page, css in (("/docs", ".opblock"), ("/redoc", "[data-section-id^='tag/'], h2")):
            d.get(server + page)
            WebDriverWait(d, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))
        d.get(server + "/docs")
        WebDriverWait(d, 60).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
        paths = {e.text for e in d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert "/developer/v1/similar" in paths and "/analyze" in paths, paths
        assert d.find_elements(By.CSS_SELECTOR, ".auth-wrapper .authorize")  # security schemes
    finally:
        d.quit()
        shutil.rmtree(profile, ignore_errors=True)
