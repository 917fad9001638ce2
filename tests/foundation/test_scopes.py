"""Key scopes: every route of the app needs the scope this file's table names, and a key
without it gets 403 in the route's family format. A new route that is not in the table
fails the first test, so nothing ships unguarded."""

from __future__ import annotations

import io
import re
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tonearm.api.deps import AUDD_METHOD_SCOPES
from tonearm.api.routers.audd._common import METHODS
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import SCOPES, create_key, parse_scopes

PUBLIC = "public"  # no key at all (docs, health, the UI's static files, secret URLs)
ANY = "any"  # any valid key, whatever its scopes (its own usage)

AUDD_ROUTES = (
    ["/", "/recognize", "/recognize/", "/enterprise", "/enterprise/"]
    + ["/enterprise/progress/", "/enterprise/progress/{scan_id}"]
    + [f"/{m}{s}" for m in ("setCallbackUrl", "getCallbackUrl", "addStream") for s in ("", "/")]
    + [f"/{m}{s}" for m in ("setStreamUrl", "deleteStream", "getStreams") for s in ("", "/")]
)

# (method, path) -> the scope it needs
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,  # load balancers probe it without a key
    # Prometheus scrapes without a key: counts and latencies only, no catalog or key data
    ("GET", "/metrics"): PUBLIC,
    ("MOUNT", "/docs/assets"): PUBLIC,  # Swagger UI / ReDoc files, served offline
    # web UI: pages and static files are public, its API reads with a key
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/"): PUBLIC,
    ("GET", "/ui/assets/{asset_id}"): PUBLIC,
    ("GET", "/ui/static/{name}"): PUBLIC,
    ("DELETE", "/ui/api/session"): PUBLIC,  # only forgets the cookie
    ("POST", "/ui/api/session"): "read",
    ("GET", "/ui/api/facets"): "read",
    ("GET", "/ui/api/assets"): "read",
    ("GET", "/ui/api/duplicates"): "read",
    ("GET", "/ui/api/assets/{asset_id}/audio"): "read",
    ("GET", "/ui/api/assets/{asset_id}/waveform"): "read",
    ("GET", "/ui/api/assets/{asset_id}/analysis"): "read",
    ("POST", "/ui/api/assets/{asset_id}/render"): "read",
    ("POST", "/ui/api/recognize"): "read",
    # platform
    ("GET", "/admin/tiers"): "admin",
    ("POST", "/admin/keys"): "admin",
    ("GET", "/admin/keys"): "admin",
    ("PATCH", "/admin/keys/{key}"): "admin",
    ("DELETE", "/admin/keys/{key}"): "admin",
    ("GET", "/admin/usage/{key}"): "admin",
    ("GET", "/usage"): ANY,
    # Audjust
    ("POST", "/analyze"): "read",
    ("GET", "/results/{request_id}/{name:path}"): PUBLIC,  # the URL is the secret
    ("GET", "/requests/{request_id}"): "read",
    ("GET", "/webhooks/secret"): "read",
    ("POST", "/upload"): "read",  # a temporary source file, not the catalog
    ("GET", "/uploads/{token}/{name}"): PUBLIC,  # the URL is the secret
    ("POST", "/resize"): "read",
    ("POST", "/loop"): "read",
    ("POST", "/export"): "read",
    # AudioScape
    ("POST", "/developer/v1/similar"): "read",
    ("GET", "/developer/v1/sfx/similar"): "read",
    ("POST", "/developer/v1/search"): "read",
    ("GET", "/developer/v1/assets"): "read",
    ("GET", "/developer/v1/assets/{asset_id}"): "read",
    ("POST", "/developer/v1/assets"): "write",
    ("PATCH", "/developer/v1/assets/{asset_id}"): "write",
    ("DELETE", "/developer/v1/assets/{asset_id}"): "write",
    # AudD: the custom catalog writes, everything else reads
    ("GET", "/upload"): "write",
    ("GET", "/upload/"): "write",
    ("POST", "/upload/"): "write",
    # as on AudD, longpoll takes no token: its category (derived from the token) is the secret
    **{(m, p): PUBLIC for p in ("/longpoll", "/longpoll/") for m in ("GET", "POST")},
    ("WS", "/ws"): "read",
    ("WS", "/ws/"): "read",
    **{(m, p): "read" for p in AUDD_ROUTES for m in ("GET", "POST")},
}

