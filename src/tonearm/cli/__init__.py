"""The ``tonearm`` command. Capability commands live beside this file, one module each,
registered through ``COMMAND_MODULES`` (each exposes ``register(app)``)."""

from __future__ import annotations

import importlib

from tonearm.cli.common import app

COMMAND_MODULES = (
    "tonearm.cli.core",
    "tonearm.cli.demo",
    "tonearm.cli.recognition",
    "tonearm.cli.editing",
    "tonearm.cli.resize",
    "tonearm.cli.platform",
    "tonearm.cli.discovery",
)


_registered = False


def _register() -> None:
    """Register every capability's commands once (tests call this repeatedly)."""
    global _registered
    if _registered:
        return
    _registered = True
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.register(app)


def main() -> None:
    _register()
    app()
