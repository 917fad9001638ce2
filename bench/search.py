"""Natural-language music search: relevance and latency.

Relevance: the labelled queries of ``bench/search_queries.json`` over three catalogs
  - ``demo``: the demo catalog (synthesized pieces with full metadata);
  - ``demo-thin``: the same audio with every field but the title removed;
  - ``real``: Debian game music (supertux-data, asc-music), title = file name, album =
    game world;
  - ``real-neutral``: the same audio with the metadata stripped (titles "Track NNN", no
    album), the same queries (``n..`` = ``r..``) and judgments (the composers' file and
    folder names, hidden from the search): what finds them is what the audio says;
  - ``real-content``: instrument renders of real scores named ``track_NNN``;
    ``real-content-artist``: the same with a neutral artist per score ("Artist A"), the
    same queries (``a..`` = ``c..``): metadata that says nothing about the sound;
  scored by nDCG@10 and recall@20 for hybrid (semantic + keyword, weighted RRF), keyword
  only (the baseline: the in-memory BM25F of discovery/bm25.py over the same fields, what
  answers without the text model), semantic only and ``random`` (expected nDCG of a random
  order); plus the ablation "hybrid_plain_rrf", and every method again with the musicnn
  tag words left out of the index (``*_no_tags``: what the version before the tagger
  answers, measured in the same run on the same stored analyses), and
  ``hybrid_no_tag_ranking`` (tag words in the text, no tag ranking). ``--tag-cost N``: the
  tagger's share of a default-analyzer ingest of N real tracks. ``--tag-sentence
  always,undescribed``: the whole relevance run once per place of the tag words in the
  track sentences (``search_index.TAG_SENTENCE``), on the same stored analyses (the tagger
  runs once, at the catalog's backfill; only the sentence vectors change).
  (the keyword list not weighted by query-word coverage). Absolute scores: every row but
  ``hybrid_calibrated`` (the default: ordered by absolute score, floor min_score .2) and
  ``hybrid_calibrated_no_floor`` ranks as the version before them (fusion order, every match
  kept); ``unmatched``: nonsense and out-of-domain queries (``search_queries.json``) vs the
  real queries by best absolute score (AUC, flags, result counts now and before) for null
  quantiles .90/.95/.99; ``floors``: nDCG@10 and unmatched queries still answered per floor.
  Queries with an odd number form
  the tuning half (the fusion rule was checked there), even numbers the held-out half;
  both halves are reported.
Latency: p50/p95 of the search service at N synthetic tracks (default 100k; metadata drawn
  from word pools; track text vectors emulated as the normalised sum of real MiniLM word
  vectors so building the index does not embed 100k texts; query vectors are real). Wall
  time AND process CPU time per query (the machine may be shared: CPU time is the figure
  that does not depend on other processes), the load average before and after, and a
  per-stage breakdown (wall and thread-CPU ms per stage, from ``SearchResult.timings``).
  "cached" runs see every query vector in the cache (one warm-up pass first); "uncached"
  clears the cache before each query, so it includes embedding the query.

Usage::

    .venv/bin/python bench/search.py [--work DIR] [--n-synthetic 100000]
        [--skip-relevance] [--skip-latency] [--corpora demo,demo-thin,real]
        [--tag-sentence always,undescribed]

Catalogs are built once under ``--work`` (default /tmp/tonearm-bench-search) and reused.
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tonearm.catalog.context import Catalog  # noqa: E402
from tonearm.demo.synth import STYLES  # noqa: E402
from tonearm.discovery import search as search_service  # noqa: E402
from tonearm.discovery import text as text_model  # noqa: E402
from tonearm.discovery.search import search  # noqa: E402
from tonearm.discovery.search_analyzer import backfill  # noqa: E402
from tonearm.settings import Settings  # noqa: E402
from tonearm.storage.base import Analysis  # noqa: E402

HERE = Path(__file__).resolve().parent
METHODS = ("hybrid", "keyword", "semantic")
ABLATION = "hybrid_plain_rrf"
NO_TAGS = "_no_tags"
NO_TAG_RANKING = "hybrid_no_tag_ranking"  # tag words in the text, no tag ranking
# absolute scores: ordered by them with the default floor (min_score .5), and with no floor
CALIBRATED = ("hybrid_calibrated", "hybrid_calibrated_no_floor")
REAL_DIRS = {
    "/usr/share/games/supertux2/music": "SuperTux",
    "/usr/share/games/asc/music": "Advanced Strategic Command",
}


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


def open_catalog(path: Path) -> Catalog:
    s = Settings(data=path, decode_timeout_s=300)
    s.ensure_dirs()
    return Catalog.open(s)


# -- catalogs --------------------------------------------------------------------------------
def demo_catalog(work: Path) -> tuple[Catalog, dict[str, dict[str, Any]]]:
    """The demo catalog (embedding + search_text analyses) and truth per asset_id."""
    from tonearm.catalog.ingest import ingest_paths
    from tonearm.demo.catalog import build_demo_catalog, staging_dir

    cat = open_catalog(work / "demo")
    root = staging_dir(cat)
    t0 = time.perf_counter()
    if not (root / "truth.json").exists():
        log("building the demo catalog (render + ingest)...")
        build_demo_catalog(cat, analyses=["embedding"])
    elif cat.store.count_assets("music") < len(list((root / "music").iterdir())):
        log("ingesting the demo music...")  # only the music: sfx are not searched here
        files = sorted((root / "music").iterdir())
        ingest_paths(
            cat, files, kind="music", metadata_csv=root / "music.csv", analyses=["embedding"]
        )
    log(f"  demo catalog ready in {time.perf_counter() - t0:.0f} s")
    n = backfill(cat)
    if n:
        log(f"  search_text computed for {n} tracks")
    truth_doc = json.loads((staging_dir(cat) / "truth.json").read_text())["music"]
    truth: dict[str, dict[str, Any]] = {}
    for a in cat.store.iter_assets("music"):
        t = truth_doc.get(Path(a.source_path or "").name)
        if t is None:
            continue
        truth[a.asset_id] = {
            "style": t["style"],
            "bpm": t["bpm"],
            "mode": t["mode"],
            "meter": t["meter"],
            "drums": STYLES[t["style"]].drums,
            "genre": a.genre or "",
        }
    return cat, truth


def _relabelled_copy(
    work: Path,
    name: str,
    suffix: str,
    src: Catalog,
    truth: dict[str, dict[str, Any]],
    metadata_of: Callable[[Any], dict[str, Any]],
):
    """A catalog named ``name`` holding ``src``'s music with only the metadata
    ``metadata_of(asset)`` gives (beside its title), the same stored analyses and audio
    files; built once, reused after (a copy's content hash is its source's + ``suffix``).
    Returns it and ``truth`` keyed by its own ids."""
    cat = open_catalog(work / name)
    existing = {a.content_hash: a.asset_id for a in cat.store.iter_assets("music")}
    mapping: dict[str, str] = {}
    for a in src.store.iter_assets("music"):
        h = a.content_hash + suffix
        if h in existing:
            mapping[existing[h]] = a.asset_id
            continue
        analyses = [
            Analysis("", x.name, x.version, x.data, x.blob)
            for x in (
                src.store.get_analysis(a.asset_id, "search_text"),
                src.store.get_analysis(a.asset_id, "embedding"),
            )
            if x is not None
        ]
        new = cat.store.add_asset(
            {
                "kind": "music",
                "name": a.name,
                **metadata_of(a),
                "duration": a.duration,
                "content_hash": h,
                "file_path": a.file_path,
            },
            analyses,
        )
        mapping[new.asset_id] = a.asset_id
    return cat, {k: truth[v] for k, v in mapping.items() if v in truth}


def thin_catalog(work: Path, demo: Catalog, truth: dict[str, dict[str, Any]]):
    """The demo audio with only titles: same analyses, no other metadata."""
    return _relabelled_copy(work, "demo-thin", "-thin", demo, truth, lambda a: {})


def real_catalog(work: Path) -> tuple[Catalog, dict[str, dict[str, Any]]]:
    """Debian game music: title = file name, album = game (and world)."""
    from tonearm.catalog.ingest import ingest_paths

    cat = open_catalog(work / "real")
    files: list[Path] = []
    for d in REAL_DIRS:
        files += sorted(Path(d).rglob("*.ogg")) + sorted(Path(d).rglob("*.mp3"))
    if not files:
        log("no Debian music installed (apt-get install supertux-data asc-music)")
    if cat.store.count_assets("music") < len(files):
        side = work / "real-sidecar.csv"
        with side.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["file", "album"])
            for f in files:
                root = next(d for d in REAL_DIRS if str(f).startswith(d))
                world = f.parent.name if f.parent != Path(root) else ""
                album = REAL_DIRS[root] + (f": {world.title()}" if world else "")
                w.writerow([f.name, album])
        log(f"ingesting {len(files)} real music files...")
        t0 = time.perf_counter()
        # no audio embeddings: no query of this set names an artist (and they are slow)
        s = ingest_paths(cat, files, kind="music", metadata_csv=side, analyses=[])
        log(f"  {len(s.added)} added, {len(s.failed)} failed in {time.perf_counter() - t0:.0f} s")
    n = backfill(cat)
    if n:
        log(f"  search_text computed for {n} tracks")
    truth = {
        a.asset_id: {"file": Path(a.source_path or a.name).stem}
        for a in cat.store.iter_assets("music")
    }
    return cat, truth


def neutral_catalog(work: Path, real: Catalog, truth: dict[str, dict[str, Any]]):
    """The ``real`` audio with its metadata stripped: titles "Track NNN" (numbered in a
    fixed order that does not follow folders), no album; same analyses. The queries keep
    the judgments of the ``real`` set (the composers' file and folder names, now hidden)."""
    import hashlib

    cat = open_catalog(work / "real-neutral")
    existing = {a.content_hash: a.asset_id for a in cat.store.iter_assets("music")}
    mapping: dict[str, str] = {}
    assets = sorted(
        real.store.iter_assets("music"),
        key=lambda a: hashlib.md5(a.content_hash.encode()).hexdigest(),
    )
    for n, a in enumerate(assets, 1):
        h = a.content_hash + "-neutral"
        if h in existing:
            mapping[existing[h]] = a.asset_id
            continue
        analyses = [
            Analysis("", x.name, x.version, x.data, x.blob)
            for x in (
                real.store.get_analysis(a.asset_id, "search_text"),
                real.store.get_analysis(a.asset_id, "embedding"),
            )
            if x is not None
        ]
        new = cat.store.add_asset(
            {
                "kind": "music",
                "name": f"Track {n:03d}",
                "duration": a.duration,
                "content_hash": h,
                "file_path": a.file_path,
            },
            analyses,
        )
        mapping[new.asset_id] = a.asset_id
    return cat, {k: truth[v] for k, v in mapping.items() if v in truth}


def content_catalog(work: Path) -> tuple[Catalog, dict[str, dict[str, Any]]]:
    """Instrument renders of real scores, named ``track_NNN`` (see the module docstring)."""
    from tonearm.catalog.ingest import ingest_paths

    sys.path.insert(0, str(HERE))
    import real_sets

    renders = real_sets.instrument_renders(work / "content-renders")
    cat = open_catalog(work / "real-content")
    if cat.store.count_assets("music") < len(renders):
        log(f"ingesting {len(renders)} instrument renders...")
        ingest_paths(cat, [p for p, _, _ in renders], kind="music", analyses=[])
    n = backfill(cat)
    if n:
        log(f"  search_text computed for {n} tracks")
    label = {p.name: (inst, score) for p, inst, score in renders}
    truth = {}
    for a in cat.store.iter_assets("music"):
        inst, score = label.get(Path(a.source_path or "").name, ("", ""))
        truth[a.asset_id] = {"instrument": inst, "score": score}
    return cat, truth


def content_artist_catalog(work: Path, content: Catalog, truth: dict[str, dict[str, Any]]):
    """The ``real-content`` renders with an artist each (a neutral "Artist A".."E", one per
    score, as a composer would be): a library whose tracks have metadata that says nothing
    of the instruments. Same stored analyses; the queries are ``real-content``'s (``a..`` =
    ``c..``)."""
    scores = sorted({t["score"] for t in truth.values() if t.get("score")})
    artist_of = {sc: f"Artist {chr(65 + i)}" for i, sc in enumerate(scores)}
    return _relabelled_copy(
        work,
        "real-content-artist",
        "-artist",
        content,
        truth,
        lambda a: {"artist": artist_of.get(truth.get(a.asset_id, {}).get("score", ""), "")},
    )


def random_ndcg(rel: set[str], ids: list[str], k: int = 10, draws: int = 50) -> float:
    """Expected nDCG@k of a random ranking (mean of ``draws`` fixed-seed shuffles)."""
    rng = random.Random(0)
    out = []
    for _ in range(draws):
        order = ids[:]
        rng.shuffle(order)
        out.append(ndcg_at(order, rel, k))
    return float(np.mean(out))


# -- relevance -------------------------------------------------------------------------------
def relevant_ids(rule: dict[str, Any], truth: dict[str, dict[str, Any]]) -> set[str]:
    out = set()
    for aid, t in truth.items():
        ok = True
        if "styles" in rule:
            ok &= t.get("style") in rule["styles"]
        if "mode" in rule:
            ok &= t.get("mode") == rule["mode"]
        if "bpm_min" in rule:
            ok &= t.get("bpm", 0) >= rule["bpm_min"]
        if "bpm_max" in rule:
            ok &= t.get("bpm", 1e9) <= rule["bpm_max"]
        if "meter" in rule:
            ok &= t.get("meter") == rule["meter"]
        if "drums" in rule:
            ok &= t.get("drums") == rule["drums"]
        if "genre_not" in rule:
            ok &= t.get("genre") != rule["genre_not"]
        if "files" in rule:
            ok &= t.get("file") in rule["files"]
        if "instruments" in rule:
            ok &= t.get("instrument") in rule["instruments"]
        if ok:
            out.add(aid)
    return out


def ndcg_at(ranked: list[str], rel: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, a in enumerate(ranked[:k]) if a in rel)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: list[str], rel: set[str], k: int = 20) -> float:
    return len(set(ranked[:k]) & rel) / len(rel) if rel else 0.0


