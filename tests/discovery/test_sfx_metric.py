"""Similar SFX with a metric learned from the library's categories (discovery.sfx_metric):
it switches on where the categories are learnable, stays off where they are meaningless,
never validates on labels it was fitted with, and leaves the AudioScape response alone."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.core.embeddings.base import l2_normalize
from tonearm.discovery import sfx_metric, sfx_rank
from tonearm.discovery.embeddings import pack
from tonearm.storage.base import Analysis

MODEL = "aisfx-ismir2022/v2-max"  # similar-SFX re-ranks vectors of the aisfx family only
CLASSES = 8
PER_CLASS = 16
DISTRACTORS = 40


def _library(seed: int = 0, dim: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Synthesized SFX vectors like the real ones: a common offset, the categories apart
    along a few quiet directions, and most of the variance in directions that say nothing
    about the category (level, length, room...), which no unlabelled ranking can tell
    apart from the useful ones. Labels 1..CLASSES, 0 for the unlabelled distractors."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.repeat(np.arange(1, CLASSES + 1), PER_CLASS), np.zeros(DISTRACTORS, int)]
    centers = np.zeros((CLASSES + 1, dim))
    centers[1:, :CLASSES] = 1.2 * rng.standard_normal((CLASSES, CLASSES))
    m = 3.0 + centers[labels] + 0.3 * rng.standard_normal((len(labels), dim))
    m[:, CLASSES:] += 1.0 * rng.standard_normal((len(labels), dim - CLASSES))
    return l2_normalize(m.astype(np.float32)), labels


def _unlabelled(m: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The library-whitened space and the ranking similar-SFX uses without categories."""
    z = sfx_rank.fit_whitening(m).apply(m)

    def base(rows: np.ndarray) -> np.ndarray:
        out = np.ones((len(rows), len(z)), np.float32)
        for i, r in enumerate(rows):
            others = np.arange(len(z)) != r
            out[i, others] = sfx_rank.rerank_scores(z[r], z[others])
        return out

    return z, base


