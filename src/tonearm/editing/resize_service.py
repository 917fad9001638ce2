"""Resize and loop requests in Audjust's wire format: validation and result payloads.

Shared by ``POST /resize`` / ``POST /loop`` (synchronous answers) and the ``resize`` job
(answers POSTed to a webhook). Bad input raises :class:`RequestError` whose message is
Audjust's ``Missing parameter: <name>`` text, or ``Invalid parameter: <name> (why)``
(the family's convention, shared with ``/analyze``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tonearm.editing.loop import find_loops
from tonearm.editing.resize import (
    MAX_BEATS,
    MAX_TARGET_S,
    ResizeInputError,
    beats_in_triangle,
    check_similarity_fits,
    credit_cost_resize,
    decode_similarity_matrix,
    resize,
    triangle_size,
    validate_boundaries,
)


class RequestError(ValueError):
    """A request Audjust would refuse; ``message`` is the text to answer with."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _missing(name: str) -> RequestError:
    return RequestError(f"Missing parameter: {name}")


def _invalid(name: str, why: str) -> RequestError:
    return RequestError(f"Invalid parameter: {name} ({why})")


@dataclass(frozen=True)
class ResizeRequest:
    target_s: float
    sim: np.ndarray
    boundaries: np.ndarray
    loop: bool = False
    sample_rate: int = 44100


def _number(body: dict[str, Any], name: str) -> float:
    if name not in body or body[name] is None:
        raise _missing(name)
    v = body[name]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _invalid(name, "must be a number")
    return float(v)


def parse_resize_request(body: Any, *, loop: bool = False) -> ResizeRequest:
    """Validate a ``/resize`` (or ``/loop``) body. Raises RequestError."""
    if not isinstance(body, dict):
        raise RequestError("Invalid JSON body: expected an object")
    target = _number(body, "targetLengthSeconds")
    if target <= 0:
        raise _invalid("targetLengthSeconds", "must be a positive number of seconds")
    if target > MAX_TARGET_S:
        raise _invalid("targetLengthSeconds", f"must be at most {MAX_TARGET_S:g} seconds")

    if "boundaries" not in body or body["boundaries"] is None:
        raise _missing("boundaries")
    b = body["boundaries"]
    if not isinstance(b, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in b
    ):
        raise _invalid("boundaries", "must be an array of beat times in seconds")
    try:
        bnd = validate_boundaries(b)
    except ResizeInputError as e:
        raise _invalid("boundaries", str(e)) from e

    sim_obj = body.get("similarity")
    if sim_obj is None:
        raise _missing("similarity")
    if not isinstance(sim_obj, dict):
        raise _invalid("similarity", "must be the similarity object from the analysis")
    data, vmin, vmax = sim_obj.get("data"), sim_obj.get("min"), sim_obj.get("max")
    if not isinstance(data, str) or not data:
        raise _missing("similarity.data")
    for name, v in (("similarity.min", vmin), ("similarity.max", vmax)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _missing(name)
    assert isinstance(vmin, int | float) and isinstance(vmax, int | float)
    if vmax <= vmin:
        raise _invalid("similarity.max", "must be greater than similarity.min")
    n_sim = beats_in_triangle(len(data))
    n = len(bnd)
    if n_sim is None or n_sim not in (n, n - 1):
        raise _invalid(
            "similarity",
            f"data has {len(data)} values; {n} boundaries need {triangle_size(n)} "
            f"(or {triangle_size(n - 1)})",
        )
    if n_sim > MAX_BEATS:
        raise _invalid("similarity", f"at most {MAX_BEATS} beats are supported")
    sim = decode_similarity_matrix(data, float(vmin), float(vmax))
    check_similarity_fits(sim.shape[0], n)

    want_loop = loop or bool(body.get("loop", False))
    sr = body.get("sampleRate", 44100)
    if isinstance(sr, bool) or not isinstance(sr, int) or not 1000 <= sr <= 768000:
        raise _invalid("sampleRate", "must be an integer sample rate in Hz")
    if want_loop and target > float(bnd[-1] - bnd[0]):
        raise _invalid(
            "targetLengthSeconds",
            f"a loop is a section of the song, which is {bnd[-1] - bnd[0]:.2f} s long",
        )
    return ResizeRequest(target, sim, bnd, want_loop, sr)


def inputs_from_analysis(analysis: Any, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, boundaries) for :func:`resize` from an analyze-service analysis of a
    local file: the song's real end is added as the last boundary (the analysis stops at
    the last beat), so edits keep the last beat and its decay."""
    bounds = [float(x) for x in analysis.boundaries_s]
    if duration_s - bounds[-1] > 0.01:
        bounds.append(float(duration_s))
    sim = np.asarray(analysis.similarity, dtype=np.float32)
    if len(bounds) == sim.shape[0]:  # no room for an end boundary: the last row goes
        sim = sim[: len(bounds) - 1, : len(bounds) - 1]
    return sim, np.asarray(bounds)


def resize_result(req: ResizeRequest) -> list[dict[str, Any]]:
    """The ``result`` array: ~20 candidates, best (blendedScore closest to 0) first."""
    try:
        if req.loop:
            return [
                lp.to_audjust(req.sample_rate)
                for lp in find_loops(req.sim, req.boundaries, req.target_s)
            ]
        return [e.to_audjust() for e in resize(req.sim, req.boundaries, req.target_s)]
    except ResizeInputError as e:
        raise RequestError(f"Invalid parameter: {e}") from e


def run_resize(request_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The full Audjust answer ``{requestId, result, success, creditCost}``."""
    req = parse_resize_request(body)
    return {
        "requestId": request_id,
        "result": resize_result(req),
        "success": True,
        "creditCost": credit_cost_resize(req.target_s),
    }
