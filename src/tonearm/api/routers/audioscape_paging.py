"""One validator for AudioScape's ``limit`` and ``offset`` (search, similar, SFX, assets).

``limit``: a whole number >= 1; above 100 (the documented maximum) it is capped.
``offset``: a whole number from 0 to ``MAX_OFFSET``. In a JSON body both must be JSON
numbers; in a query string they are parsed from text. Errors are AudioScape's 400s.
"""

from __future__ import annotations

import math
from typing import Any

from tonearm.api.errors import AudioScapeError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 100_000


def _whole(value: Any, name: str, default: int, *, text: bool) -> int:
    if value is None or (text and value == ""):
        return default
    if isinstance(value, bool):
        raise AudioScapeError(400, f"Invalid field {name}: must be a number")
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise AudioScapeError(400, f"Invalid field {name}: must be a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise AudioScapeError(400, f"Invalid field {name}: must be a number")
    if value != int(value):
        raise AudioScapeError(400, f"Invalid field {name}: must be an integer")
    return int(value)


def page_params(limit: Any, offset: Any, *, text: bool = False) -> tuple[int, int]:
    """(limit, offset) validated; ``text=True`` for query-string values."""
    n_limit = _whole(limit, "limit", DEFAULT_LIMIT, text=text)
    if n_limit < 1:
        raise AudioScapeError(400, "Invalid field limit: must be at least 1")
    n_offset = _whole(offset, "offset", 0, text=text)
    if n_offset < 0:
        raise AudioScapeError(400, "Invalid field offset: must be at least 0")
    if n_offset > MAX_OFFSET:
        raise AudioScapeError(400, f"Invalid field offset: at most {MAX_OFFSET}")
    return min(n_limit, MAX_LIMIT), n_offset
