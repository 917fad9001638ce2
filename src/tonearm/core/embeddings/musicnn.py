"""The musicnn music taggers (Pons & Serra, 2019), ported to torch.

The ``musicnn`` wheel (PyPI, ISC licence) carries two trained taggers as TensorFlow 1
checkpoints: ``MTT_musicnn`` (MagnaTagATune: 50 tags such as guitar, piano, techno,
ambient, female vocal) and ``MSD_musicnn`` (Million Song Dataset: 50 tags such as rock,
jazz, chillout, acoustic, happy, sad). TensorFlow is not needed: the checkpoint bundle is
read by :func:`read_tf_bundle` (its ``.index`` is a small table of tensor name -> offset in
the ``.data`` file) and the network, a few convolutions and dense layers, is rebuilt here
with the same padding and layer order (:class:`_MusicnnNet`). Install the wheel with
``--no-deps`` (it pins an old TensorFlow that is not used).

Input: 96-band log-mel patches of 187 frames (3 s at 16 kHz, hop 256), as the original
front end computes them (:func:`log_mel`); output: one probability per tag and patch,
averaged over the patches of a track (:meth:`MusicTagger.tag`).
"""

from __future__ import annotations

import importlib.util
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.core.audio.signal import Signal

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s: what the models were trained on
BN_EPS = 1e-3  # tf.layers.batch_normalization's default

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
LABELS = {"MTT_musicnn": MTT_LABELS, "MSD_musicnn": MSD_LABELS}


class TaggerUnavailable(RuntimeError):
    """The tagger cannot run here (torch or musicnn missing, or a broken checkpoint)."""


def musicnn_available() -> tuple[bool, str]:
    """(available, reason) without importing torch."""
    for mod in ("torch", "musicnn"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError, AttributeError):
            found = False
        if not found:
            return False, f"python package {mod!r} is not installed"
    return True, "ok"


# -- the checkpoint ----------------------------------------------------------------------------
def _varint(b: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        c = b[i]
        i += 1
        out |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return out, i


def _table_block(data: bytes, off: int, size: int) -> list[tuple[bytes, bytes]]:
    """Key/value entries of one uncompressed block of a TensorFlow table file."""
    if data[off + size] != 0:
        raise TaggerUnavailable("compressed checkpoint index blocks are not supported")
    body = data[off : off + size]
    n_restarts = struct.unpack("<I", body[-4:])[0]
    end = len(body) - 4 - 4 * n_restarts
    i, key, out = 0, b"", []
    while i < end:
        shared, i = _varint(body, i)
        unshared, i = _varint(body, i)
        n_value, i = _varint(body, i)
        key = key[:shared] + body[i : i + unshared]
        i += unshared
        out.append((key, body[i : i + n_value]))
        i += n_value
    return out


def _proto_fields(b: bytes) -> dict[int, list[Any]]:
    """Field number -> values of a protobuf message (varints and length-delimited only)."""
    i = 0
    out: dict[int, list[Any]] = {}
    while i < len(b):
        tag, i = _varint(b, i)
        field, wire = tag >> 3, tag & 7
        v: Any
        if wire == 0:
            v, i = _varint(b, i)
        elif wire == 2:
            n, i = _varint(b, i)
            v, i = b[i : i + n], i + n
        elif wire == 5:
            v, i = b[i : i + 4], i + 4
        elif wire == 1:
            v, i = b[i : i + 8], i + 8
        else:
            raise TaggerUnavailable(f"unexpected protobuf wire type {wire}")
        out.setdefault(field, []).append(v)
    return out


_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}
_TABLE_MAGIC = 0xDB4775248B80FB57