def half(qid: str) -> str:
    """Odd-numbered queries: the tuning half; even: held out."""
    return "tuning" if int(qid[1:]) % 2 == 1 else "held_out"


def relevance(corpora: list[str], work: Path) -> dict[str, Any]:
    from tonearm.discovery import search_index
    from tonearm.discovery import search_ranking as search_mod
    from tonearm.discovery.search import invalidate

    queries = json.loads((HERE / "search_queries.json").read_text())["queries"]
    catalogs: dict[str, tuple[Catalog, dict[str, dict[str, Any]]]] = {}
    if "demo" in corpora or "demo-thin" in corpora:
        catalogs["demo"] = demo_catalog(work)
    if "demo-thin" in corpora:
        catalogs["demo-thin"] = thin_catalog(work, *catalogs["demo"])
    if "real" in corpora or "real-neutral" in corpora:
        catalogs["real"] = real_catalog(work)
    if "real-neutral" in corpora:
        catalogs["real-neutral"] = neutral_catalog(work, *catalogs["real"])
    if "real-content" in corpora or "real-content-artist" in corpora:
        catalogs["real-content"] = content_catalog(work)
    if "real-content-artist" in corpora:
        catalogs["real-content-artist"] = content_artist_catalog(work, *catalogs["real-content"])
        queries = queries + [
            {**q, "id": "a" + q["id"][1:], "corpus": "real-content-artist"}
            for q in queries
            if q["corpus"] == "real-content"
        ]
    rows_by_id: dict[str, dict[str, Any]] = {}
    for use_tags in (True, False):
        search_index.USE_TAGS = use_tags
        for cat, _ in catalogs.values():
            invalidate(cat)
        suffix = "" if use_tags else NO_TAGS
        for q in queries:
            if q["corpus"] not in corpora:
                continue
            cat, truth = catalogs[q["corpus"]]
            rel = relevant_ids(q["relevant"], truth)
            if not rel:
                log(f"query {q['id']} has no relevant tracks: skipped")
                continue
            row = rows_by_id.setdefault(
                q["id"],
                {"id": q["id"], "corpus": q["corpus"], "query": q["query"], "n_relevant": len(rel)},
            )
            for m in (*METHODS, ABLATION, NO_TAG_RANKING, *CALIBRATED) if use_tags else METHODS:
                gate = search_mod.KEYWORD_GATE
                if m == ABLATION:
                    search_mod.KEYWORD_GATE = "none"
                search_mod.USE_TAG_RANKING = m != NO_TAG_RANKING
                # every row but the calibrated ones: the previous ranking (fusion order,
                # every match kept), so the baselines are what the previous version answers
                new_scores = m in CALIBRATED
                search_service.SCORE_ORDER = "calibrated" if new_scores else "rrf"
                floor = None if m == CALIBRATED[0] else 0.0
                try:
                    res = search(
                        cat,
                        q["query"],
                        limit=20,
                        method=m if m in METHODS else "hybrid",
                        min_score=floor,
                    )
                finally:
                    search_mod.KEYWORD_GATE = gate
                    search_mod.USE_TAG_RANKING = True
                    search_service.SCORE_ORDER = "calibrated"
                ranked = res.asset_ids
                row[m + suffix] = {
                    "ndcg@10": round(ndcg_at(ranked, rel), 4),
                    "recall@20": round(recall_at(ranked, rel), 4),
                    "search_method": res.search_method,
                }
                if m == CALIBRATED[0]:
                    row[m]["best_score"] = res.best_score
                    row[m]["total"] = res.total
                if m == CALIBRATED[1]:  # for the floor table: the page's scores
                    row[m]["_ranked"] = ranked[:20]
                    row[m]["_scores"] = [t["score"] for t in res.tracks]
                    row[m]["_rel"] = sorted(rel)
                if m == "hybrid" and use_tags:
                    row["matched_artist"] = res.matched_artist
                    row["top5"] = [truth.get(a, {}) for a in ranked[:5]]
            row["random"] = {"ndcg@10": round(random_ndcg(rel, sorted(truth)), 4),
                             "recall@20": round(min(1.0, 20 / max(1, len(truth))), 4)}  # fmt: skip
    search_index.USE_TAGS = True
    per_query = list(rows_by_id.values())
    unmatched = unmatched_check(catalogs, corpora, per_query)
    floors = floor_table(corpora, per_query, unmatched)
    for r in per_query:
        for k in ("_ranked", "_scores", "_rel"):
            r.get(CALIBRATED[1], {}).pop(k, None)

    def mean(rows: list[dict[str, Any]], m: str, metric: str) -> float:
        return round(float(np.mean([r[m][metric] for r in rows])), 4) if rows else 0.0

    def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "queries": len(rows),
            **{
                m: {"ndcg@10": mean(rows, m, "ndcg@10"), "recall@20": mean(rows, m, "recall@20")}
                for m in (
                    *METHODS,
                    *CALIBRATED,
                    ABLATION,
                    NO_TAG_RANKING,
                    *(x + NO_TAGS for x in METHODS),
                    "random",
                )  # fmt: skip
            },
        }
        for other in ("keyword", "semantic", "hybrid" + NO_TAGS, NO_TAG_RANKING, "hybrid"):
            me = CALIBRATED[0] if other == "hybrid" else "hybrid"
            out[f"{me}_wins_vs_{other}"] = sum(r[me]["ndcg@10"] > r[other]["ndcg@10"] for r in rows)
            out[f"{me}_losses_vs_{other}"] = sum(
                r[me]["ndcg@10"] < r[other]["ndcg@10"] for r in rows
            )
        return out

    summary: dict[str, Any] = {}
    for corpus in [*corpora, "all"]:
        rows = [r for r in per_query if corpus == "all" or r["corpus"] == corpus]
        summary[corpus] = summarize(rows)
        for h in ("tuning", "held_out"):
            summary[corpus][h] = summarize([r for r in rows if half(r["id"]) == h])
    return {
        "summary": summary,
        "floors": floors,
        "unmatched": unmatched,
        "per_query": per_query,
    }


