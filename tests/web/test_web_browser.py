"""The web UI in headless Chromium over a real server: search and play, open a song and
resize it, recognize an uploaded excerpt. Screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tonearm.catalog.context import Catalog
from tonearm.demo.catalog import build_demo_catalog

CHROMIUM = "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="needs Debian chromium and chromium-driver (/usr/bin/chromium, chromedriver)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(catalog: Catalog, api_key: str) -> Iterator[tuple[str, str]]:
    import uvicorn

    from tonearm.api.app import create_app

    build_demo_catalog(catalog, limit=1)
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(catalog=catalog), "127.0.0.1", port, log_level="warning")
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", api_key
    srv.should_exit = True
    t.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tonearm-chromium-")
    for a in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--window-size=1300,1000", "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}",
    ):  # fmt: skip
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_script_timeout(60)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(d, css: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(d, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _shot(d, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    d.save_screenshot(str(ARTIFACTS / f"web-{name}.png"))


def test_search_play_resize_recognize(server: tuple[str, str], browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, key = server
    d = browser
    d.get(base + "/ui/")
    d.find_element(By.ID, "api-key").send_keys(key)
    d.find_element(By.CSS_SELECTOR, "#key-form button").click()

    # search and play
    q = _wait(d, "input[name=q]")
    q.send_keys("calm music")
    d.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    _wait(d, "[data-testid=search-method]")
    _wait(d, "[data-testid=tracks] button.play").click()
    WebDriverWait(d, 30).until(
        lambda d: d.execute_script(
            "const p=document.getElementById('player');"
            "return p.src.includes('/audio') && p.readyState >= 2"
        )
    )
    _shot(d, "search")

    # open the song and resize it
    d.find_element(By.CSS_SELECTOR, "[data-testid=tracks] td a").click()
    _wait(d, "input[name=target]")
    d.find_element(By.CSS_SELECTOR, "input[name=target]").clear()
    d.find_element(By.CSS_SELECTOR, "input[name=target]").send_keys("15")
    d.find_element(By.XPATH, "//button[text()='Find edits']").click()
    _wait(d, "[data-testid=candidates] li")
    assert len(d.find_elements(By.CSS_SELECTOR, "[data-testid=candidates] li")) >= 1
    _shot(d, "song-resize")
    song_id = d.execute_script("return location.hash.split('/')[2]")

    # recognize an excerpt of that song
    excerpt = d.execute_async_script(
        "const done = arguments[arguments.length-1];"
        "fetch('/ui/api/assets/' + arguments[0] + '/render', {method:'POST',"
        " headers:{'X-API-Key': arguments[1], 'Content-Type':'application/json'},"
        " body: JSON.stringify({segments:[[5,13]], format:'wav'})})"
        ".then(r=>r.arrayBuffer()).then(b=>done(Array.from(new Uint8Array(b))))",
        song_id,
        key,
    )
    path = tmp_path / "excerpt.wav"
    path.write_bytes(bytes(excerpt))
    d.get(base + "/ui/#/recognize")
    d.refresh()
    _wait(d, "input[type=file]").send_keys(str(path))
    d.find_element(By.XPATH, "//button[text()='Recognize']").click()
    tc = _wait(d, "[data-testid=timecode]")
    assert tc.text == "00:05"
    _shot(d, "recognize")

    # the usage page lists what this key just did (it read field names the API never sent)
    d.get(base + "/ui/#/keys")
    d.refresh()
    WebDriverWait(d, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "section[aria-label='Your usage'] table.list")
    )
    usage_text = d.find_element(By.CSS_SELECTOR, "section[aria-label='Your usage']").text
    assert "Per endpoint" in usage_text
    assert "/developer/v1/search" in usage_text or "search" in usage_text
    _shot(d, "usage")


def test_ui_words_missing_asset_and_player_bar(server: tuple[str, str], browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    base, key = server
    d = browser
    d.get(base + "/ui/")
    d.find_element(By.ID, "api-key").send_keys(key)
    d.find_element(By.CSS_SELECTOR, "#key-form button").click()
    q = _wait(d, "input[name=q]")
    q.send_keys("calm music")
    d.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    label = _wait(d, "[data-testid=search-method]")
    assert label.text in ("Matched by meaning", "Matched by keywords")
    shown = d.execute_script("return document.body.innerText")
    assert "search_method" not in shown and "matched_artist" not in shown

    # the last button on the page stays clear of the fixed player bar when scrolled down
    d.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    gap = d.execute_script(
        "const bs=[...document.querySelectorAll('main button')].filter(b=>b.offsetParent);"
        "const last=bs[bs.length-1].getBoundingClientRect();"
        "const bar=document.querySelector('footer.player').getBoundingClientRect();"
        "return bar.top - last.bottom"
    )
    assert gap >= 0, gap

    # a missing asset is a clear message, not a bare red bar
    d.get(base + "/ui/#/asset/987654321")
    msg = _wait(d, "[data-testid=missing-asset]")
    assert "no song or sound effect with id 987654321" in msg.text
