"""Shared fixtures: a fresh data directory, catalog, API key and HTTP client per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.core.audio.signal import Signal
from tonearm.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data=tmp_path / "data", allow_private_urls=True, decode_timeout_s=30)
    s.ensure_dirs()
    return s


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    c = Catalog.open(settings)
    yield c
    c.close()


@pytest.fixture
def api_key(catalog: Catalog) -> str:
    # the operator's read-write key: the suite's catalog tests upload and edit with it
    secret, _ = create_key(catalog.store, "test", scopes="read,write", account="operator")
    return secret


@pytest.fixture
def client(catalog: Catalog) -> Iterator[TestClient]:
    from tonearm.api.app import create_app

    with TestClient(create_app(catalog=catalog)) as c:
        yield c


@pytest.fixture
def tone() -> Signal:
    """2 s stereo tone pair at 44.1 kHz, -6 dBFS."""
    sr = 44100
    t = np.arange(2 * sr) / sr
    return Signal(0.5 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]), sr)


def postgres_url() -> str | None:
    return os.environ.get("TONEARM_TEST_POSTGRES_URL")


def redis_url() -> str | None:
    return os.environ.get("TONEARM_TEST_REDIS_URL")
