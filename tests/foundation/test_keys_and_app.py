"""API keys (hashed, constant-time checked, both auth styles), health and docs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key, hash_key, verify_key


def test_keys_are_stored_hashed_and_verified(catalog: Catalog) -> None:
    secret, rec = create_key(catalog.store, "alice")
    assert secret.startswith("ta_") and len(secret) > 40
    rows = catalog.store.execute("SELECT * FROM api_keys")
    assert secret not in {str(v) for r in rows for v in tuple(r)}
    assert rows[0]["key_hash"] == hash_key(secret)
    assert verify_key(catalog.store, secret).key_id == rec.key_id  # type: ignore[union-attr]
    for bad in (None, "", secret[:-1], secret + "x", "ta_" + "A" * 43, "x" * 10_000):
        assert verify_key(catalog.store, bad) is None
    assert catalog.store.revoke_key(str(rec.key_id))
    assert verify_key(catalog.store, secret) is None


def test_healthz_and_docs(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["schema_version"] >= 1
    assert set(body["assets"]) == {"music", "sfx"}
    assert r.headers["x-request-id"]
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "tonearm"


def test_request_id_is_echoed(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert r.headers["x-request-id"] == "abc123"


def test_audd_style_key_rejection(client: TestClient, api_key: str) -> None:
    r = client.post("/", data={"url": "https://example.com/a.mp3"})
    body = r.json()
    assert r.status_code == 200 and body["status"] == "error"
    assert body["error"]["error_code"] == 901
    r = client.post("/", data={"api_token": "wrong-token", "url": "https://example.com/a.mp3"})
    body = r.json()
    assert body["error"]["error_code"] == 900
    assert body["request_params"]["api_token"] == "w***n"  # masked as AudD does
    assert body["request_api_method"] == "recognize"
    assert body["request_http_method"] == "POST"
    r = client.get("/", params={"api_token": "wrong-token"})
    assert r.json()["error"]["error_code"] == 900
    assert r.json()["request_http_method"] == "GET"


def test_x_api_key_style_rejection(client: TestClient) -> None:
    """AudioScape and Audjust families answer bad keys in their own shapes."""
    paths = {getattr(r, "path", "") for r in client.app.routes}  # type: ignore[attr-defined]
    if "/developer/v1/similar" in paths:
        r = client.post("/developer/v1/similar", json={"asset_id": "1"})
        assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
        r = client.post(
            "/developer/v1/similar", json={"asset_id": "1"}, headers={"x-api-key": "nope"}
        )
        assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    if "/analyze" in paths:
        body = {"sourceFileUrl": "https://example.com/a.mp3", "resultWebhook": "https://e.com"}
        r = client.post("/analyze", json=body)
        assert r.status_code == 401 and r.json()["message"] == "Missing API key header"
        r = client.post("/analyze", json=body, headers={"X-API-Key": "nope"})
        assert r.status_code == 401 and r.json()["message"] == "Invalid API Key"


def test_x_api_key_dependencies_directly(catalog: Catalog, api_key: str) -> None:
    """The auth dependencies themselves, independent of which routers exist."""
    from fastapi import Depends, FastAPI

    from tonearm.api.deps import audioscape_key, audjust_key
    from tonearm.api.errors import install_error_handlers

    app = FastAPI()
    app.state.catalog = catalog
    install_error_handlers(app)

    @app.post("/developer/v1/probe")
    def probe(key=Depends(audioscape_key)):  # type: ignore[no-untyped-def]
        return {"key": key.name}

    @app.post("/analyze")
    def probe2(key=Depends(audjust_key)):  # type: ignore[no-untyped-def]
        return {"key": key.name}

    c = TestClient(app)
    assert c.post("/developer/v1/probe", headers={"x-api-key": api_key}).json() == {"key": "test"}
    r = c.post("/developer/v1/probe", headers={"x-api-key": "bad"})
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    assert c.post("/analyze", headers={"X-API-Key": api_key}).json() == {"key": "test"}
    r = c.post("/analyze")
    assert r.status_code == 401 and r.json() == {
        "success": False,
        "message": "Missing API key header",
    }
    r = c.get("/analyze", headers={"X-API-Key": api_key})
    assert r.status_code == 405 and r.json()["message"] == "Invalid request method"


def test_oversized_body_is_refused_in_each_family_format(catalog: Catalog) -> None:
    from tonearm.api.app import create_app

    catalog.settings.max_upload_bytes = 1000
    with TestClient(create_app(catalog=catalog)) as c:
        big = b"x" * 5000
        r = c.post("/", files={"file": ("a.mp3", big)}, data={"api_token": "t"})
        assert r.status_code == 200 and r.json()["error"]["error_code"] == 400
        r = c.post("/developer/v1/similar", content=big, headers={"x-api-key": "k"})
        assert r.status_code == 413 and "too large" in r.json()["error"]
        r = c.post("/analyze", content=big, headers={"X-API-Key": "k"})
        assert r.status_code == 413 and r.json()["success"] is False


def test_unknown_tier_is_refused(catalog: Catalog) -> None:
    import pytest

    from tonearm.platform.service import Platform

    with pytest.raises(ValueError, match="unknown tier"):
        Platform(catalog).create_key("bob", tier="platinum")
    assert catalog.store.list_keys() == []
