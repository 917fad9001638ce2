"""`tonearm usage`, `tonearm keys set` and `keys create --tier` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tonearm.catalog.context import Catalog
from tonearm.cli import _register
from tonearm.cli.common import app
from tonearm.settings import Settings

runner = CliRunner()
_register()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def test_keys_set_and_usage(
    admin_catalog: Catalog, pclient: TestClient, admin_headers: dict[str, str]
) -> None:
    data = str(admin_catalog.settings.data)
    r = cli("keys", "create", "--name", "pipeline", "--tier", "starter", "--data", data)
    assert r.exit_code == 0
    secret = r.stdout.strip().splitlines()[-1]
    assert secret.startswith("ta_")

    r = cli("keys", "set", "pipeline", "--rpm", "2", "--credits", "50", "--data", data)
    assert r.exit_code == 0 and "2 req/min" in r.stdout and "50 credits" in r.stdout
    assert cli("keys", "set", "pipeline", "--tier", "gold", "--data", data).exit_code == 2
    assert cli("keys", "set", "nobody", "--tier", "free", "--data", data).exit_code == 1

    h = {"X-API-Key": secret}
    for _ in range(3):
        pclient.get("/developer/v1/probe/x", headers=h)
    pclient.post("/analyze", headers=h)
    admin_catalog.cache["platform"].recorder.flush()

    r = cli("usage", "pipeline", "--json", "--data", data)
    assert r.exit_code == 0
    u = json.loads(r.stdout)
    assert u["key"]["tier"] == "starter"
    assert u["credits"]["used"] == 2 and u["credits"]["limit"] == 50
    assert u["requests"] == 4 and u["errors"] == 2  # one 429, the analyze over the limit
    assert [x["status"] for x in u["recentRequests"]].count(429) == 2

    r = cli("usage", "pipeline", "--data", data)
    assert r.exit_code == 0
    assert "tier starter" in r.stdout and "2 of 50" in r.stdout
    assert "probe" in r.stdout and "429" in r.stdout

    assert cli("usage", "nobody", "--data", data).exit_code == 1


def test_usage_of_a_key_without_requests(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    assert cli("keys", "create", "--name", "idle", "--data", data).exit_code == 0
    r = cli("usage", "idle", "--data", data)
    assert r.exit_code == 0 and "0 of 100" in r.stdout


def test_keys_create_and_set_scopes_and_account(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    r = cli("keys", "create", "--name", "plain", "--data", data)
    assert r.exit_code == 0
    r = cli(
        "keys", "create", "--name", "editor", "--scopes", "read,write", "--account", "acme",
        "--data", data,
    )  # fmt: skip
    assert r.exit_code == 0
    assert cli("keys", "create", "--name", "bad", "--scopes", "root", "--data", data).exit_code == 2
    listing = cli("keys", "list", "--data", data).stdout
    assert "read,write" in listing and "acme" in listing
    assert cli("keys", "set", "plain", "--scopes", "read,admin", "--data", data).exit_code == 0
    c = Catalog.open(Settings(data=Path(data)))
    try:
        keys = {k.name: k for k in c.store.list_keys()}
    finally:
        c.close()
    assert keys["plain"].scopes == {"read", "admin"} and keys["plain"].tenant.startswith("acct-")
    assert keys["editor"].scopes == {"read", "write"} and keys["editor"].tenant == "acme"
