"""Sound effects: categories distinct, variants alike, silence margins, determinism."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from tonearm.demo.synth import SFX_CATEGORIES, render_sfx

SR = 22050


def _feat(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.trim_zeros(y)  # features of the sound, not of the silence margins
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, n_fft=512)
    return np.concatenate([m.mean(1), m.std(1)])


def test_categories_are_distinct_and_variants_alike() -> None:
    feats, labels = [], []
    for cat, info in SFX_CATEGORIES.items():
        for sub in info.subcategories:
            for seed in range(2):
                feats.append(_feat(render_sfx(cat, sub, seed=seed, sr=16000).mono(), 16000))
                labels.append(cat)
    x = np.array(feats)
    x = (x - x.mean(0)) / x.std(0)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(d, np.inf)
    same = [labels[i] == labels[j] for i, j in enumerate(d.argmin(1))]
    assert np.mean(same) >= 0.8
    assert len(SFX_CATEGORIES) >= 10


@pytest.mark.parametrize("cat", sorted(SFX_CATEGORIES))
def test_every_category_renders_deterministically(cat: str) -> None:
    for sub in SFX_CATEGORIES[cat].subcategories:
        a = render_sfx(cat, sub, seed=7, sr=SR)
        b = render_sfx(cat.lower(), sub.lower(), seed=7, sr=SR)
        assert a.channels == 1 and a.sr == SR
        assert np.array_equal(a.samples, b.samples)
        assert np.isfinite(a.samples).all() and 0 < np.abs(a.samples).max() <= 0.9
        c = render_sfx(cat, sub, seed=8, sr=SR)
        assert c.n_samples != a.n_samples or not np.array_equal(a.samples, c.samples)


def test_explicit_silence_margins_and_peak() -> None:
    sig = render_sfx("IMPACTS", "METAL", seed=1, sr=SR, lead_s=0.5, tail_s=0.25, peak=0.5)
    y = sig.mono()
    lead, tail = int(0.5 * SR), int(0.25 * SR)
    assert np.all(y[:lead] == 0) and np.abs(y[lead : lead + 50]).max() > 0
    assert np.all(y[-tail:] == 0)
    assert np.abs(y).max() == pytest.approx(0.5, rel=1e-4)


def test_seeded_margins_vary_and_lengths_span_short_to_long() -> None:
    leads, durs = [], []
    for seed in range(12):
        y = render_sfx("USER INTERFACE", "CLICK", seed=seed, sr=SR).mono()
        leads.append(np.flatnonzero(y)[0] / SR)
    for cat, sub in (("USER INTERFACE", "CLICK"), ("AMBIENCE", "WIND")):
        durs.append(render_sfx(cat, sub, seed=0, sr=SR, lead_s=0, tail_s=0).duration_s)
    assert min(leads) < 0.01 and max(leads) > 0.2
    assert durs[0] < 0.2 and durs[1] > 5.0


def test_unknown_category_or_subcategory() -> None:
    with pytest.raises(ValueError):
        render_sfx("KAZOOS", None, seed=0)
    with pytest.raises(ValueError):
        render_sfx("IMPACTS", "RUBBER DUCK", seed=0)
    sig = render_sfx("IMPACTS", None, seed=0, sr=SR)  # picks a subcategory by seed
    assert sig.n_samples > 0