FLOORS = (0.0, 0.2, 0.3, 0.4, 0.5)


def floor_table(
    corpora: list[str], per_query: list[dict[str, Any]], unmatched: dict[str, Any]
) -> dict[str, Any]:
    """For each min_score in FLOORS (at the default null quantile): nDCG@10 of the real
    queries (the calibrated order cut at the floor) per half, and how many unmatched queries
    still return a track."""
    from tonearm.discovery import calibration

    key = f"q{calibration.NULL_HIGH_Q}"
    out: dict[str, Any] = {}
    for corpus in corpora:
        rows = [r for r in per_query if r["corpus"] == corpus and CALIBRATED[1] in r]
        bad = [
            v["best_score"] or 0.0
            for v in unmatched.get(corpus, {}).get(key, {}).get("queries", {}).values()
        ]
        table = {}
        for f in FLOORS:
            nd: dict[str, list[float]] = {"all": [], "tuning": [], "held_out": []}
            for r in rows:
                c = r[CALIBRATED[1]]
                kept = [a for a, sc in zip(c["_ranked"], c["_scores"], strict=False) if sc >= f]
                v = ndcg_at(kept, set(c["_rel"]))
                nd["all"].append(v)
                nd[half(r["id"])].append(v)
            table[str(f)] = {
                **{
                    f"ndcg@10_{h}": round(float(np.mean(x)), 4) if x else 0.0 for h, x in nd.items()
                },  # fmt: skip
                "unmatched_returning_tracks": sum(b >= f and b > 0 for b in bad),
                "unmatched_queries": len(bad),
            }
        out[corpus] = table
    return out


