"""A similarity learned from the library's own SFX categories, switched on only where it wins.

aisfx vectors carry the categories a library uses, but not with the weights that tell them
apart: linear discriminant analysis fitted on a library's own labelled clips lifts
same-category precision@10 well above every label-free ranking on one real set, while a
projection learned on one library does not carry to another (bench/results/discovery/
NOTES.md, sessions 8 and 9). So the projection is learned per catalog, from the
``category`` field users give their SFX, and it is **self-validated**: the labelled clips
are split in :data:`FOLDS` folds, each fold's clips are ranked by a projection fitted
without their labels, and the learned metric is used only when its precision@10 on those
queries beats the unlabelled ranking (discovery.sfx_rank) by :data:`MIN_GAIN` with a
per-query difference clearly above zero, without finding the held-out sounds themselves
clearly worse. Meaningless categories give a projection that does not generalise across
folds, so the library keeps today's ranking. Measured on two real sets in
``bench/sfx_learned.py``.

The projection applies to any vector, so a query clip without a category is ranked in the
learned space too. It is learned per caller from the categories that caller can see (the
shared catalog's and its own account's, never another account's) and cached per visible
labelled set (:func:`library_choice`), so ingesting unlabelled sounds never refits it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tonearm.core.embeddings.base import l2_normalize

MIN_CLASSES = 5  # categories with at least MIN_PER_CLASS clips needed to learn anything
MIN_PER_CLASS = 5
SHRINKAGE = 0.3  # within-class covariance shrunk toward its mean variance
FOLDS = 3
# weights of the learned cosine tried by the validation (the rest is the unlabelled
# ranking's score): alone where the categories cover the library, half where few do
BLENDS = (1.0, 0.7, 0.5, 0.3)
MIN_GAIN = 1.05  # validation precision@10 of the learned metric / the unlabelled one
MAX_FIT_ROWS = 5000  # labelled rows used to fit (bounded cost on a large catalog)
MAX_VALIDATION_QUERIES = 600
K = 10


@dataclass(frozen=True)
class Projection:
    """``z = l2_normalize((v - mean) @ proj)``.

    Attributes
    ----------
    mean : np.ndarray, shape (dim,)
    proj : np.ndarray, shape (dim, k), k = classes - 1
    """

    mean: np.ndarray
    proj: np.ndarray

    def apply(self, v: np.ndarray) -> np.ndarray:
        """Projected, L2-normalized rows, shape (..., k)."""
        return l2_normalize((np.asarray(v, np.float32) - self.mean) @ self.proj)


def fit_lda(x: np.ndarray, y: np.ndarray, shrinkage: float = SHRINKAGE) -> Projection:
    """Linear discriminant analysis of the rows of ``x`` (shape (n, dim)) with class labels
    ``y`` (shape (n,)): the directions that maximise between-class over (shrunk)
    within-class variance, at most classes - 1 of them, scaled to unit within-class
    variance."""
    x = np.asarray(x, np.float64)
    classes, inv = np.unique(y, return_inverse=True)
    n, dim = x.shape
    counts = np.bincount(inv, minlength=len(classes)).astype(np.float64)
    means = np.zeros((len(classes), dim))
    np.add.at(means, inv, x)
    means /= counts[:, None]
    mu = x.mean(axis=0)
    xc = x - means[inv]
    sw = xc.T @ xc / n
    sw = (1.0 - shrinkage) * sw + shrinkage * float(np.trace(sw)) / dim * np.eye(dim)
    # whiten the within-class scatter, then the between-class directions are the principal
    # axes of the whitened class means (the generalized eigenproblem, in one eigh + a
    # small SVD)
    lam, u = np.linalg.eigh(sw)
    white = u / np.sqrt(np.maximum(lam, 1e-12))
    mb = ((means - mu) @ white) * np.sqrt(counts / n)[:, None]
    k = max(1, min(len(classes) - 1, dim))
    _, _, vt = np.linalg.svd(mb, full_matrices=False)
    return Projection(mu.astype(np.float32), (white @ vt[:k].T).astype(np.float32))


def usable(codes: np.ndarray) -> np.ndarray:
    """Mask of the rows whose category (code > 0) has at least :data:`MIN_PER_CLASS`
    rows."""
    codes = np.asarray(codes)
    ok = codes > 0
    if not ok.any():
        return ok
    vals, counts = np.unique(codes[ok], return_counts=True)
    big = vals[counts >= MIN_PER_CLASS]
    return ok & np.isin(codes, big)


def precision_at_k(
    scores: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    k: int = K,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Per-query same-label precision over the first min(k, relevant) results.

    Parameters
    ----------
    scores : np.ndarray, shape (q, n)
        Scores of every library row for each query.
    rows : np.ndarray, shape (q,)
        The query's own row (excluded from its results).
    labels : np.ndarray, shape (n,)
        Category code of each row (<= 0: none, never relevant).
    candidates : np.ndarray of bool, shape (n,), optional
        The rows that may be returned (default all).

    Returns
    -------
    np.ndarray, shape (q,)
        NaN for a query with no relevant candidate.
    """
    return _precisions([scores], rows, labels, k, candidates)[0]