AUDD_SCOPES = {
    "recognize": "read",
    "upload": "write",
    **dict.fromkeys(
        ("addStream", "getStreams", "setStreamUrl", "deleteStream", "setCallbackUrl"), "read"
    ),
    "getCallbackUrl": "read",
}


def _routes(routes: list[Any]) -> Iterator[Any]:
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router (FastAPI >= 0.165)
        yield from _routes(inner.routes) if inner is not None else (r,)


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in _routes(client.app.routes):  # type: ignore[attr-defined]
        methods = getattr(r, "methods", None)
        if methods is None:
            # a mounted app (static files) serves GETs; anything else is a WebSocket route
            kind = "MOUNT" if type(r).__name__ == "Mount" else "WS"
            out.add((kind, r.path))
        else:
            out |= {(m, r.path) for m in methods if m != "HEAD"}
    return out


def test_every_route_has_a_scope_in_the_table(client: TestClient) -> None:
    routes = app_routes(client)
    assert routes - set(ROUTE_SCOPES) == set(), "new routes: give each a scope in ROUTE_SCOPES"
    assert set(ROUTE_SCOPES) - routes == set(), "routes that are gone: remove them"


def test_every_audd_method_has_a_scope() -> None:
    assert set(METHODS) | {"upload"} == set(AUDD_METHOD_SCOPES)
    assert AUDD_METHOD_SCOPES == AUDD_SCOPES


def _wav() -> bytes:
    """1 s of noise as 16-bit WAV."""
    y = np.random.default_rng(1).standard_normal(22050) * 3000
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(y.astype("<i2").tobytes())
    return buf.getvalue()


def _key(catalog: Catalog, scopes: tuple[str, ...]) -> str:
    return create_key(catalog.store, "k-" + "-".join(scopes), scopes=scopes, account="operator")[0]


def _call(
    client: TestClient, method: str, path: str, key: str, allowed: bool = False
) -> tuple[int, Any]:
    url = re.sub(r"\{[^}]+\}", "999999", path)  # matches no key, asset or job
    if method == "WS":
        with client.websocket_connect(f"{url}?api_token={key}") as ws:
            if allowed:  # an accepted socket answers each message; a refused one at once
                ws.send_bytes(b"not audio")
            return 200, ws.receive_json()
    audd = (
        path in AUDD_ROUTES or path.startswith("/upload/") or (path, method) == ("/upload", "GET")
    )
    if audd:
        r = client.request(method, url, params={"api_token": key})
    else:
        r = client.request(method, url, headers={"x-api-key": key})
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def _forbidden(status: int, body: Any, scope: str) -> bool:
    text = f"lacks the '{scope}' scope"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):  # AudD
        return body["error"]["error_code"] == 904 and text in body["error"]["error_message"]
    if status != 403 or not isinstance(body, dict):
        return False
    if "success" in body:  # Audjust
        return body["success"] is False and text in body["message"]
    return text in str(body.get("error"))  # AudioScape, the UI and the platform API


@pytest.mark.parametrize("scope", SCOPES)
def test_each_route_refuses_a_key_without_its_scope(
    client: TestClient, catalog: Catalog, scope: str
) -> None:
    without = _key(catalog, tuple(s for s in SCOPES if s != scope))
    only = _key(catalog, (scope,))
    checked = 0
    for (method, path), needed in sorted(ROUTE_SCOPES.items()):
        if needed != scope:
            continue
        status, body = _call(client, method, path, without)
        assert _forbidden(status, body, scope), (method, path, status, body)
        status, body = _call(client, method, path, only, allowed=True)
        assert not _forbidden(status, body, scope), (method, path, status, body)
        checked += 1
    assert checked >= 5


