"""Platform: API keys' tiers, rate limits, credit quotas and usage; ``tonearm worker``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tonearm.hookspecs import hookimpl

if TYPE_CHECKING:
    import typer


@hookimpl
def tonearm_routers() -> list[Any]:
    from tonearm.api.routers import platform

    return [platform]


@hookimpl
def tonearm_cli(app: typer.Typer) -> None:
    from tonearm.cli import platform

    platform.register(app)