def read_tf_bundle(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of a single-shard TensorFlow checkpoint (``prefix.index`` +
    ``prefix.data-00000-of-00001``), by variable name; no TensorFlow needed."""
    index = Path(f"{prefix}.index").read_bytes()
    data = Path(f"{prefix}.data-00000-of-00001").read_bytes()
    footer = index[-48:]
    if len(index) < 48 or struct.unpack("<Q", footer[-8:])[0] != _TABLE_MAGIC:
        raise TaggerUnavailable(f"{prefix}.index is not a TensorFlow checkpoint index")
    j = _varint(footer, _varint(footer, 0)[1])[1]  # skip the metaindex handle
    off, j = _varint(footer, j)
    size, _ = _varint(footer, j)
    out: dict[str, np.ndarray] = {}
    for _, handle in _table_block(index, off, size):
        b_off, k = _varint(handle, 0)
        b_size, _ = _varint(handle, k)
        for key, value in _table_block(index, b_off, b_size):
            if not key:  # the bundle header
                continue
            f = _proto_fields(value)
            dtype = _DTYPES.get(f.get(1, [1])[0])
            if dtype is None:
                continue
            dims = _proto_fields(f[2][0]).get(2, []) if 2 in f else []
            shape = [_proto_fields(d).get(1, [0])[0] for d in dims]
            t_off, t_size = f.get(4, [0])[0], f.get(5, [0])[0]
            out[key.decode()] = np.frombuffer(data[t_off : t_off + t_size], dtype=dtype).reshape(
                shape
            )
    return out


# -- features ----------------------------------------------------------------------------------
def log_mel(y: np.ndarray) -> np.ndarray:
    """musicnn's input for a mono 16 kHz signal: log10(1 + 10^4 mel power).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)

    Returns
    -------
    np.ndarray, shape (n_frames, 96), float32.
    """
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(y, dtype=np.float32), sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS
    ).T
    # the original front end stores float16 before the log; kept for identical inputs
    return np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1).astype(np.float32)


def patches(mel: np.ndarray, n_frames: int = PATCH_FRAMES) -> np.ndarray:
    """Non-overlapping patches (n, n_frames, 96); a track shorter than one patch is
    repeated to fill it (the models' training padding, ``repeat-pad``)."""
    if mel.shape[0] == 0:
        return np.zeros((0, n_frames, mel.shape[1]), dtype=np.float32)
    if mel.shape[0] < n_frames:
        mel = np.tile(mel, (int(np.ceil(n_frames / mel.shape[0])), 1))[:n_frames]
    n = mel.shape[0] // n_frames
    return mel[: n * n_frames].reshape(n, n_frames, mel.shape[1])


# -- the network -------------------------------------------------------------------------------
def _build_net(w: dict[str, np.ndarray], *, reference: bool = False) -> Any:
    """The tagger's forward pass ``(B, 187, 96) mel -> (B, 50)`` probabilities.

    ``reference=True``: the front end's layers in their literal order (relu and batch
    norm over every (time, frequency) cell, then the max over frequency), the slow form
    the fast one is tested against."""
    import torch
    import torch.nn.functional as F

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(np.array(w[name], dtype=np.float32))  # a writable copy

    def bn(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = f"batch_normalization{'' if i == 0 else f'_{i}'}/"
        scale = t(p + "gamma") / torch.sqrt(t(p + "moving_variance") + BN_EPS)
        return scale, t(p + "beta") - t(p + "moving_mean") * scale

    def conv(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        p = f"conv2d{'' if i == 0 else f'_{i}'}/"
        k = t(p + "kernel")  # (time, freq, in, out) -> (out, in, time, freq)
        return k.permute(3, 2, 0, 1).contiguous(), t(p + "bias")

    bns = [bn(i) for i in range(11)]
    convs = [conv(i) for i in range(8)]
    dense = [(t(f"dense{s}/kernel").T.contiguous(), t(f"dense{s}/bias")) for s in ("", "_1")]

    def apply_bn(x: torch.Tensor, i: int, axis: int) -> torch.Tensor:
        scale, shift = bns[i]
        shape = [1] * x.dim()
        shape[axis] = -1
        return x * scale.view(shape) + shift.view(shape)

    def block(x: torch.Tensor, ci: int, bi: int, pad: tuple[int, int]) -> torch.Tensor:
        """conv (padded in time only) -> relu -> bn -> max over frequency: (B, C, T).

        relu and the batch norm's ``y * scale + shift`` are monotone in y (decreasing
        where scale < 0), and float rounding keeps them so: the max over frequency is
        taken first (of the conv output's max, or its min where scale < 0), which gives
        the same bits as normalising every (T, F') cell and costs a quarter of it."""
        k, b = convs[ci]
        if reference:
            return apply_bn(F.relu(F.conv2d(F.pad(x, (0, 0, *pad)), k, b)), bi, 1).amax(dim=3)
        scale = bns[bi][0]
        lo, hi = torch.aminmax(F.conv2d(F.pad(x, (0, 0, *pad)), k, b), dim=3)  # (B, C, T)
        y = torch.where((scale >= 0).view(1, -1, 1), hi, lo)
        return apply_bn(F.relu(y), bi, 1)

    def forward(mel: torch.Tensor) -> torch.Tensor:
        x = apply_bn(mel.unsqueeze(1), 0, 1)  # (B, 1, T, 96)
        front = [
            block(x, 0, 1, (3, 3)),  # timbral 7 x 38
            block(x, 1, 2, (3, 3)),  # timbral 7 x 67
            block(x, 2, 3, (63, 64)),  # temporal 128 ("same" padding as TF places it)
            block(x, 3, 4, (31, 32)),  # temporal 64
            block(x, 4, 5, (15, 16)),  # temporal 32
        ]
        feats = torch.cat(front, dim=1)  # (B, 561, T)
        layers = [feats]
        h = feats
        for n, (ci, bi) in enumerate(((5, 6), (6, 7), (7, 8))):
            k, b = convs[ci]  # kernel (64, 1, 7, C): a 1-d convolution over time
            y = F.relu(F.conv1d(F.pad(h, (3, 3)), k[:, 0].permute(0, 2, 1), b))
            y = apply_bn(y, bi, 1)
            h = y if n == 0 else y + h
            layers.append(h)
        m = torch.cat(layers, dim=1)  # (B, 753, T)
        # TF flattens (features, [max, mean]) feature-major
        pooled = torch.stack([m.amax(dim=2), m.mean(dim=2)], dim=2).flatten(1)
        pooled = apply_bn(pooled, 9, 1)
        h = apply_bn(F.relu(F.linear(pooled, *dense[0])), 10, 1)
        return torch.sigmoid(F.linear(h, *dense[1]))

    return forward


class MusicTagger:
    """One musicnn tagger (``MTT_musicnn`` or ``MSD_musicnn``), loaded once, on CPU."""

    def __init__(self, model: str = "MTT_musicnn") -> None:
        if model not in LABELS:
            raise ValueError(f"model must be one of {sorted(LABELS)}")
        self.model = model
        self.labels = LABELS[model]
        self._forward: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        if self._forward is not None:
            return
        ok, why = musicnn_available()
        if not ok:
            raise TaggerUnavailable(why)
        with self._lock:
            if self._forward is not None:
                return
            spec = importlib.util.find_spec("musicnn")
            assert spec is not None and spec.submodule_search_locations
            root = Path(next(iter(spec.submodule_search_locations))) / self.model
            try:
                self._forward = _build_net(read_tf_bundle(f"{root}/"))
            except (OSError, KeyError, ValueError, struct.error) as e:
                raise TaggerUnavailable(f"cannot read the {self.model} checkpoint: {e}") from e

    def patch_probs(self, mel_patches: np.ndarray) -> np.ndarray:
        """Tag probabilities per patch.

        Parameters
        ----------
        mel_patches : np.ndarray, shape (n, 187, 96)

        Returns
        -------
        np.ndarray, shape (n, 50), in [0, 1].
        """
        import torch

        self.load()
        if mel_patches.shape[0] == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            out = self._forward(torch.from_numpy(np.ascontiguousarray(mel_patches)))
        return out.numpy().astype(np.float32)


def excerpt_16k(signal: Signal, max_s: float) -> np.ndarray:
    """At most ``max_s`` seconds from the middle of ``signal``, mono at 16 kHz."""
    from tonearm.core.audio.resample import resample

    y = signal.mono()
    n_max = int(max_s * signal.sr)
    if y.shape[0] > n_max:
        start = (y.shape[0] - n_max) // 2
        y = y[start : start + n_max]
    if signal.sr != SR:
        y = resample(y, signal.sr, SR)
    return np.asarray(y, dtype=np.float32)
