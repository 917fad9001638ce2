"""A spent quota refuses priced requests only: polling, results, asset and usage reads go on
and cost nothing. The demo key is unlimited."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key, verify_key
from tonearm.demo.keys import DEMO_KEY_FILE, demo_api_key
from tonearm.platform.middleware import priced
from tonearm.platform.tiers import limits_for


def new_key(client: TestClient, admin: dict[str, str], **body: object) -> str:
    r = client.post("/admin/keys", json={"name": "k", **body}, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def test_reads_go_on_after_the_quota_is_spent(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    key = new_key(pclient, admin_headers, monthlyCredits=10)
    pclient.app.state.platform.quota_cache_s = 0  # type: ignore[attr-defined]
    h = {"X-API-Key": key}
    assert pclient.post("/analyze", headers=h).status_code == 200  # 10 credits: spent
    assert pclient.post("/analyze", headers=h).status_code == 429
    for _ in range(3):
        r = pclient.get("/requests/abc", headers=h)
        assert r.status_code == 200, r.text
        assert pclient.get("/developer/v1/assets/1", headers=h).status_code == 200
        assert pclient.get("/usage", headers=h).status_code == 200
    u = pclient.get("/usage", headers=h).json()
    assert u["credits"]["used"] == 10  # the reads cost nothing
    reads = [x for x in u["recentRequests"] if x["method"] == "GET"]
    assert reads and all(x["credits"] == 0 for x in reads)


def test_priced_requests() -> None:
    assert priced("audjust", "POST", "/analyze")
    assert not priced("audjust", "GET", "/requests/x")
    assert not priced("audjust", "GET", "/results/x/y.wav")
    assert priced("audioscape", "GET", "/developer/v1/search")
    assert not priced("audioscape", "GET", "/developer/v1/assets")
    assert priced("audd", "POST", "/")
    assert not priced("audd", "GET", "/longpoll/")


def test_demo_key_is_unlimited(catalog: Catalog) -> None:
    secret, created = demo_api_key(catalog)
    assert created
    key = verify_key(catalog.store, secret)
    assert key is not None and key.tier == "unlimited"
    lim = limits_for(key.tier)
    assert lim.monthly_credits is None and lim.rate_limit_per_min is None
    assert demo_api_key(catalog) == (secret, False)


def test_a_kept_free_demo_key_is_upgraded(catalog: Catalog) -> None:
    secret, _ = create_key(catalog.store, "demo")  # as older versions made it
    (catalog.data_dir / DEMO_KEY_FILE).write_text(secret + "\n")
    assert demo_api_key(catalog) == (secret, False)
    key = verify_key(catalog.store, secret)
    assert key is not None and key.tier == "unlimited"
