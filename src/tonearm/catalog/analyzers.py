"""Ingest analyzers: each receives the file's one :class:`AnalysisInput` (the decoded Signal
plus its derived representations, each computed once) and returns results.

A capability plugs into ingest by registering an :class:`Analyzer` here (see
``ANALYZER_MODULES``). Analyzers compute (pure, may run before the asset exists); the
pipeline then writes the asset, its field updates and every analysis in ONE transaction,
and only after that commit calls ``after_commit`` (e.g. to update a derived index that
can be rebuilt from the stored analyses).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tonearm.core.features.analysis_input import AnalysisInput

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset


@dataclass
class AnalysisResult:
    """What an analyzer produced for one file.

    Attributes
    ----------
    fields : dict
        Asset columns to set (e.g. ``{"bpm": 120.0}``); user-given metadata wins over them.
    data : dict
        JSON-serialisable result, stored as the analysis named after the analyzer.
    blob : bytes, optional
        Binary payload (e.g. packed fingerprint hashes), stored beside ``data``.
    """

    fields: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    blob: bytes | None = None


class Analyzer(Protocol):
    name: str
    version: int
    kinds: frozenset[str]  # asset kinds it applies to ("music", "sfx")
    default: bool  # runs when --analyses is not given

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult: ...

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None: ...


# Modules that define analyzers; each exposes ``ANALYZERS: list[Analyzer]``. A module that
# is missing (capability not built yet) or whose optional dependency is absent is skipped.
ANALYZER_MODULES = (
    "tonearm.recognition.analyzer",
    "tonearm.editing.analyzer",
    "tonearm.discovery.analyzer",
    "tonearm.discovery.search_analyzer",
)


def available_analyzers() -> dict[str, Analyzer]:
    out: dict[str, Analyzer] = {}
    for mod_name in ANALYZER_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name and mod_name.startswith(e.name):
                continue
            raise
        for a in getattr(mod, "ANALYZERS", []):
            out[a.name] = a
    return out


def select_analyzers(names: list[str] | None) -> list[Analyzer]:
    """Analyzers by name (``None``: the defaults). Unknown names raise ``ValueError``."""
    avail = available_analyzers()
    if names is None:
        return [a for a in avail.values() if a.default]
    unknown = [n for n in names if n not in avail]
    if unknown:
        raise ValueError(
            f"unknown analyses: {', '.join(unknown)} (available: {', '.join(sorted(avail))})"
        )
    return [avail[n] for n in names]
