"""The Catalog: settings + store + blob files, shared by every service."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pluggy import PluginManager

from tonearm.registry import plugin_manager
from tonearm.settings import Settings
from tonearm.storage import SqlStore, open_store


@dataclass
class Catalog:
    """What services need: the settings, the metadata store and the data directory.

    ``cache`` holds per-process derived structures (fingerprint index, vector index), keyed
    by the service that owns them, so they are built once per process. ``plugins`` are the
    capabilities (analyzers, job kinds, delete hooks...): every installed plugin by default.
    """

    settings: Settings
    store: SqlStore
    cache: dict[str, Any] = field(default_factory=dict)
    plugins: PluginManager = field(default_factory=plugin_manager)

    @classmethod
    def open(cls, settings: Settings, plugins: PluginManager | None = None) -> Catalog:
        return cls(
            settings=settings, store=open_store(settings), plugins=plugins or plugin_manager()
        )

    @property
    def data_dir(self) -> Path:
        return self.settings.data

    @property
    def files_dir(self) -> Path:
        return self.settings.data / "files"

    @property
    def results_dir(self) -> Path:
        return self.settings.data / "results"

    @property
    def index_dir(self) -> Path:
        return self.settings.data / "index"

    def close(self) -> None:
        self.store.close()
