"""Similar SFX with a library-learned metric (session 9, ``discovery.sfx_metric``), held out.

The service learns a projection from the categories users give their SFX and keeps it only
where its own cross-validation on the library says it wins. Here the labels of the clips
being scored are never given to it: the labelled clips of a real set are split in
:data:`OUTER` folds (md5 of the clip's key); for each fold the library is every clip of the
set with the *other* folds' categories as asset metadata (this fold's clips present but
unlabelled), ``sfx_metric.choose`` runs exactly as in the service (its own inner folds,
the switch), and this fold's queries are ranked by what it chose. Scored with the true
labels, same-category precision@10 as ``real_discovery.precision_at_k``.

Baselines in the same run: plain mean-pooled aisfx (the issue's baseline) and the shipped
ranking (main's discovery.sfx_rank: max-pooled vectors, whitening fitted on the library,
query expansion; ``real_discovery.tonearm_sfx_sims``), which is also the unlabelled ranking
the learned metric is blended with and falls back to.

Scenarios (metadata given to the service; scoring always with the true labels):

- ``labels``: the other folds' categories as they are;
- ``shuffled``: the same categories permuted among the labelled clips (meaningless
  metadata; the switch must keep the shipped ranking), three seeds;
- ``minority30`` / ``minority50``: only 30 % / 50 % of the other folds' labelled clips keep
  their category, three seeds.

Queries: every labelled clip in a category of at least 3 (``sfx_heldout.load_set``),
reported over all of them and over the tuning / held-out halves of ``real_sets.split_of``
(the session's design choices were made on the tuning halves of both sets only).

``--explore``: the learned metric forced on (no switch), for shrinkage / blend / vectors
variants, scored on the tuning halves (prints text).

``--service``: outer fold 0 of the ``labels`` scenario answered by the service itself
(``discovery.similar`` over a catalog of the stored vectors with the other folds'
categories), beside this script's precision for the same queries (prints JSON).

``--speed``: seconds to fit and validate the metric and to score a query on synthetic
libraries of 1k and 10k 512-d vectors (prints JSON).

Run: ``bench/real_discovery.py --parts sfx,sfx2`` once (cache), then
``.venv/bin/python bench/sfx_learned.py [--explore | --service | --speed]`` (prints JSON).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_discovery as rd  # noqa: E402
import real_sets as rs  # noqa: E402
import sfx_heldout as sh  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402
from tonearm.discovery import sfx_metric  # noqa: E402

OUTER = 5
SEEDS = (0, 1, 2)


def outer_fold(key: str) -> int:
    return hashlib.md5(("outer:" + key).encode()).digest()[1] % OUTER


def metadata(codes: np.ndarray, scenario: str, seed: int) -> np.ndarray:
    """The categories a user would have given, from ``codes`` (0 = none)."""
    rng = np.random.default_rng(seed)
    meta = codes.copy()
    lab = np.flatnonzero(meta > 0)
    if scenario == "shuffled":
        meta[lab] = meta[lab][rng.permutation(len(lab))]
    elif scenario.startswith("minority"):
        share = int(scenario.removeprefix("minority")) / 100
        drop = rng.choice(lab, len(lab) - round(share * len(lab)), replace=False)
        meta[drop] = 0
    return meta


def learned_sims(
    vecs: np.ndarray,
    codes: np.ndarray,
    folds: np.ndarray,
    shipped: np.ndarray,
    scenario: str,
    seed: int,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Rows of every clip ranked as the service would, each fold's labels out of the fit."""
    sims = shipped.copy()
    info = []
    for f in range(OUTER):
        given = np.where(folds == f, 0, codes)
        meta = metadata(given, scenario, seed)
        t0 = time.perf_counter()
        ch = sfx_metric.choose(vecs, meta, lambda rows: shipped[rows])
        dt = time.perf_counter() - t0
        rows = np.flatnonzero(folds == f)
        if ch.metric == "learned":
            assert ch.z is not None
            sims[rows] = sfx_metric._blend(ch.z[rows] @ ch.z.T, shipped[rows], ch.blend)
        info.append({"fold": f, "metric": ch.metric, "labelled": ch.labelled,
                     "categories": ch.categories, **ch.validation,
                     "choose_s": round(dt, 2)})  # fmt: skip
    return sims, info


