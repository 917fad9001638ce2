"""AudD-compatible recognition API: ``/`` and ``/recognize`` (recognize), ``/upload/``
(custom catalog), ``/enterprise/`` (long files), the stream methods (``/addStream/`` ...
``/longpoll/``) and the ``/ws/`` WebSocket, one module each; they all add their routes to
the one ``router`` of :mod:`._common`.

Every answer is HTTP 200 with AudD's body, errors included. AudD takes every parameter by
GET or POST, in the query string or the body; ``/?method=addStream`` style calls reach the
stream methods too. ``GET /`` with no parameters at all is a browser: it goes to the web UI.

``/upload/`` (with the slash) is AudD's custom catalog; Audjust's ``POST /upload`` (no slash,
``X-API-Key``) belongs to the Audjust router, which is mounted before this one, so the two
never meet.
"""

from __future__ import annotations

from tonearm.api.routers.audd import enterprise, recognize, streams, upload, websocket
from tonearm.api.routers.audd._common import audd_error, router
from tonearm.api.routers.audd.recognize import recognize_bytes
from tonearm.api.routers.audd.streams import shutdown, startup
from tonearm.api.routers.audd.upload import ingest_custom

__all__ = [
    "audd_error",
    "enterprise",
    "ingest_custom",
    "recognize",
    "recognize_bytes",
    "router",
    "shutdown",
    "startup",
    "streams",
    "upload",
    "websocket",
]
