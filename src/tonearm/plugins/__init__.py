"""tonearm's built-in capabilities, one plugin module each (hooks: ``tonearm.hookspecs``).

Each module is the one place that says what its capability adds: ingest analyzers, job
kinds, API routers, CLI commands and what to drop when an asset is deleted. They are
registered as the ``tonearm`` entry points in ``pyproject.toml`` and imported only through
them, so these modules stand above the API and the CLI they wire in. Their hooks import
lazily: a worker process does not load the web app, nor the API a CLI ingest.
"""