def auc(pos: list[float], neg: list[float]) -> float:
    """P(a real query's best score > a meaningless query's), ties count half."""
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 4)


def unmatched_check(
    catalogs: dict[str, tuple[Catalog, dict[str, dict[str, Any]]]],
    corpora: list[str],
    per_query: list[dict[str, Any]],
) -> dict[str, Any]:
    """Absolute scores: the queries of ``search_queries.json["unmatched"]`` (nonsense and
    out-of-domain) against the real queries of each corpus, by the best absolute score
    (hybrid), how many results each gets now and before, and what the default floor does
    to nDCG@10, for the null quantile that scores .5 (``calibration.NULL_HIGH_Q``) at
    .90, .95 and .99."""
    from tonearm.discovery import calibration
    from tonearm.discovery.search import get_index, invalidate

    doc = json.loads((HERE / "search_queries.json").read_text())["unmatched"]
    queries = json.loads((HERE / "search_queries.json").read_text())["queries"]
    out: dict[str, Any] = {
        "good_match": calibration.GOOD_MATCH,
        "default_q": calibration.NULL_HIGH_Q,
    }
    default_q = calibration.NULL_HIGH_Q
    for corpus in corpora:
        cat, truth = catalogs[corpus]
        real = [q for q in queries if q["corpus"] == corpus]
        out[corpus] = {}
        for hq in (0.9, 0.95, 0.99):
            calibration.NULL_HIGH_Q = hq
            invalidate(cat)
            try:
                idx = get_index(cat, text_model.get_text_encoder())
                rows: dict[str, Any] = {"null_levels": idx.null_levels, "queries": {}}
                for group, qs in doc.items():
                    for q in qs:
                        now = search(cat, q, limit=20)
                        search_service.SCORE_ORDER = "rrf"
                        try:
                            before = search(cat, q, limit=20, min_score=0.0)
                        finally:
                            search_service.SCORE_ORDER = "calibrated"
                        rows["queries"][q] = {
                            "group": group,
                            "best_score": now.best_score,
                            "total": now.total,
                            "total_before": before.total,
                            "top_score_before": before.tracks[0]["score"]
                            if before.tracks
                            else None,
                        }
                good: dict[str, float] = {}
                nd: dict[str, float] = {}
                totals: list[int] = []
                for q in real:
                    rel = relevant_ids(q["relevant"], truth)
                    if not rel:
                        continue
                    res = search(cat, q["query"], limit=20)
                    good[q["id"]] = res.best_score or 0.0
                    nd[q["id"]] = ndcg_at(res.asset_ids, rel)
                    totals.append(res.total)
                rows["real"] = {
                    k: {"best_score": good[k], "ndcg@10": round(nd[k], 4)} for k in good
                }
            finally:
                calibration.NULL_HIGH_Q = default_q
                invalidate(cat)
            bad = [v["best_score"] or 0.0 for v in rows["queries"].values()]
            thr = calibration.GOOD_MATCH
            g_all = list(good.values())
            rows["summary"] = {
                "real_queries": len(g_all),
                "unmatched_queries": len(bad),
                "auc_best_score": auc(g_all, bad),
                "real_flagged_no_good_match": sum(g < thr for g in g_all),
                "unmatched_flagged_no_good_match": sum(b < thr for b in bad),
                "unmatched_with_results": sum(v["total"] > 0 for v in rows["queries"].values()),
                "unmatched_mean_results": round(
                    float(np.mean([v["total"] for v in rows["queries"].values()])), 2
                ),
                "unmatched_mean_results_before": round(
                    float(np.mean([v["total_before"] for v in rows["queries"].values()])), 2
                ),
                "real_mean_results": round(float(np.mean(totals)), 2) if totals else 0.0,
                "real_ndcg@10_with_floor": round(float(np.mean(list(nd.values()))), 4)
                if nd
                else 0.0,
                "real_best_score_median": round(float(np.median(g_all)), 4) if g_all else None,
                "unmatched_best_score_max": round(max(bad), 4) if bad else None,
            }
            for h in ("tuning", "held_out"):
                ids = [k for k in good if half(k) == h]
                rows["summary"][f"{h}_auc"] = auc([good[k] for k in ids], bad)
                rows["summary"][f"{h}_real_flagged"] = sum(good[k] < thr for k in ids)
                rows["summary"][f"{h}_ndcg@10_with_floor"] = (
                    round(float(np.mean([nd[k] for k in ids])), 4) if ids else 0.0
                )
            out[corpus][f"q{hq}"] = rows
    return out


