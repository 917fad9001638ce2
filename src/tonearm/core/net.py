"""Moved to :mod:`tonearm.net.fetch` (network access is not DSP).

Only recognition/streams.py still imports this name (it is being split elsewhere); delete
this shim once it imports ``tonearm.net.fetch``.
"""

from tonearm.net.fetch import UnsafeURL, check_peer, fetch_bytes, guard_url

__all__ = ["UnsafeURL", "check_peer", "fetch_bytes", "guard_url"]
