"""Live stream monitoring, AudD style: pull an HTTP/Icecast audio stream, recognize a sliding
window continuously, and report ONE event per song played (not one per window).

Pieces, top to bottom:

- :mod:`.registry`: callback URLs, streams and longpoll events (``storage/streams.py``);
- :mod:`.plays`: :class:`Play`, one song played as reported; the plays come from the one
  long-file scanner (:class:`tonearm.recognition.scanner.PlayScanner`, the same merge rule
  and boundary search as ``/enterprise/`` and ``tonearm scan``), fed window by window;
- :mod:`.reader`: the stream reader, a child process that connects (SSRF-guarded), decodes
  with PyAV as the bytes arrive and sends mono PCM back through a pipe, so a hostile stream
  can crash or hang only that child;
- :mod:`.monitor`: :class:`StreamMonitor` (one thread per stream): reconnection with
  exponential backoff, the sliding-window recognition, health notifications (650 can't
  connect, 651 no music, 0 healthy again);
- :mod:`.leases`: every API server and ``tonearm worker`` may run a manager, and each
  stream is monitored by exactly one of them, the holder of its lease. The holder renews
  the lease every ``heartbeat_s``; a lease not renewed for ``lease_s`` (its process died)
  or released (its process shut down) is taken over by another manager at its next
  heartbeat. Events are published only while the lease is held, and the song playing at
  the handover travels with the lease, so it is announced once;
- :mod:`.manager`: :class:`StreamManager`, the monitors of one process, and event delivery
  (stored for ``/longpoll/`` and POSTed to the key's callback URL).

Timing is measured in *stream time* (samples decoded / rate), never wall-clock, so a stream
served faster than real time (tests) gives the same plays as a live one.
"""

from tonearm.recognition.streams.leases import (
    acquire_lease,
    holds_lease,
    lease_holders,
    release_lease,
    renew_lease,
    running_streams,
)
from tonearm.recognition.streams.manager import StreamManager, returns_from_callback_url
from tonearm.recognition.streams.monitor import (
    NOTIFY_CANT_CONNECT,
    NOTIFY_HEALTHY,
    NOTIFY_MESSAGES,
    NOTIFY_NO_MUSIC,
    Emit,
    MonitorConfig,
    StreamMonitor,
)
from tonearm.recognition.streams.plays import Play
from tonearm.recognition.streams.registry import (
    EMPTY_CALLBACK_URL,
    EVENT_RETENTION_S,
    EVENTS_PER_CATEGORY,
    add_event,
    delete_stream,
    events_since,
    get_callback_url,
    get_stream,
    list_streams,
    set_callback_url,
    set_stream_url,
    upsert_stream,
)
from tonearm.storage.streams import Lease, StreamRecord

__all__ = [
    "EMPTY_CALLBACK_URL",
    "EVENTS_PER_CATEGORY",
    "EVENT_RETENTION_S",
    "NOTIFY_CANT_CONNECT",
    "NOTIFY_HEALTHY",
    "NOTIFY_MESSAGES",
    "NOTIFY_NO_MUSIC",
    "Emit",
    "Lease",
    "MonitorConfig",
    "Play",
    "StreamManager",
    "StreamMonitor",
    "StreamRecord",
    "acquire_lease",
    "add_event",
    "delete_stream",
    "events_since",
    "get_callback_url",
    "get_stream",
    "holds_lease",
    "lease_holders",
    "list_streams",
    "release_lease",
    "renew_lease",
    "returns_from_callback_url",
    "running_streams",
    "set_callback_url",
    "set_stream_url",
    "upsert_stream",
]
