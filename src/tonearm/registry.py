"""The plugin manager: every capability of this installation, built-in or third-party.

Plugins are found through the ``tonearm`` entry-point group of the installed
distributions; tonearm declares its own capabilities there too (``pyproject.toml``,
``[project.entry-points.tonearm]``), so no module of tonearm names a capability above it:
``Catalog.open`` in a plain script gets them all, and a third-party package adds one by
declaring an entry point of its own.
"""

from __future__ import annotations

import functools
import importlib.metadata

import pluggy

from tonearm import hookspecs

# the built-in plugins: tonearm's own entry points (a missing one means tonearm's
# distribution metadata is stale: ``pip install -e .`` rewrites it)
BUILTIN = frozenset({"catalog", "discovery", "editing", "recognition", "platform", "web", "demo"})


class PluginsMissing(RuntimeError):
    pass


@functools.cache
def _installed() -> tuple[tuple[str, object], ...]:
    """(name, plugin) of every ``tonearm`` entry point, loaded once per process."""
    eps = importlib.metadata.entry_points(group=hookspecs.PROJECT)
    missing = BUILTIN - {ep.name for ep in eps}
    if missing:
        raise PluginsMissing(
            f"tonearm's built-in plugins {', '.join(sorted(missing))} are not registered: "
            "its distribution metadata is stale; reinstall it (pip install -e .)"
        )
    seen: dict[str, object] = {}
    for ep in sorted(eps, key=lambda e: (e.name not in BUILTIN, e.name)):
        seen.setdefault(ep.name, ep.load())
    return tuple(seen.items())


def plugin_manager(*extra: object, installed: bool = True) -> pluggy.PluginManager:
    """A new manager holding every installed plugin (unless ``installed=False``), then
    ``extra`` ones (tests, scripts).

    Each Catalog holds its own, so a plugin registered on one (a test's) stays there.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name, plugin in _installed() if installed else ():
        pm.register(plugin, name=name)
    for plugin in extra:
        pm.register(plugin)
    return pm
