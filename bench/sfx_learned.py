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

``--unlabelled``: the validation with all, half or none of the library's unlabelled rows
(prints JSON).

``--cache``: seconds of the service's cached choice through an ingest at 10k SFX (which
steps refit; prints JSON).

``--speed``: seconds to fit and validate the metric and to score a query on synthetic
libraries of 1k and 10k 512-d vectors (prints JSON).

Run: ``bench/real_discovery.py --parts sfx,sfx2`` once (cache), then
``.venv/bin/python bench/sfx_learned.py`` (prints JSON; or one of ``--explore``,
``--service``, ``--speed``, ``--cache``, ``--unlabelled``).
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


def cache_speed(n: int = 10000) -> dict[str, Any]:
    """Seconds of ``sfx_metric.library_choice`` (the service's per-query call) on a synthetic
    512-d library of ``n`` SFX, half labelled in 20 categories, through an ingest: the first
    query (fit), a repeat (cached), after 1 % more unlabelled SFX (the fit kept, the rows
    projected again), after 1 % of the labelled SFX recategorized (the fit reused), after 6 %
    (refitted); and whether each refitted."""
    from tonearm.discovery import sfx_rank

    rng = np.random.default_rng(0)
    extra = n // 100
    codes = np.where(rng.random(n + extra) < 0.5, rng.integers(1, 21, n + extra), 0)
    # as in tests/discovery/test_sfx_metric.py: the categories apart along a few quiet
    # directions, most variance elsewhere, so that the learned metric is on (and projected)
    centers = np.zeros((21, 512))
    centers[1:, :20] = 1.2 * rng.standard_normal((20, 20))
    m_all = 3.0 + centers[codes] + 0.3 * rng.standard_normal((n + extra, 512))
    m_all[:, 20:] += rng.standard_normal((n + extra, 492))
    m_all = l2_normalize(m_all.astype(np.float32))
    ids_all = np.arange(1, n + extra + 1, dtype=np.int64)
    cache: dict[str, object] = {}
    fits = 0
    choose = sfx_metric.choose

    def counted(*a: Any, **k: Any) -> sfx_metric.Choice:
        nonlocal fits
        fits += 1
        return choose(*a, **k)

    sfx_metric.choose = counted  # type: ignore[assignment]
    out: dict[str, Any] = {"n": n}
    lab = np.flatnonzero(codes[:n] > 0)
    steps = (
        ("first", n, codes[:n]),
        ("repeat", n, codes[:n]),
        ("1% unlabelled added", n + extra, np.r_[codes[:n], np.zeros(extra, np.int64)]),
        ("1% recategorized", n + extra, None),
        ("6% recategorized", n + extra, None),
    )
    cur = np.r_[codes[:n], np.zeros(extra, np.int64)]
    try:
        for name, size, c in steps:
            if c is None:
                share = 0.01 if name.startswith("1%") else 0.05
                pick = rng.choice(lab, int(share * len(lab)), replace=False)
                cur = cur.copy()
                cur[pick] = cur[pick] % 20 + 1
                c = cur
            m, ids = m_all[:size], ids_all[:size]
            z = sfx_rank.fit_whitening(m).apply(m)
            seen = np.ones(size, bool)
            before = fits
            t0 = time.perf_counter()
            ch = sfx_metric.library_choice(
                cache, "aisfx", ids, m, c, seen, lambda r, z=z: sfx_rank.rerank_rows(z, r)
            )
            out[name] = {"s": round(time.perf_counter() - t0, 3), "refit": fits > before,
                         "metric": ch.metric}  # fmt: skip
    finally:
        sfx_metric.choose = choose  # type: ignore[assignment]
    return out


def unlabelled_rows(sets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How much the validation depends on the library's unlabelled rows (the service keys its
    cached choice on the labelled set only): the ``labels`` scenario's ``choose`` on each
    outer fold with every unlabelled row present (as above), with half of them (seed = fold)
    and with none; the unlabelled ranking's scores restricted to the rows kept."""
    out: dict[str, Any] = {}
    for which, d in sets.items():
        rows = []
        for f in range(OUTER):
            meta = np.where(d["folds"] == f, 0, d["codes"])
            unl = np.flatnonzero(meta == 0)
            half = np.random.default_rng(f).choice(unl, len(unl) // 2, replace=False)
            res: dict[str, Any] = {"fold": f, "rows": len(meta), "unlabelled_rows": len(unl)}
            for name, drop in (("all", unl[:0]), ("half", half), ("none", unl)):
                keep = np.setdiff1d(np.arange(len(meta)), drop)
                shipped = d["shipped"][np.ix_(keep, keep)]
                ch = sfx_metric.choose(d["stored"][keep], meta[keep], lambda r, s=shipped: s[r])
                v = ch.validation
                res[name] = {"metric": ch.metric, "blend": v.get("blend"),
                             "ratio": round(v["precision@10_learned"]
                                            / v["precision@10_unlabelled"], 3),
                             **{k: v.get(k) for k in v if "precision" in k}}  # fmt: skip
            rows.append(res)
        out[which] = rows
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
    if "--cache" in sys.argv:
        print(json.dumps(cache_speed(), indent=1))
        return
    if "--speed" in sys.argv:
        print(json.dumps(speed(), indent=1))
        return
    sets = {w: load(w) for w in ("sfx", "sfx2")}
    if "--explore" in sys.argv:
        explore(sets)
        return
    if "--unlabelled" in sys.argv:
        print(json.dumps(unlabelled_rows(sets), indent=1))
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