# -- latency ---------------------------------------------------------------------------------
GENRES = [
    "Lo-Fi",
    "Rock",
    "Pop",
    "EDM",
    "House",
    "Techno",
    "Ambient",
    "Orchestral",
    "Cinematic",
    "Chiptune",
    "Jazz",
    "Folk",
    "Blues",
    "Metal",
    "Punk",
    "Funk",
    "Soul",
    "Reggae",
    "Hip-Hop",
    "Trap",
    "Country",
    "Classical",
    "Synthwave",
    "Drum-and-Bass",
    "Dubstep",
    "Trance",
    "Disco",
    "Gospel",
    "Latin",
    "World",
]
MOODS = [
    "chill",
    "relaxed",
    "happy",
    "sad",
    "dark",
    "epic",
    "dreamy",
    "angry",
    "romantic",
    "tense",
    "playful",
    "nostalgic",
    "hopeful",
    "mysterious",
    "energetic",
    "calm",
    "aggressive",
    "uplifting",
    "melancholic",
    "peaceful",
    "groovy",
    "eerie",
    "heroic",
    "gritty",
    "warm",
    "cold",
    "bright",
    "moody",
    "spacious",
    "intimate",
    "driving",
    "triumphant",
    "somber",
    "quirky",
]
INSTRUMENTS = [
    "piano",
    "guitar",
    "synth",
    "strings",
    "brass",
    "drums",
    "bass",
    "violin",
    "cello",
    "flute",
    "saxophone",
    "trumpet",
    "organ",
    "pads",
    "bells",
    "choir",
    "vocals",
    "harp",
    "ukulele",
    "banjo",
    "marimba",
    "accordion",
    "kalimba",
    "sitar",
]
NOUNS = [
    "night",
    "river",
    "city",
    "dream",
    "fire",
    "rain",
    "road",
    "star",
    "ocean",
    "forest",
    "heart",
    "shadow",
    "light",
    "storm",
    "summer",
    "winter",
    "echo",
    "mirror",
    "signal",
    "horizon",
    "garden",
    "engine",
    "ghost",
    "crown",
    "harbor",
    "desert",
    "machine",
    "tide",
    "glass",
    "paper",
]