def report(
    sims: np.ndarray,
    plain: np.ndarray,
    shipped: np.ndarray,
    labels: list[str | None],
    qs: dict[str, list[int]],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for h, q in qs.items():
        pq = sh.per_query_p10(sims, labels, q)
        pp = sh.per_query_p10(plain, labels, q)
        ps = sh.per_query_p10(shipped, labels, q)
        out[h] = {
            "queries": len(q),
            "precision@10": round(float(pq.mean()), 4),
            "vs_plain": round(float(pq.mean() / pp.mean()), 3),
            "vs_plain_ci95": [round(x, 3) for x in sh.bootstrap_ratio(pq, pp)],
            "vs_shipped": round(float(pq.mean() / ps.mean()), 3),
            "vs_shipped_ci95": [round(x, 3) for x in sh.bootstrap_ratio(pq, ps)],
        }
    return out


def load(which: str) -> dict[str, Any]:
    clips, labels, vecs, queries, split = sh.load_set(which)
    names = sorted({x for x in labels if x})
    codes = np.array([names.index(x) + 1 if x else 0 for x in labels], np.int64)
    stored = vecs["tonearm"]  # what the service stores per SFX (max-pooled aisfx)
    mean_v = vecs["aisfx-mean"]
    return {
        "clips": clips,
        "labels": labels,
        "codes": codes,
        "stored": stored,
        "mean": mean_v,
        "plain": mean_v @ mean_v.T,
        "shipped": rd.tonearm_sfx_sims(stored),
        "folds": np.array([outer_fold(c.key) for c in clips]),
        "qs": {"all": queries, **split},
    }


def explore(sets: dict[str, dict[str, Any]]) -> None:
    """The learned metric forced on, variants scored on the tuning halves."""
    for which, d in sets.items():
        q = d["qs"]["tuning"]
        pp = sh.per_query_p10(d["plain"], d["labels"], q).mean()
        ps = sh.per_query_p10(d["shipped"], d["labels"], q).mean()
        print(f"{which}: tuning queries {len(q)}, plain {pp:.3f}, shipped {ps / pp:.3f}x")
        for vname, scenario in (("stored", "labels"), ("mean", "labels"),
                                ("stored", "minority30")):  # fmt: skip
            v = d[vname]
            for shrink in (0.1, 0.3, 0.6):
                zs = []
                sims = {b: d["shipped"].copy() for b in (1.0, 0.7, 0.5, 0.3)}
                for f in range(OUTER):
                    given = metadata(np.where(d["folds"] == f, 0, d["codes"]), scenario, 0)
                    ok = sfx_metric.usable(given)
                    p = sfx_metric.fit_lda(v[ok], given[ok], shrink)
                    z = p.apply(v)
                    zs.append(z)
                    rows = np.flatnonzero(d["folds"] == f)
                    for b in sims:
                        sims[b][rows] = sfx_metric._blend(z[rows] @ z.T, d["shipped"][rows], b)
                row = ", ".join(
                    f"blend {b}: {sh.per_query_p10(s, d['labels'], q).mean() / pp:.3f}x"
                    for b, s in sims.items()
                )
                print(f"  {scenario}, {vname} vectors, shrinkage {shrink}: {row}")


def speed() -> dict[str, Any]:
    """Seconds to choose (fit + validate) and to score one query, on synthetic 512-d
    libraries of 1k / 10k SFX, 20 categories of 5 % labelled ... 50 % labelled, the
    unlabelled ranking being the service's (whitening fitted on the library, QE)."""
    from tonearm.discovery import sfx_rank

    out: dict[str, Any] = {}
    for n in (1000, 10000):
        rng = np.random.default_rng(0)
        codes = np.where(rng.random(n) < 0.5, rng.integers(1, 21, n), 0)
        centers = rng.standard_normal((21, 512))
        m = l2_normalize((3.0 + 0.3 * centers[codes] + rng.standard_normal((n, 512)))
                         .astype(np.float32))  # fmt: skip
        t0 = time.perf_counter()
        w = sfx_rank.fit_whitening(m)
        z = w.apply(m)
        t_white = time.perf_counter() - t0

        def base(rows: np.ndarray, z: np.ndarray = z) -> np.ndarray:
            o = np.ones((len(rows), len(z)), np.float32)
            for i, r in enumerate(rows):
                others = np.arange(len(z)) != r
                o[i, others] = sfx_rank.rerank_scores(z[r], z[others])
            return o

        t0 = time.perf_counter()
        ch = sfx_metric.choose(m, codes, base)
        t_choose = time.perf_counter() - t0
        t0 = time.perf_counter()
        for r in range(20):
            b = sfx_rank.rerank_scores(z[r], z)
            sfx_metric.scores(ch, m[r], b)
        t_query = (time.perf_counter() - t0) / 20
        out[str(n)] = {"metric": ch.metric, "whitening_fit_s": round(t_white, 3),
                       "choose_s": round(t_choose, 3), "query_s": round(t_query, 4)}  # fmt: skip
    return out


def service_check(fold: int = 0) -> dict[str, Any]:
    """The same fold through the service: a catalog holding every clip's stored vector, the
    other folds' categories as asset metadata, each of this fold's queries answered by
    ``discovery.similar.similar``; its precision@10 beside this script's for the fold."""
    import shutil
    import tempfile

    from tonearm.catalog.context import Catalog
    from tonearm.discovery.embeddings import pack
    from tonearm.discovery.similar import similar
    from tonearm.settings import Settings
    from tonearm.storage.base import Analysis

    out: dict[str, Any] = {}
    for which in ("sfx", "sfx2"):
        d = load(which)
        given = np.where(d["folds"] == fold, 0, d["codes"])
        names = sorted({x for x in d["labels"] if x})
        tmp = Path(tempfile.mkdtemp())
        settings = Settings(data=tmp / "data", vector_search="memory")
        settings.ensure_dirs()
        cat = Catalog.open(settings)
        ids = []
        for i, v in enumerate(d["stored"]):
            data, blob = pack(v, "aisfx-ismir2022/v2-max")
            meta = {"kind": "sfx", "name": f"c{i}", "duration": 1.0, "file_path": f"f/{i}.wav",
                    "content_hash": hashlib.sha256(f"{which}{i}".encode()).hexdigest(),
                    "category": names[given[i] - 1] if given[i] else None}  # fmt: skip
            ids.append(
                cat.store.add_asset(meta, [Analysis("", "embedding", 1, data, blob)]).asset_id
            )
        row = {a: i for i, a in enumerate(ids)}
        qs = [i for i in d["qs"]["all"] if d["folds"][i] == fold]
        sims = np.full((len(ids), len(ids)), -1.0)
        for i in qs:
            for a, score in similar(cat, ids[i], "sfx", limit=len(ids)).items:
                sims[i, row[a.asset_id]] = score
        bench, info = learned_sims(d["stored"], d["codes"], d["folds"], d["shipped"], "labels", 0)
        out[which] = {
            "fold": fold,
            "queries": len(qs),
            "service_precision@10": round(float(sh.per_query_p10(sims, d["labels"], qs).mean()), 4),
            "bench_precision@10": round(float(sh.per_query_p10(bench, d["labels"], qs).mean()), 4),
            "shipped_precision@10": round(
                float(sh.per_query_p10(d["shipped"], d["labels"], qs).mean()), 4
            ),
            "service_status": cat.cache.get("similar_sfx_status"),
            "bench_choice": info[fold]["metric"],
        }
        cat.close()
        shutil.rmtree(tmp)
    return out


def main() -> None:
    if "--service" in sys.argv:
        print(json.dumps(service_check(), indent=1))
        return
    if "--speed" in sys.argv:
        print(json.dumps(speed(), indent=1))
        return
    sets = {w: load(w) for w in ("sfx", "sfx2")}
    if "--explore" in sys.argv:
        explore(sets)
        return
    out: dict[str, Any] = {
        "outer_folds": OUTER,
        "settings": {
            k: getattr(sfx_metric, k)
            for k in ("MIN_CLASSES", "MIN_PER_CLASS", "SHRINKAGE", "FOLDS", "BLENDS", "MIN_GAIN")
        },  # fmt: skip
        "sets": {},
    }
    for which, d in sets.items():
        res: dict[str, Any] = {
            "clips": len(d["clips"]),
            "labelled": int((d["codes"] > 0).sum()),
            "queries": {h: len(q) for h, q in d["qs"].items()},
            "shipped (main)": report(
                d["shipped"], d["plain"], d["shipped"], d["labels"], d["qs"]
            ),  # fmt: skip
        }
        for scenario in ("labels", "shuffled", "minority30", "minority50"):
            for seed in SEEDS if scenario != "labels" else (0,):
                sims, info = learned_sims(d["stored"], d["codes"], d["folds"], d["shipped"],
                                          scenario, seed)  # fmt: skip
                name = scenario if scenario == "labels" else f"{scenario} seed {seed}"
                res[name] = {
                    **report(sims, d["plain"], d["shipped"], d["labels"], d["qs"]),
                    "folds_learned_on": sum(i["metric"] == "learned" for i in info),
                    "folds": info,
                }
                rd.log(f"{which} {name}: {res[name]['all']}")
        out["sets"][which] = res
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    _ = l2_normalize, rs
    main()
