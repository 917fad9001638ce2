"""Similar SFX, session 8: is the category signal in the aisfx vectors at all?

Not a candidate for the service (it uses labels). Two checks on the real sets:

- within a set: LDA (shrinkage .1/.3/.6) fitted on the tuning half's labelled clips, every
  clip projected, cosine; precision@10 on the held-out queries vs plain mean-pooled aisfx;
- across sets: LDA fitted on every labelled clip of one set, applied to the other (other
  games, other categories), alone and added to shipped;
- label-free: LDA on k-means clusters of the library (pseudo-labels; k, shrinkage, the
  clustered space and fusion with shipped chosen on the tuning queries);
- label-free: LDA with each clip as its own class, its samples the test-time views of
  ``sfx_short.py`` (short clips) or its windows (longer clips), so the directions in which a
  clip's own views differ count less (run ``sfx_short.py`` first for the views).

Run: ``bench/real_discovery.py --parts sfx,sfx2`` once (cache), then
``.venv/bin/python bench/sfx_lda_ceiling.py`` (prints text).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_sets as rs  # noqa: E402
import sfx_candidates as sc  # noqa: E402
import sfx_heldout as sh  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402


def ratio(sims: np.ndarray, base: np.ndarray, labels: list[str | None], q: list[int]) -> str:
    pq = sh.per_query_p10(sims, labels, q)
    lo, hi = sh.bootstrap_ratio(pq, base)
    return f"{pq.mean() / base.mean():.3f} [{lo:.3f}, {hi:.3f}]"


def main() -> None:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA

    d = {}
    for which in ("sfx", "sfx2"):
        _clips, labels, vecs, _q, split = sh.load_set(which)
        w = list(vecs["_windows"])
        mean_v = l2_normalize(np.stack([x.mean(axis=0) for x in w]))
        max_v = l2_normalize(np.stack([x.max(axis=0) for x in w]))
        d[which] = (labels, split, mean_v, max_v)
    for which, (labels, split, mean_v, _max_v) in d.items():
        base = sh.per_query_p10(mean_v @ mean_v.T, labels, split["held_out"])
        fit = split["tuning"]
        for shrink in (0.1, 0.3, 0.6):
            lda = LDA(solver="eigen", shrinkage=shrink).fit(mean_v[fit], [labels[i] for i in fit])
            z = l2_normalize(lda.transform(mean_v))
            print(f"{which}: LDA on its tuning labels, shrinkage {shrink}: held-out "
                  f"{ratio(z @ z.T, base, labels, split['held_out'])} x plain")  # fmt: skip
    for src, dst in (("sfx", "sfx2"), ("sfx2", "sfx")):
        s_lab, _, s_mean, _ = d[src]
        labels, split, mean_v, max_v = d[dst]
        q = split["held_out"]
        base = sh.per_query_p10(mean_v @ mean_v.T, labels, q)
        ship = sc.shipped_sims(max_v)[0]
        fit = [i for i, x in enumerate(s_lab) if x]
        for shrink in (0.3, 0.6, 0.9):
            lda = LDA(solver="eigen", shrinkage=shrink).fit(s_mean[fit], [s_lab[i] for i in fit])
            z = l2_normalize(lda.transform(mean_v))
            print(f"LDA fitted on {src}, applied to {dst}, shrinkage {shrink}: held-out "
                  f"{ratio(z @ z.T, base, labels, q)}, shipped + 1 x it "
                  f"{ratio(ship + z @ z.T, base, labels, q)} x plain")  # fmt: skip
    pseudo_labels(d)
    import real_discovery as rd
    import sfx_short as ss

    views = {}
    for which in d:
        clips, _, vecs, _, _ = sh.load_set(which)
        windows = list(vecs["_windows"])
        vv = rd.Vectors("aisfx-short-views-v1", ss.short_views)
        got = [vv.get(c.key, "orig", lambda c=c: rs.load(c.path)) for c in clips]
        views[which] = [
            v if v.ndim == 2 and len(v) else w for v, w in zip(got, windows, strict=True)
        ]
    exemplar_lda(d, views)


def pseudo_labels(d: dict[str, tuple]) -> None:  # type: ignore[type-arg]
    from sklearn.cluster import KMeans
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA

    for which, (labels, split, mean_v, max_v) in d.items():
        ship, z = sc.shipped_sims(max_v)
        plain = mean_v @ mean_v.T
        bt = sh.per_query_p10(plain, labels, split["tuning"]).mean()
        base = sh.per_query_p10(plain, labels, split["held_out"])
        best: tuple[float, str, np.ndarray] | None = None
        for space, x in (("mean", mean_v), ("whitened max", z)):
            for k in (10, 20, 40, 80):
                cl = KMeans(k, n_init=4, random_state=0).fit_predict(x)
                for shrink in (0.3, 0.6, 0.9):
                    lda = LDA(solver="eigen", shrinkage=shrink).fit(mean_v, cl)
                    p = l2_normalize(lda.transform(mean_v))
                    for fused in (False, True):
                        sims = ship + p @ p.T if fused else p @ p.T
                        t = sh.per_query_p10(sims, labels, split["tuning"]).mean() / bt
                        if best is None or t > best[0]:
                            best = (t, f"{space} k={k} shrinkage={shrink} +shipped={fused}", sims)
        assert best is not None
        held = ratio(best[2], base, labels, split["held_out"])
        print(f"{which}: LDA on k-means pseudo-labels, chosen on tuning ({best[1]}, tuning "
              f"{best[0]:.3f}): held-out {held} x plain")  # fmt: skip


def exemplar_lda(d: dict[str, tuple], views: dict[str, list[np.ndarray]]) -> None:  # type: ignore[type-arg]
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA

    for which, (labels, split, mean_v, max_v) in d.items():
        ship = sc.shipped_sims(max_v)[0]
        plain = mean_v @ mean_v.T
        bt = sh.per_query_p10(plain, labels, split["tuning"]).mean()
        base = sh.per_query_p10(plain, labels, split["held_out"])
        xs, ys = [], []
        for i, rows in enumerate(views[which]):
            if len(rows) >= 2:
                xs.append(l2_normalize(rows))
                ys += [i] * len(rows)
        x = np.concatenate(xs)
        best: tuple[float, str, np.ndarray] | None = None
        for shrink in (0.3, 0.6, 0.9):
            lda = LDA(solver="eigen", shrinkage=shrink).fit(x, ys)
            for dims in (32, 64, 128):
                for pool, v in (("mean", mean_v), ("max", max_v)):
                    p = l2_normalize(lda.transform(v)[:, :dims])
                    for how, sims in (("alone", p @ p.T), ("+shipped", ship + p @ p.T),
                                      ("shipped pipeline", sc.shipped_sims(p)[0])):  # fmt: skip
                        t = sh.per_query_p10(sims, labels, split["tuning"]).mean() / bt
                        if best is None or t > best[0]:
                            best = (t, f"shrinkage={shrink} dims={dims} {pool} {how}", sims)
        assert best is not None
        held = ratio(best[2], base, labels, split["held_out"])
        print(f"{which}: LDA on each clip's own views, chosen on tuning ({best[1]}, tuning "
              f"{best[0]:.3f}): held-out {held} x plain")  # fmt: skip


if __name__ == "__main__":
    main()
