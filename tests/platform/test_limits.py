"""Tiers, rate limits, credit quotas and usage, through the HTTP API of each family."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.platform.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tonearm.platform.service import Platform
from tonearm.platform.tiers import TIERS, limits_for


def new_key(client: TestClient, admin: dict[str, str], **body: Any) -> str:
    r = client.post("/admin/keys", json={"name": "k", **body}, headers=admin)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def assert_limit_headers(r: Any, limit: int, remaining: int) -> None:
    assert r.headers["X-RateLimit-Limit"] == str(limit)
    assert r.headers["X-RateLimit-Remaining"] == str(remaining)
    assert int(r.headers["X-RateLimit-Reset"]) > 1_700_000_000


# -- tiers ----------------------------------------------------------------------------------
def test_tiers_follow_the_seed_plans() -> None:
    assert [TIERS[t].monthly_credits for t in ("free", "starter", "plus", "mega")] == [
        100,
        2000,
        10000,
        30000,
    ]
    assert TIERS["enterprise"].monthly_credits is None
    assert all(TIERS[t].rate_limit_per_min == 100 for t in ("free", "mega", "enterprise"))
    # key overrides: <= 0 requests per minute is no limit, < 0 credits is unlimited
    lim = limits_for("free", 5, -1)
    assert (lim.rate_limit_per_min, lim.monthly_credits) == (5, None)
    assert limits_for("free", 0, None).rate_limit_per_min is None
    assert limits_for("no-such-tier").monthly_credits == 100  # unknown: as free


# -- admin API ------------------------------------------------------------------------------
def test_admin_keys_create_list_change_revoke(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    r = pclient.post("/admin/keys", json={"name": "studio", "tier": "plus"}, headers=admin_headers)
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("ta_") and created["tier"] == "plus"
    assert created["monthlyCredits"] == 10000 and created["requestsPerMinute"] == 100

    listed = pclient.get("/admin/keys", headers=admin_headers).json()["keys"]
    assert [k["name"] for k in listed] == ["studio"]
    assert "key" not in listed[0] and "key_hash" not in listed[0]

    r = pclient.patch(
        f"/admin/keys/{created['id']}",
        json={"tier": "mega", "requestsPerMinute": 7},
        headers=admin_headers,
    )
    assert r.status_code == 200
    assert (r.json()["tier"], r.json()["requestsPerMinute"]) == ("mega", 7)
    assert r.json()["monthlyCredits"] == 30000

    h = {"X-API-Key": created["key"]}
    assert pclient.get("/developer/v1/probe/a", headers=h).status_code == 200
    r = pclient.delete(f"/admin/keys/{created['prefix']}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["active"] is False
    r = pclient.get("/developer/v1/probe/a", headers=h)
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"X-Admin-Token": "admin-secret-token-but-longer"}, 401),
        ({"Authorization": "Basic admin-secret-token"}, 401),
    ],
)
def test_admin_api_needs_the_token(
    pclient: TestClient, headers: dict[str, str], status: int
) -> None:
    r = pclient.get("/admin/keys", headers=headers)
    assert r.status_code == status and "error" in r.json()
    r = pclient.post("/admin/keys", json={"name": "x"}, headers=headers)
    assert r.status_code == status


def test_admin_api_off_without_token(catalog: Catalog, client_for: Any) -> None:
    with client_for(catalog) as c:
        r = c.get("/admin/keys", headers={"Authorization": "Bearer anything"})
        assert r.status_code == 403 and "TONEARM_ADMIN_TOKEN" in r.json()["error"]


@pytest.mark.parametrize(
    "body", [{"name": "x", "tier": "gold"}, {"name": ""}, {"tier": "free"}, {"name": 5}]
)
def test_admin_rejects_bad_keys(
    pclient: TestClient, admin_headers: dict[str, str], body: dict[str, Any]
) -> None:
    r = pclient.post("/admin/keys", json=body, headers=admin_headers)
    assert r.status_code == 400 and "error" in r.json()


def test_admin_unknown_key_is_404(pclient: TestClient, admin_headers: dict[str, str]) -> None:
    assert pclient.delete("/admin/keys/nope", headers=admin_headers).status_code == 404
    assert pclient.get("/admin/usage/999", headers=admin_headers).status_code == 404


# -- rate limits, per family ----------------------------------------------------------------
def test_audioscape_rate_limit(pclient: TestClient, admin_headers: dict[str, str]) -> None:
    key = new_key(pclient, admin_headers, requestsPerMinute=3)
    h = {"X-API-Key": key}
    for remaining in (2, 1, 0):
        r = pclient.get("/developer/v1/probe/x", headers=h)
        assert r.status_code == 200
        assert_limit_headers(r, 3, remaining)
    r = pclient.get("/developer/v1/probe/x", headers=h)
    assert r.status_code == 429
    assert r.json() == {"message": "Too Many Requests"}
    assert_limit_headers(r, 3, 0)
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["X-Request-Id"]


def test_audjust_rate_limit(pclient: TestClient, admin_headers: dict[str, str]) -> None:
    key = new_key(pclient, admin_headers, tier="unlimited", requestsPerMinute=2)
    h = {"X-API-Key": key}
    assert pclient.post("/analyze", headers=h).status_code == 200
    assert pclient.post("/analyze", headers=h).status_code == 200
    r = pclient.post("/analyze", headers=h)
    assert r.status_code == 429
    assert r.json() == {"success": False, "message": "Rate limit exceeded"}
    assert "Retry-After" in r.headers


@pytest.mark.parametrize("how", ["query", "multipart", "urlencoded", "json"])
def test_audd_rate_limit(pclient: TestClient, admin_headers: dict[str, str], how: str) -> None:
    key = new_key(pclient, admin_headers, requestsPerMinute=1)

    def call() -> Any:
        if how == "query":
            return pclient.get("/recognize", params={"api_token": key, "url": "x"})
        if how == "multipart":
            return pclient.post(
                "/recognize", data={"api_token": key}, files={"file": ("a.wav", b"RIFF" * 100)}
            )
        if how == "urlencoded":
            return pclient.post("/recognize", data={"api_token": key, "return": "spotify"})
        return pclient.post("/recognize", json={"api_token": key})

    assert call().json()["status"] == "success"
    r = call()
    assert r.status_code == 200  # AudD answers errors with HTTP 200 and an error object
    body = r.json()
    assert body["status"] == "error"
    assert body["error"]["error_code"] == 902
    assert "the limit was reached" in body["error"]["error_message"]
    assert body["request_params"]["api_token"] == f"{key[0]}***{key[-1]}"
    assert body["request_api_method"] == "recognize"
    assert_limit_headers(r, 1, 0)
    assert "Retry-After" in r.headers


def test_limit_is_per_key_and_shared_across_families(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    a = new_key(pclient, admin_headers, tier="unlimited", requestsPerMinute=2)
    b = new_key(pclient, admin_headers, tier="unlimited", requestsPerMinute=2)
    assert pclient.get("/developer/v1/probe/x", headers={"X-API-Key": a}).status_code == 200
    assert pclient.post("/analyze", headers={"X-API-Key": a}).status_code == 200
    assert pclient.get("/recognize", params={"api_token": a}).json()["status"] == "error"
    # another key is not affected
    assert pclient.get("/developer/v1/probe/x", headers={"X-API-Key": b}).status_code == 200


def test_unknown_and_hostile_tokens_get_the_family_auth_error(pclient: TestClient) -> None:
    r = pclient.get("/developer/v1/probe/x", headers={"X-API-Key": "ta_" + "x" * 5000})
    assert r.status_code == 401 and "X-RateLimit-Limit" not in r.headers
    r = pclient.post("/analyze", headers={"X-API-Key": "nope"})
    assert r.json() == {"success": False, "message": "Invalid API Key"}
    r = pclient.post("/recognize", data={"api_token": "\x00" * 300})
    assert r.json()["error"]["error_code"] == 900
    r = pclient.post(
        "/recognize", content=b"--zz\r\nbroken", headers={"content-type": "multipart/form-data"}
    )
    assert r.json()["status"] == "error"


def test_token_in_a_large_body_is_counted_after(
    pclient: TestClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tonearm.platform.middleware as mw

    monkeypatch.setattr(mw, "BODY_PEEK_BYTES", 1000)
    key = new_key(pclient, admin_headers, requestsPerMinute=1)
    big = {"file": ("a.wav", b"\0" * 5000)}
    assert pclient.post("/recognize", data={"api_token": key}, files=big).json()["status"] == (
        "success"
    )
    r = pclient.post("/recognize", data={"api_token": key}, files=big)
    # not stopped before (token unknown until the route ran) but counted: the next one is
    assert r.json()["status"] == "success"
    r = pclient.get("/recognize", params={"api_token": key})
    assert r.json()["error"]["error_code"] == 902


def test_limits_can_be_turned_off(
    settings: Any, client_for: Any, admin_headers: dict[str, str]
) -> None:
    s = settings.model_copy(update={"admin_token": "admin-secret-token", "rate_limits": False})
    cat = Catalog.open(s)
    try:
        with client_for(cat) as c:
            key = new_key(c, admin_headers, requestsPerMinute=1, monthlyCredits=0)
            for _ in range(3):
                assert c.get("/developer/v1/probe/x", headers={"X-API-Key": key}).status_code == 200
    finally:
        cat.close()


# -- credit quotas --------------------------------------------------------------------------
def test_audjust_usage_limit(pclient: TestClient, admin_headers: dict[str, str]) -> None:
    key = new_key(pclient, admin_headers, monthlyCredits=20)
    h = {"X-API-Key": key}
    assert pclient.post("/analyze", headers=h).status_code == 200  # 10 credits
    assert pclient.post("/resize", headers=h).status_code == 400  # failed: free
    assert pclient.post("/analyze", headers=h).status_code == 200  # 20 credits
    r = pclient.post("/analyze", headers=h)
    assert r.status_code == 429
    assert r.json() == {"success": False, "message": "Usage limit exceeded"}
    # a spent quota says quota in its headers, not rate
    assert r.headers["X-Quota-Limit"] == "20"
    assert r.headers["X-Quota-Remaining"] == "0"
    assert "X-RateLimit-Limit" not in r.headers
    assert int(r.headers["Retry-After"]) > 29 * 86400  # credits free up in 30 days


def test_audioscape_and_audd_usage_limit(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    key = new_key(pclient, admin_headers, monthlyCredits=2)
    h = {"X-API-Key": key}
    assert pclient.get("/developer/v1/probe/x", headers=h).status_code == 200
    assert pclient.get("/recognize", params={"api_token": key}).json()["status"] == "success"
    r = pclient.get("/developer/v1/probe/x", headers=h)
    assert r.status_code == 429 and r.json()["message"].startswith("Quota exceeded")
    assert r.headers["X-Quota-Remaining"] == "0" and "X-RateLimit-Limit" not in r.headers
    r = pclient.get("/recognize", params={"api_token": key})
    assert r.json()["error"]["error_code"] == 902
    assert "credit quota" in r.json()["error"]["error_message"]
    assert r.headers["X-Quota-Limit"] == "2"


def test_queued_requests_count_once_through_their_job(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    key = new_key(pclient, admin_headers, monthlyCredits=15)
    # job costs are read from the database; don't let the 2 s per-process cache hide them
    pclient.app.state.platform.quota_cache_s = 0  # type: ignore[attr-defined]
    h = {"X-API-Key": key}
    assert pclient.post("/analyze/queued", headers=h).status_code == 200
    assert pclient.post("/analyze/queued", headers=h).status_code == 200  # 14 credits
    r = pclient.post("/analyze/queued", headers=h)  # 14 < 15: still allowed
    assert r.status_code == 200
    r = pclient.post("/analyze/queued", headers=h)
    assert r.status_code == 429 and r.json()["message"] == "Usage limit exceeded"
    u = pclient.get("/usage", headers=h).json()
    assert u["credits"]["used"] == 21
    assert all(x["credits"] == 0 for x in u["recentRequests"])
    jobs = u["recentJobs"]
    assert len(jobs) == 3 and {j["status"] for j in jobs} == {"succeeded"}
    assert sum(j["creditCost"] for j in jobs) == 21


# -- usage ----------------------------------------------------------------------------------
def test_usage_per_endpoint_and_recent_requests(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    key = new_key(pclient, admin_headers, tier="starter", requestsPerMinute=6)
    h = {"X-API-Key": key}
    pclient.get("/developer/v1/probe/a", headers=h)
    pclient.get("/developer/v1/probe/b", headers=h)
    pclient.post("/analyze", headers=h)
    pclient.post("/resize", headers=h)
    pclient.post("/export", headers=h)
    pclient.post("/recognize", data={"api_token": key, "fail": "1"})
    r = pclient.get("/developer/v1/probe/c", headers=h)  # 7th: over the limit
    assert r.status_code == 429

    usage = pclient.get("/usage", headers=h)
    assert usage.status_code == 200
    u = usage.json()
    assert u["key"]["tier"] == "starter"
    assert u["credits"] == {
        "windowDays": 30,
        "since": u["credits"]["since"],
        "used": 2 + 10 + 3,
        "limit": 2000,
        "remaining": 2000 - 15,
    }
    ep = {(e["method"], e["endpoint"]): e for e in u["byEndpoint"]}
    probe = ep[("GET", "/developer/v1/probe/{item}")]
    assert (probe["requests"], probe["errors"], probe["credits"]) == (3, 1, 2)
    assert ep[("POST", "/analyze")]["credits"] == 10
    assert ep[("POST", "/resize")]["errors"] == 1 and ep[("POST", "/resize")]["credits"] == 0
    assert ep[("POST", "/export")]["credits"] == 3
    assert ep[("POST", "/recognize")]["credits"] == 0
    assert u["requests"] == 7 and u["errors"] == 3

    recent = u["recentRequests"]
    assert len(recent) == 7
    assert recent[0]["status"] == 429 and recent[0]["outcome"] == "rate_limited"
    by_path = {x["path"]: x for x in recent}
    assert by_path["/resize"]["error"] == "Missing parameter: sourceFileUrl"
    assert by_path["/recognize"]["error"] == "#500" and by_path["/recognize"]["status"] == 200
    assert all(x["durationMs"] >= 0 and x["requestId"] for x in recent)
    assert u["rateLimit"]["requestsPerMinute"] == 6 and u["rateLimit"]["remaining"] == 0

    # checking usage costs nothing and is not rate limited
    assert pclient.get("/usage", params={"api_token": key}).status_code == 200
    # an admin reads any key's usage
    a = pclient.get("/usage", params={"key": u["key"]["prefix"]}, headers=admin_headers).json()
    assert a["credits"]["used"] == 15
    r = pclient.get("/usage", params={"key": u["key"]["prefix"], "recent": 2}, headers=h)
    assert r.status_code == 403  # a valid key without the admin scope


def test_usage_needs_a_valid_key(pclient: TestClient) -> None:
    assert pclient.get("/usage").status_code == 401
    r = pclient.get("/usage", headers={"X-API-Key": "ta_nope"})
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    assert pclient.get("/usage", params={"days": "-1"}).status_code == 400


# -- limiter units --------------------------------------------------------------------------
def test_memory_limiter_windows() -> None:
    now = [1_800_000_000.0]
    lim = MemoryRateLimiter(clock=lambda: now[0])
    assert [lim.hit("k", 2).allowed for _ in range(3)] == [True, True, False]
    d = lim.hit("k", 2)
    assert not d.allowed and d.retry_after_s == 60 and d.reset_epoch == 1_800_000_060
    now[0] += 60
    assert lim.hit("k", 2).allowed and lim.peek("k", 2).remaining == 1
    assert lim.hit("other", 2).remaining == 1


def test_rate_limit_windows_follow_the_platform_clock(
    admin_catalog: Catalog, client_for: Any, admin_headers: dict[str, str]
) -> None:
    now = [1_800_000_059.0]  # one second before a window ends
    admin_catalog.cache["platform"] = Platform(admin_catalog, clock=lambda: now[0])
    with client_for(admin_catalog) as c:
        h = {"X-API-Key": new_key(c, admin_headers, requestsPerMinute=1)}
        assert c.get("/developer/v1/probe/x", headers=h).status_code == 200
        r = c.get("/developer/v1/probe/x", headers=h)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.headers["X-RateLimit-Reset"] == "1800000060"
        now[0] += 1  # the next window
        assert c.get("/developer/v1/probe/x", headers=h).status_code == 200


@pytest.mark.redis
def test_redis_limiter_is_shared_between_processes() -> None:
    url = os.environ.get("TONEARM_TEST_REDIS_URL")
    if not url:
        pytest.skip("TONEARM_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")
    prefix = f"tonearm-test:{uuid.uuid4().hex}:"
    a = RedisRateLimiter(url, prefix=prefix)
    b = RedisRateLimiter(url, prefix=prefix)  # stands for a second API server
    try:
        assert a.hit("k", 3).remaining == 2
        assert b.hit("k", 3).remaining == 1
        assert a.hit("k", 3).allowed and not b.hit("k", 3).allowed
        assert a.peek("k", 3).remaining == 0
    finally:
        for name in a.client.scan_iter(f"{prefix}*"):
            a.client.delete(name)


def test_bookkeeping_failures_never_break_answers(
    pclient: TestClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key(pclient, admin_headers)
    platform = pclient.app.state.platform  # type: ignore[attr-defined]

    def down(*a: Any, **k: Any) -> Any:
        raise ConnectionError("database restarting")

    monkeypatch.setattr(platform, "admit", down)
    monkeypatch.setattr(platform, "record", down)
    r = pclient.get("/developer/v1/probe/x", headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["results"] == ["x"]
    r = pclient.post("/recognize", data={"api_token": key})
    assert r.json()["status"] == "success"


def test_database_outage_is_a_clean_retryable_503(
    pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    """A request that meets a restarting database gets 503 + Retry-After in its family's
    format (AudD: its error object), not a 500 and a dropped connection; a bug stays 500."""
    key = new_key(pclient, admin_headers)
    r = pclient.get("/developer/v1/down/x", headers={"X-API-Key": key})
    assert r.status_code == 503 and r.headers["retry-after"].isdigit()
    assert set(r.json()) == {"error"}
    r = pclient.post("/analyze/down", headers={"X-API-Key": key})
    assert r.status_code == 503 and r.json()["success"] is False and r.headers["retry-after"]
    r = pclient.post("/recognize", data={"api_token": key, "db_down": "1"})
    assert r.status_code == 200 and r.json()["status"] == "error"  # AudD answers 200
    c = TestClient(pclient.app, raise_server_exceptions=False)
    r = c.get("/developer/v1/bug/x", headers={"X-API-Key": key})
    assert r.status_code == 500
    # the outage was recorded as such in the key's usage
    recent = pclient.get("/usage", headers={"X-API-Key": key}).json()
    assert [q["status"] for q in recent["recentRequests"]].count(503) == 2
