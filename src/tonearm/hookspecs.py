"""The hooks a tonearm plugin implements: what a capability adds to the server.

A plugin is any object (usually a module) with functions named after these specs and marked
with :data:`hookimpl`. The built-in capabilities are plugins (``tonearm/plugins/``), found the
way third-party ones are: the ``tonearm`` entry-point group (see ``tonearm.registry``).
Every hook is optional; a plugin implements only what it adds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import typer

# The hooks pass tonearm's own types (Analyzer, JobKind, Catalog, Asset), named in the
# docstrings: this module stands below the services that define them, so it imports none.

PROJECT = "tonearm"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RouterModule(Protocol):
    """A module of the API: its FastAPI ``router``; it may also define
    ``async startup(app)`` / ``async shutdown(app)``, run by the app's lifespan."""

    router: Any


@hookspec
def tonearm_analyzers() -> Iterable[Any]:
    """The ingest analyzers of this plugin (``tonearm.catalog.analyzers.Analyzer``)."""
    raise NotImplementedError


@hookspec
def tonearm_job_kinds() -> Iterable[Any]:
    """The job kinds this plugin runs (``tonearm.jobs.queue.JobKind``, declared with
    ``tonearm.jobs.register_job``); a worker process asks for them before it runs jobs."""
    raise NotImplementedError


@hookspec
def tonearm_routers() -> Iterable[RouterModule]:
    """The API modules of this plugin, in the order their routes are matched.

    Mark the implementation ``trylast`` when a route catches what others also match
    (AudD's ``/``)."""
    raise NotImplementedError


@hookspec
def tonearm_cli(app: typer.Typer) -> None:
    """Add this plugin's commands to the ``tonearm`` command."""


@hookspec
def tonearm_asset_deleted(catalog: Any, asset: Any) -> None:
    """``asset`` (``tonearm.storage.base.Asset``) was deleted from the store of ``catalog``
    (``tonearm.catalog.context.Catalog``): drop it from what this plugin derived from it
    (an index, a cache). Called by ``tonearm.catalog.assets.delete_asset``; an exception
    is logged, not raised (derived data can be rebuilt from the store)."""