def test_any_key_reads_its_own_usage(client: TestClient, catalog: Catalog) -> None:
    none = _key(catalog, ())
    assert client.get("/usage", headers={"x-api-key": none}).status_code == 200


def test_new_keys_read_only_unless_told(catalog: Catalog) -> None:
    _, rec = create_key(catalog.store, "plain")
    assert rec.scopes == {"read"}
    _, rec = create_key(catalog.store, "rw", scopes="read,write")
    assert rec.scopes == {"read", "write"}
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("read,root")


def test_admin_api_shows_and_sets_scopes(client: TestClient, catalog: Catalog) -> None:
    admin = {"x-api-key": _key(catalog, ("admin",))}
    r = client.post("/admin/keys", json={"name": "game", "scopes": ["read"]}, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["scopes"] == ["read"] and made["account"].startswith("acct-")
    r = client.post("/admin/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert r.status_code == 400
    r = client.patch(f"/admin/keys/{made['id']}", json={"scopes": ["read", "write"]}, headers=admin)
    assert r.json()["scopes"] == ["read", "write"]
    listed = {k["id"]: k for k in client.get("/admin/keys", headers=admin).json()["keys"]}
    assert listed[made["id"]]["scopes"] == ["read", "write"]
    # the new key can now change its own account's catalog, not the shared one
    h = {"x-api-key": made["key"]}
    assert client.delete("/developer/v1/assets/1", headers=h).status_code == 404


def test_a_read_key_cannot_change_the_catalog(
    client: TestClient, catalog: Catalog, api_key: str
) -> None:
    """The issue's report: a free-tier key renamed and deleted another key's asset."""
    from tonearm.catalog.ingest import ingest_bytes

    out = ingest_bytes(catalog, _wav(), filename="a.wav", kind="sfx", analyzers=[])
    reader = {"x-api-key": _key(catalog, ("read",))}
    r = client.patch(f"/developer/v1/assets/{out.asset_id}", json={"name": "x"}, headers=reader)
    assert r.status_code == 403 and r.json() == {"error": "This API key lacks the 'write' scope"}
    r = client.delete(f"/developer/v1/assets/{out.asset_id}", headers=reader)
    assert r.status_code == 403
    assert catalog.store.get_asset(out.asset_id or "") is not None
    # the operator's read-write key may
    r = client.patch(
        f"/developer/v1/assets/{out.asset_id}", json={"name": "x"}, headers={"x-api-key": api_key}
    )
    assert r.status_code == 200 and r.json()["name"] == "x"


def test_the_demo_key_has_every_scope_and_owns_the_shared_catalog(catalog: Catalog) -> None:
    from tonearm.catalog.keys import verify_key
    from tonearm.cli.demo import demo_api_key

    secret, created = demo_api_key(catalog)
    rec = verify_key(catalog.store, secret)
    assert created and rec is not None
    assert rec.scopes == set(SCOPES) and rec.tenant is None
    # a demo key kept from before scopes existed is given them again
    catalog.store.set_key_scopes(rec.key_id, ["read"])
    assert demo_api_key(catalog) == (secret, False)
    again = verify_key(catalog.store, secret)
    assert again is not None and again.scopes == set(SCOPES)


def test_keys_and_assets_from_before_migration_0011(tmp_path: Any) -> None:
    """Keys made before scopes keep what they could do (read, write) and act for the
    operator; their assets are the shared catalog."""
    import sqlite3

    from tonearm.storage.dialect import apply_migrations
    from tonearm.storage.sqlite import SqliteStore, migrations

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    apply_migrations(conn.execute, [m for m in migrations() if m[0] < 10], "?")
    conn.execute(
        "INSERT INTO api_keys (name, prefix, key_hash, created_at) "
        "VALUES ('old', 'ta_x', 'h', 'now')"
    )
    conn.commit()
    conn.close()
    store = SqliteStore(path)  # migrates
    try:
        (old,) = store.list_keys()
        assert old.scopes == {"read", "write"} and old.tenant is None
    finally:
        store.close()
