"""AudD's enterprise endpoint at the root of a host of its own: clients that take two base
URLs (the official ``audd`` command-line tool, PyPI ``audd-cli``: ``AUDD_API_BASE_URL`` and
``AUDD_ENTERPRISE_BASE_URL``) send long files to ``/`` of the second one."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from audd_testkit import SR, build_catalog
from fastapi.testclient import TestClient

from tonearm.api.app import create_app
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.settings import Settings

PLAN = [(31, 3.0, 25.0), (32, 0.0, 21.0), (33, 4.0, 26.0)]  # (seed, song from, song to)


def _mix(catalog: Catalog) -> tuple[bytes, list[tuple[str, float, float]]]:
    songs = build_catalog(catalog, [(s, 30.0, {"artist": f"A{s}"}) for s, _, _ in PLAN])
    parts, truth, t = [], [], 0.0
    for aid, (_, a, b) in zip(list(songs.songs), PLAN, strict=True):
        parts.append(songs.songs[aid][int(a * SR) : int(b * SR)])
        truth.append((songs.titles[aid], t, t + b - a))
        t += b - a
    return encode(Signal(np.concatenate(parts), SR), "mp3_128"), truth


def test_root_of_the_enterprise_host_name_is_the_long_file_endpoint(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "d", audd_enterprise_hosts=["enterprise.test"])
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    try:
        mp3, truth = _mix(catalog)
        key, _ = create_key(catalog.store, "ent")
        with TestClient(create_app(catalog=catalog)) as client:
            # the API host refuses a 68 s file at /: AudD's excerpt limit
            r = client.post("/", data={"api_token": key}, files={"file": mp3})
            assert r.json()["status"] == "error"
            r = client.post("http://enterprise.test/", data={"api_token": key}, files={"file": mp3})
            body = r.json()
            assert body["status"] == "success", body
            assert [t["title"] for t in body["tracks"]] == [t[0] for t in truth]
            assert body["result"] and "songs" in body["result"][0]
    finally:
        catalog.close()


def _audd_binary() -> Path | None:
    spec = importlib.util.find_spec("audd_cli")
    if spec is None or spec.origin is None:
        return None
    exe = Path(spec.origin).parent / "bin" / "audd"
    return exe if exe.is_file() and os.access(exe, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_audd_cli_enterprise_tracklist_against_tonearm(tmp_path: Path) -> None:
    exe = _audd_binary()
    if exe is None:
        pytest.skip("the audd-cli wheel (with its prebuilt binary) is not installed")
    data = tmp_path / "d"
    settings = Settings(data=data)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    try:
        mp3, truth = _mix(catalog)
        key, _ = create_key(catalog.store, "cli")
    finally:
        catalog.close()
    mix = tmp_path / "mix.mp3"
    mix.write_bytes(mp3)
    port, eport = _free_port(), _free_port()
    env = {**os.environ, "TONEARM_AUDD_ENTERPRISE_PORT": str(eport), "TONEARM_WORKERS": "1"}
    cmd = [sys.executable, "-c", "from tonearm.cli import main; main()", "serve"]
    cmd += ["--data", str(data), "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{eport}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        home = tmp_path / "home"
        home.mkdir()
        cli_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "AUDD_API_TOKEN": key,
            "AUDD_API_BASE_URL": f"http://127.0.0.1:{port}",
            "AUDD_ENTERPRISE_BASE_URL": f"http://127.0.0.1:{eport}",
        }
        args = [str(exe), "recognize", str(mix), "--enterprise", "--tracklist"]
        args += ["--limit", "none", "--yes", "--no-cache", "--format", "json"]
        out = subprocess.run(args, env=cli_env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr + out.stdout
        body: dict[str, Any] = json.loads(out.stdout)
        titles = [t.get("title") for t in _tracks(body)]
        assert titles == [t[0] for t in truth], out.stdout
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _tracks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool's merged tracklist (its JSON names it ``tracks`` or ``tracklist``)."""
    for name in ("tracks", "tracklist", "matches"):
        if isinstance(body.get(name), list):
            return list(body[name])
    raise AssertionError(f"no tracklist in {body}")