def _given(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(categories the user gave: every other clip of each class, the query rows: the other
    clips, which carry no category)."""
    given = labels.copy()
    rows = np.flatnonzero(labels > 0)[1::2]
    given[rows] = 0
    return given, rows


def test_learned_metric_switches_on_and_ranks_same_category_higher() -> None:
    m, labels = _library()
    given, queries = _given(labels)
    _, base = _unlabelled(m)
    ch = sfx_metric.choose(m, given, base)
    assert ch.metric == "learned", ch.validation
    assert ch.categories == CLASSES and ch.labelled == int((given > 0).sum())
    b = base(queries)
    learned = np.stack([sfx_metric.scores(ch, m[r], b[i]) for i, r in enumerate(queries)])
    assert learned.min() >= 0.0 and learned.max() <= 1.0
    # scored by the true categories of query clips whose category was never given
    p_learned = sfx_metric.precision_at_k(learned, queries, labels).mean()
    p_base = sfx_metric.precision_at_k(b, queries, labels).mean()
    assert p_learned >= 1.5 * p_base, (p_learned, p_base)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_meaningless_categories_keep_the_unlabelled_ranking(seed: int) -> None:
    m, labels = _library(seed)
    given, queries = _given(labels)
    lab = np.flatnonzero(given > 0)
    shuffled = given.copy()
    shuffled[lab] = given[lab][np.random.default_rng(seed).permutation(len(lab))]
    _, base = _unlabelled(m)
    ch = sfx_metric.choose(m, shuffled, base)
    assert ch.metric == "unlabelled", ch.validation
    b = base(queries[:3])[0]
    assert sfx_metric.scores(ch, m[queries[0]], b) is b


def test_too_few_categories_keep_the_unlabelled_ranking() -> None:
    m, labels = _library()
    given = np.where(labels <= 4, labels, 0)  # 4 categories
    ch = sfx_metric.choose(m, given, _unlabelled(m)[1])
    assert ch.metric == "unlabelled" and ch.categories == 4 and not ch.validation


def test_validation_never_fits_on_the_labels_it_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each validation fold is ranked by a projection fitted without that fold's rows."""
    m, labels = _library()
    events: list[tuple[str, set[int]]] = []
    fit = sfx_metric._fit

    def spy_fit(m: np.ndarray, lab: np.ndarray, rows: np.ndarray, rng: Any) -> Any:
        events.append(("fit", {int(r) for r in rows}))
        return fit(m, lab, rows, rng)

    monkeypatch.setattr(sfx_metric, "_fit", spy_fit)
    _, base = _unlabelled(m)

    def spy_base(rows: np.ndarray) -> np.ndarray:
        events.append(("score", {int(r) for r in rows}))
        return base(rows)

    ch = sfx_metric.choose(m, labels, spy_base)
    folds = [(events[i][1], events[i + 1][1]) for i in range(0, 2 * sfx_metric.FOLDS, 2)]
    assert [e[0] for e in events[: 2 * sfx_metric.FOLDS]] == ["fit", "score"] * sfx_metric.FOLDS
    for train, test in folds:
        assert test and not train & test
    scored = set().union(*(t for _, t in folds))
    assert scored == {int(i) for i in np.flatnonzero(labels > 0)}  # every labelled clip once
    assert ch.metric == "learned"


def _choices(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the fits (calls of choose) library_choice makes."""
    calls: list[int] = []
    choose = sfx_metric.choose

    def spy(m: np.ndarray, codes: np.ndarray, base: Any, **kw: Any) -> sfx_metric.Choice:
        calls.append(len(m))
        return choose(m, codes, base, **kw)

    monkeypatch.setattr(sfx_metric, "choose", spy)
    return calls


def _choice(cache: dict[str, object], ids: np.ndarray, m: np.ndarray, codes: np.ndarray) -> Any:
    seen = np.ones(len(m), bool)
    return sfx_metric.library_choice(cache, MODEL, ids, m, codes, seen, _unlabelled(m)[1])


def test_library_choice_is_kept_for_new_unlabelled_sounds_and_refits_on_category_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, labels = _library()
    ids = np.arange(1, len(m) + 1, dtype=np.int64)
    fits = _choices(monkeypatch)
    cache: dict[str, object] = {}
    a = _choice(cache, ids, m, labels)
    assert a.metric == "learned" and len(fits) == 1 and a.z is not None and len(a.z) == len(m)
    assert _choice(cache, ids, m, labels).projection is a.projection and len(fits) == 1
    # 30 unlabelled sounds more (ingest): the same fit, the new rows projected too
    extra = _library(seed=5)[0][:30]
    m2, ids2 = np.r_[m, extra], np.r_[ids, np.arange(1000, 1030)]
    labels2 = np.r_[labels, np.zeros(30, np.int64)]
    b = _choice(cache, ids2, m2, labels2)
    assert len(fits) == 1 and b.projection is a.projection
    assert b.z is not None and np.allclose(b.z, a.projection.apply(m2))  # type: ignore[union-attr]
    # one sound of 128 recategorized (< 5 %): the last fit is reused
    changed = labels2.copy()
    changed[0] = 2
    assert _choice(cache, ids2, m2, changed).projection is a.projection and len(fits) == 1
    # 6 of 128 in all, counted against the fitted set (4.7 %): still reused; 7 (5.5 %): refitted
    changed[[16, 32, 48, 64, 80]] = 1
    assert _choice(cache, ids2, m2, changed).projection is a.projection and len(fits) == 1
    changed[96] = 1
    c = _choice(cache, ids2, m2, changed)
    assert len(fits) == 2 and c.projection is not a.projection
    # categories that no longer qualify: refitted, and unlabelled
    fewer = np.where(labels2 <= 4, labels2, 0)
    assert _choice(cache, ids2, m2, fewer).metric == "unlabelled" and len(fits) == 3
    assert cache["similar_sfx_status"]["metric"] == "unlabelled"  # type: ignore[index]


def test_each_account_gets_the_choice_of_the_labels_it_can_see(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Shared catalog: half of each category labelled. Account A: the other half, with
    shuffled (hostile) categories. B, with no labels of its own, gets the shared catalog's
    choice whether A has queried or not; A gets its own fit."""
    m, labels = _library()
    ids = np.arange(1, len(m) + 1, dtype=np.int64)
    given, a_rows = _given(labels)
    codes = given.copy()
    codes[a_rows] = labels[a_rows][np.random.default_rng(0).permutation(len(a_rows))]
    seen_by_b = np.ones(len(m), bool)
    seen_by_b[a_rows] = False
    z = _unlabelled(m)[0]

    def choice(cache: dict[str, object], seen: np.ndarray) -> Any:
        zs = z[seen]
        return sfx_metric.library_choice(
            cache, MODEL, ids, m, codes, seen, lambda rows: sfx_rank.rerank_rows(zs, rows)
        )

    fits = _choices(monkeypatch)
    alone: dict[str, object] = {}
    b_alone = choice(alone, seen_by_b)
    shared: dict[str, object] = {}
    a = choice(shared, np.ones(len(m), bool))
    b = choice(shared, seen_by_b)
    assert len(fits) == 3 and b is not a and b.labelled == int((given > 0).sum())
    assert b.metric == b_alone.metric == "learned" and b.validation == b_alone.validation
    assert np.array_equal(b.projection.proj, b_alone.projection.proj)  # type: ignore[union-attr]
    assert not np.array_equal(a.projection.proj if a.projection else 0, b.projection.proj)  # type: ignore[union-attr]


# -- through the service and the API ---------------------------------------------------------
def _add(
    catalog: Catalog, m: np.ndarray, given: np.ndarray, tenants: np.ndarray | None = None
) -> list[str]:
    names = {c: f"CAT{c}" for c in range(1, CLASSES + 1)}
    ids = []
    for i, v in enumerate(m):
        data, blob = pack(v, MODEL)
        a = catalog.store.add_asset(
            {
                "kind": "sfx",
                "name": f"clip {i}",
                "duration": 1.0,
                "content_hash": hashlib.sha256(f"metric-{i}".encode()).hexdigest(),
                "file_path": f"files/{i}.wav",
                "category": names.get(int(given[i])),
                "tenant": None if tenants is None else tenants[i],
            },
            [Analysis("", "embedding", 1, data, blob)],
        )
        ids.append(a.asset_id)
    return ids


SFX_FIELDS = {"asset_id", "name", "description", "category", "subcategory", "tags", "duration",
              "score", "created_at", "updated_at", "creator_id", "creator_name",
              "true_peak_dbtp", "sound_start_sec", "sound_end_sec"}  # fmt: skip


def _similar_sfx(client: TestClient, key: str, asset_id: str, limit: int) -> dict[str, Any]:
    """The body of a 200 answer of GET /developer/v1/sfx/similar for ``asset_id``."""
    res = client.get(
        "/developer/v1/sfx/similar",
        params={"asset_id": asset_id, "limit": limit},
        headers={"x-api-key": key},
    )
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def test_similar_sfx_api_uses_the_learned_metric_in_the_same_response_shape(
    catalog: Catalog, client: TestClient, api_key: str
) -> None:
    m, labels = _library()
    given, queries = _given(labels)
    ids = _add(catalog, m, given)
    row_of = {a: i for i, a in enumerate(ids)}
    z, base = _unlabelled(m)
    got, expected_plain = [], []
    for r in queries:
        body = _similar_sfx(client, api_key, ids[r], 10)
        assert set(body) == {"tracks", "meta"} and set(body["meta"]) == {"total", "limit",
                                                                         "offset"}  # fmt: skip
        assert all(set(t) == SFX_FIELDS for t in body["tracks"]) and len(body["tracks"]) == 10
        assert all(0.0 <= t["score"] <= 1.0 for t in body["tracks"])
        top = [row_of[str(t["asset_id"])] for t in body["tracks"]]
        got.append(np.mean(labels[top] == labels[r]))
        others = np.arange(len(m)) != r
        s = sfx_rank.rerank_scores(z[r], z[others])
        plain_top = np.flatnonzero(others)[np.argsort(-s, kind="stable")[:10]]
        expected_plain.append(np.mean(labels[plain_top] == labels[r]))
    assert np.mean(got) >= 1.3 * np.mean(expected_plain), (np.mean(got), np.mean(expected_plain))
    health = client.get("/healthz").json()
    assert health["similar_sfx"]["metric"] == "learned"
    assert health["similar_sfx"]["categories"] == CLASSES


def test_one_accounts_categories_never_steer_anothers_similar_sfx(
    catalog: Catalog, client: TestClient
) -> None:
    """The shared catalog holds unlabelled SFX; account A uploads its own and labels them.
    B's similar-SFX answers are the same before and after A's labels; A's switch A's
    metric on; with none of its own, B gets the shared catalog's choice. /healthz, which
    any client reads, shows only a choice fitted on the whole library, never one
    account's view of it."""
    from tonearm.catalog.keys import create_key

    m, labels = _library()
    given, queries = _given(labels)
    own = given > 0  # A's uploads: the clips that will carry a category
    ids = _add(catalog, m, np.zeros_like(given), tenants=np.where(own, "acme", None))
    a, _ = create_key(catalog.store, "a", scopes="read,write", account="acme")
    b, _ = create_key(catalog.store, "b", scopes="read,write", account="beta")
    shared = [int(q) for q in queries[:8]]  # unlabelled shared clips, seen by both

    def answers(key: str) -> list[list[tuple[str, float]]]:
        out = []
        for r in shared:
            tracks = _similar_sfx(client, key, ids[r], 20)["tracks"]
            out.append([(str(t["asset_id"]), t["score"]) for t in tracks])
        return out

    before = answers(b)
    assert client.get("/healthz").json()["similar_sfx"] is None  # B sees part of the library
    for i in np.flatnonzero(own):  # A labels its uploads through the API
        r = client.patch(
            f"/developer/v1/assets/{ids[i]}",
            headers={"x-api-key": a},
            json={"category": f"CAT{given[i]}"},
        )
        assert r.status_code == 200, r.text
    assert answers(b) == before
    assert client.get("/healthz").json()["similar_sfx"] is None  # B's view is partial
    answers(a)  # B owns nothing: A's view is the whole library's, which /healthz may show
    health = client.get("/healthz").json()["similar_sfx"]
    assert health["metric"] == "learned" and health["categories"] == CLASSES
    assert answers(b) == before
