"""tonearm: self-hosted audio intelligence (discovery, editing, recognition)."""

__version__ = "0.1.0"