def _precisions(
    score_sets: list[np.ndarray],
    rows: np.ndarray,
    labels: np.ndarray,
    k: int,
    candidates: np.ndarray | None,
) -> list[np.ndarray]:
    """:func:`precision_at_k` of several score matrices for the same queries."""
    rows = np.asarray(rows, np.int64)
    n = len(labels)
    if len(rows) == 0:
        return [np.zeros(0) for _ in score_sets]
    cand = np.ones(n, bool) if candidates is None else np.asarray(candidates, bool)
    q = np.arange(len(rows))
    ok = np.broadcast_to(cand, (len(rows), n)).copy()
    ok[q, rows] = False
    rel = (labels[None, :] == labels[rows][:, None]) & (labels > 0)[None, :] & ok
    kk = np.minimum(k, rel.sum(axis=1))
    has = kk > 0
    kmax = min(k, n)
    outs = []
    for scores in score_sets:
        s = np.where(ok, np.asarray(scores, np.float32), -np.inf)
        top = np.argpartition(-s, kmax - 1, axis=1)[:, :kmax]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        hits = np.cumsum(np.take_along_axis(rel, top, axis=1), axis=1)
        out = np.full(len(rows), np.nan)
        out[has] = hits[q[has], kk[has] - 1] / kk[has]
        outs.append(out)
    return outs