def _syllable_name(rng: random.Random) -> str:
    syl = [
        "ka",
        "lo",
        "mi",
        "ra",
        "ne",
        "zu",
        "ta",
        "vi",
        "so",
        "el",
        "an",
        "or",
        "is",
        "ul",
        "ex",
        "dra",
        "ven",
        "mar",
        "lin",
        "cor",
    ]
    first = "".join(rng.choice(syl) for _ in range(rng.randint(2, 3))).title()
    last = "".join(rng.choice(syl) for _ in range(rng.randint(2, 3))).title()
    return f"{first} {last}"


class EmulatedEncoder:
    """Real MiniLM for queries; track texts as the normalised sum of MiniLM vectors of the
    pool words they contain (so a 100k-track index builds in seconds)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.name = real.name
        self.dim = real.dim
        vocab = sorted({w.lower() for w in GENRES + MOODS + INSTRUMENTS + NOUNS})
        vecs = real.encode(vocab)
        self.word = dict(zip(vocab, vecs, strict=True))
        self.rng = np.random.default_rng(0)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().replace(",", " ").replace(".", " ").split():
                v = self.word.get(w)
                if v is not None:
                    out[i] += v
            out[i] += self.rng.normal(0, 0.05, self.dim).astype(np.float32)
            out[i] /= np.linalg.norm(out[i]) + 1e-12
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.real.encode_query(text)


def synthetic_catalog(work: Path, n: int) -> Catalog:
    cat = open_catalog(work / f"synthetic-{n}")
    have = cat.store.count_assets("music")
    if have >= n:
        return cat
    log(f"inserting {n - have} synthetic tracks...")
    rng = random.Random(42)
    artists = [_syllable_name(rng) for _ in range(max(10, n // 20))]
    now = "2026-01-01T00:00:00.000Z"
    nprng = np.random.default_rng(1)
    with cat.store.transaction() as conn:
        for i in range(have, n):
            g = rng.choice(GENRES)
            moods = rng.sample(MOODS, 3)
            inst = rng.sample(INSTRUMENTS, 2)
            name = f"{rng.choice(NOUNS).title()} {rng.choice(NOUNS).title()}"
            artist = artists[i % len(artists)] if rng.random() < 0.9 else rng.choice(artists)
            cur = conn.execute(
                "INSERT INTO assets (kind, name, artist, album, genre, bpm, duration, "
                "description, tags, content_hash, file_path, created_at, updated_at) "
                "VALUES ('music', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    artist,
                    f"{rng.choice(NOUNS).title()} {rng.choice(MOODS).title()}",
                    g,
                    float(rng.randint(60, 180)),
                    float(rng.randint(30, 300)),
                    f"A {moods[0]} {g.lower()} track with {inst[0]} and {inst[1]}.",
                    ", ".join([*moods[1:], *inst]),
                    f"synthetic-{i}",
                    f"files/none/{i}.wav",
                    now,
                    now,
                ),
            )
            aid = cur.lastrowid
            feats = {
                "rms_dbfs": rng.uniform(-30, -8),
                "dynamics_db": rng.uniform(2, 18),
                "centroid_hz": rng.uniform(600, 4000),
                "key": "C",
                "mode": rng.choice(["major", "minor"]),
                "key_strength": rng.uniform(0.3, 0.9),
                "percussive_ratio": rng.uniform(0.02, 0.6),
                "onset_rate_hz": rng.uniform(0.5, 7),
                "tempo_bpm": 0.0,
            }
            v = nprng.normal(size=64).astype("<f4")
            v /= np.linalg.norm(v)
            conn.execute(
                "INSERT INTO analyses (asset_id, name, version, data, blob, created_at) "
                "VALUES (?, 'search_text', 1, ?, NULL, ?), (?, 'embedding', 1, ?, ?, ?)",
                (
                    aid,
                    json.dumps({"features": feats}),
                    now,
                    aid,
                    json.dumps({"model": "synthetic/v1", "dim": 64}),
                    v.tobytes(),
                    now,
                ),
            )
    return cat


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def percentile(xs: list[float], p: float) -> float:
    return round(float(np.percentile(np.array(xs), p)), 2) if xs else 0.0


def latency(work: Path, n: int, repeats: int) -> dict[str, Any]:
    from tonearm.discovery import search as search_mod

    real = text_model.get_text_encoder()
    cat = synthetic_catalog(work, n)
    queries = [
        q["query"] for q in json.loads((HERE / "search_queries.json").read_text())["queries"]
    ]
    artists = [
        r[0]
        for r in cat.store.execute(
            "SELECT artist FROM assets WHERE artist IS NOT NULL GROUP BY artist LIMIT 10"
        )
    ]
    queries += [f"music like {a}" for a in artists] + artists[:5]
    queries += ["chill piano, no vocals", "epic orchestral without drums"]
    out: dict[str, Any] = {"tracks": n, "queries": len(queries)}

    t0 = time.perf_counter()
    if real is not None:
        emu = EmulatedEncoder(real)
        orig = text_model.get_text_encoder
        text_model.get_text_encoder = lambda: emu  # type: ignore[assignment]
    try:
        idx = search_mod.get_index(cat, emu if real is not None else None)
        out["index_build_s"] = round(time.perf_counter() - t0, 2)
        log(f"index of {idx.size} tracks in {out['index_build_s']} s")
        t0 = time.perf_counter()
        for _ in range(20):
            search_mod.catalog_signature(cat.store)
        out["change_check_ms"] = round((time.perf_counter() - t0) / 20 * 1000, 2)

        def run(method: str, label: str, clear_cache: bool) -> None:
            if not clear_cache:  # warm-up: every query vector in the cache
                for q in queries:
                    search(cat, q, limit=20, method=method)
            wall: list[float] = []
            cpu: list[float] = []
            stages: dict[str, list[list[float]]] = {}
            gc2 = gc.get_stats()[2]["collections"]
            load0 = loadavg()
            for _ in range(repeats):
                for q in queries:
                    if clear_cache and real is not None:
                        real._cache.clear()
                    t, c = time.perf_counter(), time.process_time()
                    res = search(cat, q, limit=20, method=method)
                    cpu.append((time.process_time() - c) * 1000)
                    wall.append((time.perf_counter() - t) * 1000)
                    for k, v in getattr(res, "timings", {}).items():  # older versions: none
                        stages.setdefault(k, []).append(v)
            out[label] = {
                "wall_p50_ms": percentile(wall, 50),
                "wall_p95_ms": percentile(wall, 95),
                "wall_max_ms": round(max(wall), 2),
                "cpu_p50_ms": percentile(cpu, 50),
                "cpu_p95_ms": percentile(cpu, 95),
                "cpu_max_ms": round(max(cpu), 2),
                "n": len(wall),
                "loadavg_before": load0,
                "loadavg_after": loadavg(),
                "full_gc_runs": gc.get_stats()[2]["collections"] - gc2,
                "stages": {
                    k: {
                        "n": len(v),
                        "wall_p50_ms": percentile([x[0] for x in v], 50),
                        "wall_p95_ms": percentile([x[0] for x in v], 95),
                        "cpu_p50_ms": percentile([x[1] for x in v], 50),
                        "cpu_p95_ms": percentile([x[1] for x in v], 95),
                    }
                    for k, v in stages.items()
                },
            }
            log(label, {k: v for k, v in out[label].items() if k != "stages"})

        run("hybrid", "hybrid_cached_query_vector", False)
        if real is not None:
            run("hybrid", "hybrid_uncached_query_vector", True)
        run("keyword", "keyword_only_baseline", False)
        if real is not None:
            run("semantic", "semantic_only", False)
    finally:
        if real is not None:
            text_model.get_text_encoder = orig  # type: ignore[assignment]
    return out


def tag_cost(work: Path, n: int) -> dict[str, Any]:
    """What the musicnn tags add to music ingest: ``n`` real tracks (evenly spaced over the
    ``real`` set's files) ingested with the default analyzers into a fresh catalog, the
    tagger's own time measured inside the same ingest (process CPU seconds)."""
    import shutil

    from tonearm.catalog.ingest import ingest_paths
    from tonearm.discovery import describe, search_analyzer

    files: list[Path] = []
    for d in REAL_DIRS:
        files += sorted(Path(d).rglob("*.ogg")) + sorted(Path(d).rglob("*.mp3"))
    picked = [files[int(i)] for i in np.linspace(0, len(files) - 1, n).round()]
    spent = [0.0]
    real_tags = describe.audio_tags

    def timed(inp: Any, **kw: Any) -> Any:
        c = time.process_time()
        try:
            return real_tags(inp, **kw)
        finally:
            spent[0] += time.process_time() - c

    root = work / "tag-cost"
    shutil.rmtree(root, ignore_errors=True)
    cat = open_catalog(root)
    search_analyzer.audio_tags = timed  # type: ignore[assignment]
    try:
        c0, w0, l0 = time.process_time(), time.perf_counter(), loadavg()
        ingest_paths(cat, picked, kind="music")
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    finally:
        search_analyzer.audio_tags = real_tags  # type: ignore[assignment]
    audio_s = sum(float(a.duration or 0) for a in cat.store.iter_assets("music"))
    return {
        "tracks": len(picked),
        "audio_s": round(audio_s, 1),
        "ingest_cpu_s": round(cpu, 1),
        "ingest_wall_s": round(wall, 1),
        "tagger_cpu_s": round(spent[0], 1),
        "slowdown_vs_without_tagger": round(spent[0] / max(cpu - spent[0], 1e-9), 3),
        "loadavg_before": l0,
        "loadavg_after": loadavg(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/tonearm-bench-search"))
    ap.add_argument("--n-synthetic", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--corpora", default="demo,demo-thin,real,real-neutral,real-content")
    ap.add_argument("--skip-relevance", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument(
        "--tag-sentence",
        default="",
        help="compare where tag words go in the track sentences (search_index.TAG_SENTENCE):"
        " comma-separated variants, e.g. always,undescribed; the relevance runs once each",
    )
    ap.add_argument(
        "--tag-cost", type=int, default=0, help="ingest N real tracks, timing the tagger"
    )
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    enc = text_model.get_text_encoder()
    result: dict[str, Any] = {
        "bench": "search",
        "text_model": text_model.text_model_status(),
        "baseline": "keyword-only (in-memory BM25F over the same fields, discovery/bm25.py)",
        "cpu_count": os.cpu_count(),
    }
    if enc is None:
        log("text model unavailable: semantic and hybrid equal keyword-only")
    if not args.skip_relevance and args.tag_sentence:
        from tonearm.discovery import search_index

        by: dict[str, Any] = {}
        default = search_index.TAG_SENTENCE
        for variant in args.tag_sentence.split(","):
            search_index.TAG_SENTENCE = variant
            log(f"tag words in the sentences: {variant}")
            by[variant] = relevance(args.corpora.split(","), args.work)
        search_index.TAG_SENTENCE = default
        result["relevance_by_tag_sentence"] = by
    elif not args.skip_relevance:
        result["relevance"] = relevance(args.corpora.split(","), args.work)
    if args.tag_cost:
        result["tag_cost"] = tag_cost(args.work, args.tag_cost)
    if not args.skip_latency:
        result["latency"] = latency(args.work, args.n_synthetic, args.repeats)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
