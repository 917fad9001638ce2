"""Similar SFX, session 8: pooling the aisfx trunk's time steps that cover the sound.

aisfx's embedding is ``max over time (mean over frequency (block 4))`` over a 100-frame
window; a short clip's window is mostly zero padding, whose steps still activate (batch
norm biases) and take part in the max. This bench keeps, per window, the trunk's block-3
and block-4 maps averaged over frequency (256 + 512 channels x 12 time steps) and the
number of steps the clip covers, then pools only those steps (max, mean, both), alone and
through the shipped pipeline (whitening on the library, query expansion), held out on both
real sets beside plain mean-pooled aisfx and shipped of the same run.

Run: ``bench/real_discovery.py --parts sfx,sfx2`` once (cache), then
``.venv/bin/python bench/sfx_trunk_maps.py [sfx] [sfx2]`` (prints JSON).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_discovery as rd  # noqa: E402
import real_sets as rs  # noqa: E402
import sfx_candidates as sc  # noqa: E402
import sfx_heldout as sh  # noqa: E402
import sfx_short as ss  # noqa: E402
from tonearm.core.audio.signal import Signal  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402

STEPS = 12  # block-4 time steps of a 100-frame window (three 2x2 poolings)


def trunk_maps(w: np.ndarray) -> np.ndarray:
    """(n_windows, 256 + 512, STEPS): blocks 3 and 4 of the trunk, mean over frequency."""
    from tonearm.core.embeddings import aisfx_model as am

    t = am.load_trunk()
    torch, net = t.torch, t.net
    outs = []
    torch.set_num_threads(1)
    with torch.inference_mode():
        for i in range(0, len(w), 16):
            x = torch.from_numpy(np.ascontiguousarray(w[i : i + 16]))[:, None]
            x = net.conv_block1(x, pool_size=(2, 2), pool_type="max")
            x = net.conv_block2(x, pool_size=(2, 2), pool_type="max")
            b3 = net.conv_block3(x, pool_size=(2, 2), pool_type="max")
            b4 = net.conv_block4(b3, pool_size=(1, 1), pool_type="max")
            outs.append(torch.cat([b3.mean(dim=3), b4.mean(dim=3)], dim=1).float().numpy())
    return np.concatenate(outs).astype(np.float32)


def clip_maps(sig: Signal) -> np.ndarray:
    """Trunk maps of a clip's windows, (n_windows, 768 + 1, STEPS); the last row holds the
    number of steps the clip covers (in every column; a full window covers all)."""
    from tonearm.core.embeddings import aisfx_model as am

    spec = am.log_mel(ss._mono44(sig))
    w = am.windows(spec, 50, 32)
    m = trunk_maps(w)
    n_steps = min(STEPS, int(np.ceil(spec.shape[0] / 8))) if len(w) == 1 else STEPS
    cover = np.full((len(m), 1, STEPS), float(n_steps), np.float32)
    return np.concatenate([m, cover], axis=1)


def pooled(maps: list[np.ndarray], layer: str, how: str, masked: bool) -> np.ndarray:
    """One L2-normalized vector per clip: each window's steps pooled, windows max-pooled."""
    sl = slice(0, 256) if layer == "b3" else slice(256, 768)
    out = []
    for m in maps:
        vs = []
        for w in m:
            k = int(w[-1, 0]) if masked else STEPS
            x = w[sl, : max(1, k)]
            parts = []
            if "max" in how:
                parts.append(l2_normalize(x.max(axis=1)))
            if "mean" in how:
                parts.append(l2_normalize(x.mean(axis=1)))
            vs.append(np.concatenate(parts))
        out.append(np.max(vs, axis=0))
    return l2_normalize(np.stack(out))


def one_set(which: str) -> dict[str, Any]:
    clips, labels, vecs, _queries, split = sh.load_set(which)
    windows = list(vecs["_windows"])
    mv = rd.Vectors("aisfx-trunk-maps-v1", clip_maps)
    maps = []
    for n, c in enumerate(clips):
        maps.append(mv.get(c.key, "orig", lambda c=c: rs.load(c.path)))
        if n % 100 == 99:
            rd.log(f"  {which}: {n + 1}/{len(clips)} clips' trunk maps")
    maps = [m if m.ndim == 3 else np.zeros((1, 769, STEPS), np.float32) for m in maps]
    plain, ship = ss.plain_and_shipped(windows)
    # check: block 4, max over every step, equals the stored window vectors
    for w, m in zip(windows[:20], maps[:20], strict=True):
        if len(w) and np.any(w):
            assert np.allclose(l2_normalize(w), l2_normalize(m[:, 256:768].max(axis=2)), atol=1e-3)
    m_: dict[str, Any] = {}

    def ev(name: str, make: Callable[[Any], np.ndarray], grid: list[Any]) -> None:
        m_[name] = sh.evaluate(name, make, grid, labels, split)

    ev("aisfx mean-pooled (baseline)", lambda _: plain, [0])
    ev("tonearm as shipped", lambda _: ship, [0])
    for layer in ("b4", "b3"):
        for how in ("max", "mean", "max+mean"):
            for masked in (True, False):
                v = pooled(maps, layer, how, masked)
                tag = f"{layer} {how}{' over covered steps' if masked else ''}"
                ev(f"{tag}: plain", lambda _, v=v: v @ v.T, [0])
                s = sc.shipped_sims(v)[0]
                ev(f"{tag}: shipped pipeline", lambda _, s=s: s, [0])
                ev(f"{tag}: shipped + a x its shipped", lambda a, s=s: ship + a * s,
                   [0.5, 1.0, 2.0])  # fmt: skip
    b34 = l2_normalize(np.concatenate([pooled(maps, "b4", "max+mean", True),
                                       pooled(maps, "b3", "max+mean", True)], axis=1))  # fmt: skip
    ev("b4 + b3, max+mean over covered steps: plain", lambda _: b34 @ b34.T, [0])
    s34 = sc.shipped_sims(b34)[0]
    ev("b4 + b3, max+mean over covered steps: shipped pipeline", lambda _: s34, [0])
    sh.add_ratios(m_)
    short = np.array(
        [len(w) == 1 and int(m[0, -1, 0]) < STEPS for w, m in zip(windows, maps, strict=True)]
    )
    return {
        "set": which,
        "clips": len(clips),
        "short_clips": int(short.sum()),
        "queries": {h: len(q) for h, q in split.items()},
        "short_queries": {h: int(short[q].sum()) for h, q in split.items()},
        "methods": m_,
    }


def main() -> None:
    sets = [a for a in ("sfx", "sfx2") if a in sys.argv[1:]] or ["sfx", "sfx2"]
    out = {"bench": "sfx_trunk_maps", "sets": {w: one_set(w) for w in sets}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