def folds_of(codes: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Fold number (0 .. folds-1) of each row, stratified by category, fixed seed."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(codes), np.int64)
    for c in np.unique(codes):
        idx = np.flatnonzero(codes == c)
        out[idx[rng.permutation(len(idx))]] = np.arange(len(idx)) % folds
    return out


@dataclass
class Choice:
    """What similar-SFX ranks by for one library, and why.

    ``metric`` is "learned" or "unlabelled" (discovery.sfx_rank's ranking, as without
    categories). ``validation``: precision@10 of both on the held-out folds."""

    metric: str
    reason: str
    labelled: int
    categories: int
    validation: dict[str, float] = field(default_factory=dict)
    projection: Projection | None = None
    z: np.ndarray | None = None  # the library's rows in the learned space
    blend: float = 1.0  # weight of the learned cosine in the score

    def status(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "reason": self.reason,
            "labelled": self.labelled,
            "categories": self.categories,
            "validation": self.validation,
        }


BaseScores = Callable[[np.ndarray], np.ndarray]


def choose(
    m: np.ndarray,
    codes: np.ndarray,
    base: BaseScores,
    *,
    blends: tuple[float, ...] = BLENDS,
    min_gain: float = MIN_GAIN,
    seed: int = 0,
) -> Choice:
    """Fit the learned metric on the labelled rows of ``m`` and keep it only if it wins.

    Parameters
    ----------
    m : np.ndarray, shape (n, dim)
        The library's vectors.
    codes : np.ndarray, shape (n,)
        Category code of each row (<= 0: none).
    base : callable
        ``base(rows)`` -> scores in [0, 1], shape (len(rows), n): the unlabelled ranking of
        the whole library for the library rows ``rows`` taken as queries.

    Returns
    -------
    Choice
        "learned" (with the projection fitted on every row of a category of at least
        :data:`MIN_PER_CLASS`) only when, over :data:`FOLDS` folds of the labelled rows (each
        fold ranked by a projection fitted without its labels), the best of ``blends``
        reaches ``min_gain`` times the unlabelled ranking's mean precision@10 with a mean
        per-query gain more than two standard errors above zero, and is not clearly worse
        (two standard errors) than the unlabelled ranking at finding the held-out rows
        themselves (the "unseen" measure).
        The queries include the rows of categories too small to fit on: they stand for the
        categories the projection has not seen.
    """
    codes = np.asarray(codes, np.int64)
    ok = usable(codes)
    n_cat = len(np.unique(codes[ok]))
    n_lab = int(ok.sum())
    if n_cat < MIN_CLASSES:
        return Choice("unlabelled", f"fewer than {MIN_CLASSES} categories of "
                      f"{MIN_PER_CLASS}+ sounds", n_lab, n_cat)  # fmt: skip
    rng = np.random.default_rng(seed)
    lab = np.where(codes > 0, codes, 0)
    vals, counts = np.unique(lab[lab > 0], return_counts=True)
    asked = np.isin(lab, vals[counts >= 2])  # a query needs one other of its category
    fold = np.full(len(codes), -1)
    fold[asked] = folds_of(lab[asked], FOLDS, seed)
    # two measures per query: "labelled", ranked among the whole library with the fitted
    # rows as its relevant neighbours (what a user whose library is mostly labelled sees),
    # and "unseen", ranked among the rows whose labels were not in the fit only (as the
    # library's unlabelled sounds are; the fitted rows would flatter the projection there)
    p_learned: dict[str, list[list[np.ndarray]]] = {"labelled": [], "unseen": []}
    p_base: dict[str, list[np.ndarray]] = {"labelled": [], "unseen": []}
    for f in range(FOLDS):
        test = np.flatnonzero(fold == f)
        train = np.flatnonzero(ok & (fold != f))
        if len(test) > MAX_VALIDATION_QUERIES // FOLDS:
            test = rng.choice(test, MAX_VALIDATION_QUERIES // FOLDS, replace=False)
        proj = _fit(m, lab, train, rng)
        z = proj.apply(m)
        b = base(test)
        cos = z[test] @ z.T
        unseen = np.ones(len(codes), bool)
        unseen[train] = False
        sets = [_blend(cos, b, w) for w in blends] + [b]
        for how, cand in (("labelled", None), ("unseen", unseen)):
            *pl_f, pb_f = _precisions(sets, test, lab, K, cand)
            p_learned[how].append(pl_f)
            p_base[how].append(pb_f)

    def stack(how: str) -> tuple[np.ndarray, np.ndarray]:
        """(learned (blends, q), unlabelled (q,)) over the queries with a relevant row."""
        pb = np.concatenate(p_base[how])
        pl = np.concatenate([np.stack(x) for x in p_learned[how]], axis=1)
        keep = ~np.isnan(pb)
        return pl[:, keep], pb[keep]

    pl, pb = stack("labelled")
    pu, pub = stack("unseen")
    if len(pb) < 2:
        return Choice("unlabelled", "too few validation queries", n_lab, n_cat)
    best = int(np.argmax(pl.mean(axis=1)))
    w = blends[best]
    d = pl[best] - pb
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    val = {"queries": len(d), "blend": w,
           "precision@10_learned": round(float(pl[best].mean()), 4),
           "precision@10_unlabelled": round(float(pb.mean()), 4),
           "unseen_queries": len(pub),
           "unseen_precision@10_learned": round(float(pu[best].mean()), 4) if len(pub) else 0.0,
           "unseen_precision@10_unlabelled": round(float(pub.mean()), 4) if len(pub) else 0.0,
           }  # fmt: skip
    if not (pl[best].mean() >= min_gain * pb.mean() and d.mean() > 2.0 * se):
        return Choice("unlabelled", "the learned metric did not win on held-out folds",
                      n_lab, n_cat, val)  # fmt: skip
    du = pu[best] - pub
    if len(du) > 1 and du.mean() < -2.0 * float(du.std(ddof=1) / np.sqrt(len(du))):
        return Choice("unlabelled", "the learned metric ranked sounds it was not fitted on "
                      "clearly worse", n_lab, n_cat, val)  # fmt: skip
    proj = _fit(m, lab, np.flatnonzero(ok), rng)
    return Choice("learned", "won on held-out folds", n_lab, n_cat, val, proj, proj.apply(m), w)


def _fit(m: np.ndarray, lab: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> Projection:
    if len(rows) > MAX_FIT_ROWS:
        rows = rng.choice(rows, MAX_FIT_ROWS, replace=False)
    return fit_lda(m[rows], lab[rows])


def _blend(learned: np.ndarray, base: np.ndarray, blend: float) -> np.ndarray:
    return blend * np.clip(learned, 0.0, 1.0) + (1.0 - blend) * base


def scores(
    choice: Choice, q: np.ndarray, base: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """Scores in [0, 1] of the library rows ``rows`` (a mask or indices; default all) for
    the query vector ``q`` (shape (dim,)), given the unlabelled ranking's scores ``base`` of
    those rows: the blend when the learned metric is on, else ``base``."""
    if choice.metric != "learned" or choice.projection is None or choice.z is None:
        return base
    z = choice.z if rows is None else choice.z[rows]
    return np.asarray(_blend(z @ choice.projection.apply(q), base, choice.blend), np.float32)


# -- per-account cache ---------------------------------------------------------------------------
_LOCK = threading.Lock()
REUSE_SHARE = 0.05  # a labelled set this close to a fitted one reuses its choice
MAX_CACHED = 32  # choices kept per model (one per distinct visible labelled set)


def labels_version(ids: np.ndarray, codes: np.ndarray) -> str:
    """A short digest of (asset ids, category codes)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(np.ascontiguousarray(ids, np.int64).tobytes())
    h.update(np.ascontiguousarray(codes, np.int64).tobytes())
    return h.hexdigest()


def visible(ids: np.ndarray, hidden: frozenset[int]) -> np.ndarray:
    """Mask of the rows of ``ids`` (shape (n,)) not in ``hidden`` (other accounts' assets)."""
    ids = np.asarray(ids, np.int64)
    if not hidden:
        return np.ones(len(ids), bool)
    return ~np.isin(ids, np.fromiter(hidden, np.int64, len(hidden)))


@dataclass
class _Entry:
    """A cached choice: the labelled set it was fitted on (``basis``: asset id -> category
    code, and that set's digest) and the library rows projected for the last ids seen."""

    choice: Choice
    basis: dict[int, int]
    basis_version: str
    projected: tuple[str, np.ndarray] | None = None  # (digest of the ids, their rows' z)


def library_choice(
    cache: dict[str, object],
    model_id: str,
    ids: np.ndarray,
    m: np.ndarray,
    codes: np.ndarray,
    seen: np.ndarray,
    base: BaseScores,
) -> Choice:
    """:func:`choose` for what one caller can see, cached per visible labelled set.

    Parameters
    ----------
    ids, m, codes : np.ndarray, shapes (n,), (n, dim), (n,)
        Every row of the library: asset ids, vectors, category codes (<= 0: none).
    seen : np.ndarray of bool, shape (n,)
        The rows the caller may see (the shared catalog and its own account's). Only their
        categories are fitted on and validated with, so one account's labels never steer
        another's ranking.
    base : callable
        The unlabelled ranking among the visible rows: ``base(rows)`` with ``rows`` indexing
        ``m[seen]``, shape (len(rows), seen.sum()).

    Returns
    -------
    Choice
        With ``z`` the projection of every row of ``m`` (``None`` when unlabelled).

    The choice is keyed by the visible labelled set (asset ids and categories), not by the
    whole library: adding or removing unlabelled sounds reuses it (the projection applies
    to any vector; only ``z`` is recomputed). A labelled set that differs from an already
    fitted one, all of whose sounds the caller can still see, in fewer than
    :data:`REUSE_SHARE` of its labelled rows (sounds labelled, unlabelled, deleted or
    recategorized, counted against the set it was fitted on, so changes add up) reuses
    that fit; a larger change refits. The latest choice made for a caller who sees every
    row is also kept under ``cache["similar_sfx_status"]`` (shown by /healthz, which any
    client can read: a choice fitted on one account's own categories is not shown there).
    """
    ids = np.asarray(ids, np.int64)
    codes = np.asarray(codes, np.int64)
    seen = np.asarray(seen, bool)
    lab = seen & (codes > 0)
    lab_ids, lab_codes = ids[lab], codes[lab]
    seen_ids = set(ids[seen].tolist())
    version = labels_version(lab_ids, lab_codes)
    key = f"sfx_metric:{model_id}"
    with _LOCK:
        entries = cache.get(key)
        if not isinstance(entries, dict):
            entries = cache[key] = {}
        entry = entries.pop(version, None)
        if entry is not None and entry.basis_version != version and not _all_seen(entry, seen_ids):
            entry = None  # reused from a fit on sounds this caller cannot see
        if entry is None:
            entry = _reusable(entries.values(), lab_ids, lab_codes, seen_ids)
        if entry is not None:
            entries[version] = entry  # most recently used last
    if entry is None:
        choice = choose(m[seen], codes[seen], base)
        choice.z = None
        basis = dict(zip(lab_ids.tolist(), lab_codes.tolist(), strict=True))
        entry = _Entry(choice, basis, version)
        with _LOCK:
            entries[version] = entry
            while len(entries) > MAX_CACHED:
                entries.pop(next(iter(entries)))
    choice = entry.choice
    if choice.projection is not None:
        ids_version = labels_version(ids, np.zeros(0, np.int64))
        got = entry.projected  # one read: another thread may replace it
        if got is None or got[0] != ids_version:
            got = entry.projected = (ids_version, choice.projection.apply(m))
        choice = replace(choice, z=got[1])
    if not seen.all():
        return choice
    with _LOCK:
        cache["similar_sfx_status"] = {"model": model_id, "labels_version": version,
                                       "fitted_labels_version": entry.basis_version,
                                       **choice.status()}  # fmt: skip
    return choice


def _reusable(
    entries: Iterable[_Entry], lab_ids: np.ndarray, lab_codes: np.ndarray, seen_ids: set[int]
) -> _Entry | None:
    """The cached fit closest to the labelled set (ids, codes), if fewer than
    :data:`REUSE_SHARE` of the set's rows differ from the set it was fitted on and every
    sound it was fitted on is visible."""
    if not len(lab_ids):
        return None
    now = dict(zip(lab_ids.tolist(), lab_codes.tolist(), strict=True))
    best, best_diff = None, REUSE_SHARE * len(now)
    for e in entries:
        diff = _changed(e.basis, now)
        if diff < best_diff and _all_seen(e, seen_ids):
            best, best_diff = e, diff
    return best


def _changed(basis: dict[int, int], now: dict[int, int]) -> int:
    """Rows labelled, unlabelled or recategorized between two labelled sets (id -> code)."""
    return sum(basis.get(i) != c for i, c in now.items()) + sum(i not in now for i in basis)


def _all_seen(entry: _Entry, seen_ids: set[int]) -> bool:
    return all(i in seen_ids for i in entry.basis)
