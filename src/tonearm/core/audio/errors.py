"""One error type for every bad-audio case, with a machine-readable reason."""

from __future__ import annotations

from typing import Literal

AudioErrorReason = Literal[
    "empty",  # zero bytes, or decodes to no samples
    "not_audio",  # no audio stream / unknown container
    "corrupt",  # container recognised but data broken
    "too_large",  # byte size over the limit
    "too_long",  # duration over the limit
    "too_short",  # shorter than an operation needs
    "timeout",  # decoding exceeded its time limit
    "bad_url",  # URL malformed, refused by the SSRF guard, or fetch failed
    "unsupported",  # e.g. unknown export format
]


class AudioError(Exception):
    """Raised for any input that cannot be turned into a usable :class:`Signal`."""

    def __init__(self, reason: AudioErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: AudioErrorReason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"
