"""The capability registry: built-in plugins, a plugin of one catalog, delete hooks."""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

import pytest

from tonearm import registry
from tonearm.catalog.analyzers import available_analyzers, select_analyzers
from tonearm.catalog.assets import delete_asset
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import asset_path, ingest_bytes
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.hookspecs import hookimpl


def test_a_plain_catalog_has_every_builtin_capability(catalog: Catalog) -> None:
    names = dict(catalog.plugins.list_name_plugin())
    assert set(names) >= registry.BUILTIN
    analyzers = available_analyzers(catalog.plugins)
    assert {"fingerprint", "beats", "mir", "embedding", "search_text"} <= set(analyzers)
    kinds = {k.name for ks in catalog.plugins.hook.tonearm_job_kinds() for k in ks}
    assert {"analyze", "export", "resize", "audd_enterprise"} <= kinds
    routers = [m.__name__ for ms in catalog.plugins.hook.tonearm_routers() for m in ms]
    assert routers[-1] == "tonearm.api.routers.audd"  # its catch-all "/" is matched last
    assert len(routers) == len(set(routers)) == 8


class _Probe:
    """A third-party analyzer (never run here: only found or not)."""

    name, version, kinds, default = "test.probe", 1, frozenset({"sfx"}), True


class _ProbePlugin:
    @hookimpl
    def tonearm_analyzers(self) -> list[Any]:
        return [_Probe()]


def test_a_plugin_belongs_to_the_catalog_it_is_registered_on(settings: Any) -> None:
    one = Catalog.open(settings, plugins=registry.plugin_manager(_ProbePlugin()))
    other = Catalog.open(settings)
    try:
        assert "test.probe" in [a.name for a in select_analyzers(None, one.plugins)]
        assert "test.probe" not in available_analyzers(other.plugins)
        with pytest.raises(ValueError, match="unknown analyses: test.probe"):
            select_analyzers(["test.probe"], other.plugins)
    finally:
        one.close()
        other.close()


def test_delete_asset_runs_every_delete_hook_even_after_one_fails(
    catalog: Catalog, tone: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl
        def tonearm_asset_deleted(self, asset: Any) -> None:
            raise RuntimeError("index away")

    class Recorder:
        @hookimpl
        def tonearm_asset_deleted(self, catalog: Catalog, asset: Any) -> None:
            seen.append(asset.asset_id)
            assert catalog.store.get_asset(asset.asset_id) is None  # after the store

    catalog.plugins.register(Recorder())
    catalog.plugins.register(Broken())
    out = ingest_bytes(catalog, encode(tone, "wav"), filename="t.wav", kind="sfx", analyzers=[])
    assert out.asset_id is not None
    asset = catalog.store.get_asset(out.asset_id)
    assert asset is not None and asset_path(catalog, asset).is_file()
    with caplog.at_level(logging.WARNING, logger="tonearm.catalog"):
        assert delete_asset(catalog, asset) is True
    assert seen == [asset.asset_id]
    assert "index away" in caplog.text
    assert not asset_path(catalog, asset).exists()  # no other asset shared the file


def test_stale_metadata_is_reported_not_silently_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [])
    registry._installed.cache_clear()
    try:
        with pytest.raises(registry.PluginsMissing, match="pip install -e"):
            registry.plugin_manager()
    finally:
        monkeypatch.undo()
        registry._installed.cache_clear()
