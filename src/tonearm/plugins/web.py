"""The web UI: its pages and the small JSON API behind them."""

from __future__ import annotations

from typing import Any

from tonearm.hookspecs import hookimpl


@hookimpl
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import web

    return [web]
