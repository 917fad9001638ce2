"""The ``tonearm`` command. Each capability adds its commands through its plugin's
``tonearm_cli`` hook (``tonearm/plugins/``; the modules beside this file hold them)."""

from __future__ import annotations

from tonearm.cli.common import app
from tonearm.registry import plugin_manager

_registered = False


def _register() -> None:
    """Register every plugin's commands once (tests call this repeatedly)."""
    global _registered
    if _registered:
        return
    _registered = True
    plugin_manager().hook.tonearm_cli(app=app)


def main() -> None:
    _register()
    app()
