"""Fixtures for the platform tests: an app with probe routes for each family.

The app is built with only the system and platform routers plus small probe routes that
authenticate the way each family does, so these tests exercise limits, quotas and usage
without depending on the recognition/editing/discovery routers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends, Request
from fastapi.testclient import TestClient

from tonearm.api.deps import AudioScapeKey, AudjustKey, audd_key, audd_params
from tonearm.api.errors import AuddError, AudjustError
from tonearm.catalog.context import Catalog
from tonearm.hookspecs import hookimpl
from tonearm.platform.service import Platform
from tonearm.registry import plugin_manager

ADMIN = "admin-secret-token"

probe = APIRouter()


@probe.get("/developer/v1/probe/{item}")
def audioscape_probe(item: str, key: AudioScapeKey) -> dict[str, Any]:
    return {"results": [item], "key": key.key_id}


@probe.post("/analyze")
def audjust_analyze(key: AudjustKey, request: Request) -> dict[str, Any]:
    return {"success": True, "creditCost": 10}


def _db_down() -> Exception:
    import psycopg

    return psycopg.OperationalError("connection failed: the database system is shutting down")


@probe.get("/developer/v1/down/{item}")
def audioscape_down(item: str, key: AudioScapeKey) -> dict[str, Any]:
    raise _db_down()


@probe.post("/analyze/down")
def audjust_down(key: AudjustKey) -> dict[str, Any]:
    raise _db_down()


@probe.get("/developer/v1/bug/{item}")
def audioscape_bug(item: str, key: AudioScapeKey) -> dict[str, Any]:
    raise ZeroDivisionError("a bug, not an outage")


@probe.post("/resize")
def audjust_fail(key: AudjustKey) -> dict[str, Any]:
    raise AudjustError(400, "Missing parameter: sourceFileUrl")


@probe.post("/export")
def audjust_priced(key: AudjustKey, request: Request) -> dict[str, Any]:
    request.state.credits = 3  # a route may price itself
    return {"success": True}


@probe.post("/analyze/queued")
def audjust_queued(key: AudjustKey, request: Request) -> dict[str, Any]:
    """A queued request: the job record carries its cost (set here as if it had run)."""
    store = request.app.state.catalog.store
    job_id = "q" + str(len(store.list_jobs(limit=10_000))).zfill(31)
    store.insert_job(
        job_id,
        "analyze",
        {},
        status="succeeded",
        key_id=key.key_id,
        credit_cost=7,
        created_at="2099-01-01T00:00:00.000Z",
    )
    return {"success": True, "requestId": job_id, "creditCost": 7}


@probe.api_route("/recognize", methods=["GET", "POST"])
async def audd_probe(request: Request, params: dict[str, Any] = Depends(audd_params)) -> Any:
    audd_key(request, params)
    if params.get("fail"):
        raise AuddError(500)
    if params.get("db_down"):
        raise _db_down()
    return {"status": "success", "result": None}


class _PlatformOnly:
    """A plugin with only the system and platform routers (plus the probe routes above)."""

    @hookimpl
    def tonearm_routers(self) -> list[Any]:
        from tonearm.api.routers import platform, system

        return [system, platform]


def make_client(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The probe app on ``catalog``. Its Platform runs on a stopped wall clock (now, when
    the client is made): a test's requests all fall in one rate-limit minute, wherever
    the real minute boundary falls while it runs."""
    import tonearm.api.app as app_mod

    stopped = time.time()
    catalog.cache.setdefault("platform", Platform(catalog, clock=lambda: stopped))
    monkeypatch.setattr(catalog, "plugins", plugin_manager(_PlatformOnly(), installed=False))
    app = app_mod.create_app(catalog=catalog)
    app.include_router(probe)
    return TestClient(app)


@pytest.fixture
def admin_catalog(settings: Any) -> Iterator[Catalog]:
    s = settings.model_copy(update={"admin_token": ADMIN})
    c = Catalog.open(s)
    yield c
    c.close()


@pytest.fixture
def pclient(admin_catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with make_client(admin_catalog, monkeypatch) as c:
        yield c


@pytest.fixture
def client_for(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``client_for(catalog)``: a TestClient on the probe app for another catalog."""
    return lambda catalog: make_client(catalog, monkeypatch)


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


@probe.get("/requests/{request_id}")
def audjust_poll(request_id: str, key: AudjustKey) -> dict[str, Any]:
    """Polling answers name the job's cost; reading it must cost nothing."""
    return {"success": True, "requestId": request_id, "status": "succeeded", "creditCost": 9}


@probe.get("/developer/v1/assets/{asset_id}")
def audioscape_asset(asset_id: str, key: AudioScapeKey) -> dict[str, Any]:
    return {"id": asset_id}
