"""Ingest analyzers: each receives the file's one :class:`AnalysisInput` (the decoded Signal
plus its derived representations, each computed once) and returns results.

A capability plugs into ingest by returning its :class:`Analyzer` objects from the
``tonearm_analyzers`` hook of its plugin (``tonearm.hookspecs``). Analyzers compute (pure,
may run before the asset exists); the pipeline then writes the asset, its field updates
and every analysis in ONE transaction, and only after that commit calls ``after_commit``
(e.g. to update a derived index that can be rebuilt from the stored analyses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.registry import plugin_manager

if TYPE_CHECKING:
    from pluggy import PluginManager

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
    # optional ``mono_sr: int``: the analyzer reads only the mono signal at that rate, so
    # bulk ingest may decode straight to it when every analyzer of the file says the same

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult: ...

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None: ...


def available_analyzers(plugins: PluginManager | None = None) -> dict[str, Analyzer]:
    """Every analyzer the plugins declare, by name (default: the installed plugins)."""
    pm = plugins or plugin_manager()
    out: dict[str, Analyzer] = {}
    # pluggy calls the last registered plugin first: reversed, the first declaration wins
    for declared in reversed(pm.hook.tonearm_analyzers()):
        for a in declared:
            out.setdefault(a.name, a)
    return out


def select_analyzers(
    names: list[str] | None, plugins: PluginManager | None = None
) -> list[Analyzer]:
    """Analyzers by name (``None``: the defaults). Unknown names raise ``ValueError``."""
    avail = available_analyzers(plugins)
    if names is None:
        return [a for a in avail.values() if a.default]
    unknown = [n for n in names if n not in avail]
    if unknown:
        raise ValueError(
            f"unknown analyses: {', '.join(unknown)} (available: {', '.join(sorted(avail))})"
        )
    return [avail[n] for n in names]
