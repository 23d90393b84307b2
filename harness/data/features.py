"""Acoustic features: log-mel or MFCC frames, computed in batches and cached on disk.

The front end matches librosa (``librosa.feature.melspectrogram`` with
``center=True``, zero padding, a periodic Hann window and librosa's Slaney mel
filterbank; dB as ``librosa.power_to_db``; MFCC as a DCT-II with orthonormal
scaling of the dB mel, as ``librosa.feature.mfcc``) but frames a whole batch
of clips as one strided view, takes the real FFTs a few clips at a time
(scipy.fft, float32) and the filterbank product as one matrix product per chunk.

Silent frames (:mod:`harness.data.silence`) are dropped here with
``silence = "remove"``; the modes ``mask`` and ``label`` leave the features
as they are and read :meth:`FeatureExtractor.silence` instead.

Each clip's result is cached under
``<cache_dir>/features/<parameter key>/<audio hash>.npy``: the key covers
every :class:`~harness.spec.config.FeatureConfig` field that changes the
features, so changing any of them computes afresh (``silence`` and
``silence_db`` only with ``silence = "remove"``: ``keep``, ``mask`` and
``label`` share one entry), and the audio hash covers the samples, so a
filtered pretraining clip never reuses the unfiltered clip's features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.data.audio import atomic_save
from harness.data.feature_memory import MEMORY
from harness.data.silence import at_least_one, detector_settings, frame_rms, silent_frames
from harness.hashing import content_hash
from harness.spec.config import FeatureConfig

#: Bump when the computation changes in a way FeatureConfig does not show
#: (2: scipy.fft over strided frames instead of torch.stft; values moved by
#: float32 rounding, up to ~2e-5 of a min-max scaled clip, so old entries are not reused).
FEATURE_VERSION = 2
#: Floor of the power before taking logarithms (librosa's ``amin``).
AMIN = 1e-10
#: Samples (padded) per batch: bounds the STFT's memory to a few hundred MB.
BATCH_SAMPLES = 4_000_000
#: Bytes of windowed frames transformed at once, to stay in a core's cache (1 MB
#: L2 here): 8 MB took 1.5x as long on the default configuration's 4 s clips.
CHUNK_BYTES = 2**20

Normalizer = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class FeatureExtractor:
    """Turns waveforms at ``config.sample_rate`` into (frames, n_features) float32 arrays.

    :param config: the suite's [features] section; every field is honoured.
    :param cache_dir: the cache root (features go to ``<cache_dir>/features/``);
        ``None`` computes without caching.
    """

    def __init__(self, config: FeatureConfig, cache_dir: Path | None) -> None:
        import librosa
        import torch

        self.config = config
        # the rules `harness validate` checks, for configs that did not come from a suite
        problems = [f"features.{key}: {message}" for key, message in config.problems()]
        if problems:
            raise ValueError("; ".join(problems))
        rate = config.sample_rate
        self.win_length = config.win_length
        self.hop_length = config.hop_length
        self.n_fft = config.n_fft or _next_pow2(self.win_length)
        self.fmax = config.fmax if config.fmax is not None else rate / 2
        mel = librosa.filters.mel(
            sr=rate, n_fft=self.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=self.fmax
        )
        self._mel = torch.from_numpy(np.ascontiguousarray(mel.T, dtype=np.float32))
        # librosa's default window is the periodic ("fftbins") Hann, centred in n_fft
        self._window = torch.hann_window(self.win_length, periodic=True).numpy()
        self._dct = torch.from_numpy(_dct_matrix(config.n_mels, config.n_mfcc))
        self.key = content_hash(
            {
                "version": FEATURE_VERSION,
                "librosa_mel": _mel_version(),
                **dataclasses.asdict(config),
                **_silence_key(config),
            }
        )
        self.cache_dir = Path(cache_dir) / "features" / self.key if cache_dir is not None else None
        self.hits = 0
        self.misses = 0

    @property
    def n_features(self) -> int:
        return self.config.n_mfcc if self.config.kind == "mfcc" else self.config.n_mels

    def librosa_mel_params(self) -> dict[str, Any]:
        """The ``librosa.feature.melspectrogram`` arguments that compute this
        extractor's mel power (what the tests and bench/ compare against)."""
        return {
            "sr": self.config.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
            "window": "hann",
            "center": True,
            "pad_mode": "constant",
            "power": 2.0,
            "n_mels": self.config.n_mels,
            "fmin": self.config.fmin,
            "fmax": self.fmax,
        }

    def frames(self, n_samples: int) -> int:
        """Frames of a clip of ``n_samples`` before trimming (centred STFT)."""
        return 1 + n_samples // self.hop_length

    def __call__(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Features of every clip, in order; cached clips are read, the rest computed."""
        out: list[np.ndarray | None] = [None] * len(audios)
        digests: list[str | None] = [None] * len(audios)
        todo = []
        for i, audio in enumerate(audios):
            if self.cache_dir is not None:
                # a clip found by its digest has the samples of one checked before
                seen = digests[i] = MEMORY.digest(_check_shape(i, np.asarray(audio)))
                out[i] = MEMORY.get(str(self.cache_dir), seen)
                if out[i] is None:
                    found = _read(self._path(seen))
                    out[i] = None if found is None else MEMORY.put(str(self.cache_dir), seen, found)
            if out[i] is None:
                todo.append(i)
        self.hits += len(audios) - len(todo)
        self.misses += len(todo)
        arrays = [_check_audio(i, audios[i]) for i in todo]
        for i, features in zip(todo, self.compute(arrays), strict=True):
            out[i] = features
            digest = digests[i]
            if digest is not None:
                atomic_save(self._path(digest), features)
                out[i] = MEMORY.put(str(self.cache_dir), digest, features)
        return [x for x in out if x is not None]

    def _path(self, digest: str) -> Path:
        assert self.cache_dir is not None
        return self.cache_dir / digest[:2] / f"{digest}.npy"

    def compute(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Features without the cache, batched by similar length."""
        results: list[np.ndarray | None] = [None] * len(audios)
        for batch in self._batches(audios):
            self._run_batch(audios, batch, results)
        return [r for r in results if r is not None]

    def mel_power(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Mel power spectrogram (frames, n_mels) of each clip: the pre-log front end."""
        import scipy.fft
        import torch
        from threadpoolctl import threadpool_limits

        pad = self.n_fft // 2
        longest = max(len(a) for a in audios)
        n_frames = self.frames(longest)
        # centre padding written in the same pass that copies the clips into one
        # fresh writable batch (clips may be read-only, shared across runs); zeros on
        # the right cannot reach a clip's own frames, as with librosa's constant padding
        padded = np.zeros((len(audios), longest + 2 * pad), dtype=np.float32)
        for row, audio in enumerate(audios):
            padded[row, pad : pad + len(audio)] = audio
        # only the window's own samples of each n_fft frame: the window is centred in
        # n_fft (librosa, torch.stft), and zero-padding the end of the frame instead
        # shifts the frame circularly, which changes the phases and not |X|^2
        offset = (self.n_fft - self.win_length) // 2
        frames = sliding_window_view(padded, self.win_length, axis=1)[:, offset :: self.hop_length]
        out = np.empty((len(audios), n_frames, self._mel.shape[1]), dtype=np.float32)
        # blocks of frames of about CHUNK_BYTES, so the windowed frames, their
        # spectra and power stay in a core's cache: whole clips when they are
        # short, else each clip in runs of frames
        clip_bytes = n_frames * self.n_fft * 4
        clips = max(1, CHUNK_BYTES // clip_bytes)
        run = n_frames if clips > 1 else max(1, CHUNK_BYTES // (self.n_fft * 4))
        blocks = [
            (slice(first, first + clips), slice(start, min(start + run, n_frames)))
            for first in range(0, len(audios), clips)
            for start in range(0, n_frames, run)
        ]

        def block(rows: slice, cols: slice) -> None:
            chunk = frames[rows, cols] * self._window
            spec = scipy.fft.rfft(chunk, n=self.n_fft, axis=-1, overwrite_x=True, workers=1)
            # |X|^2 as re^2 + im^2 in float32, as torch.stft's power was computed
            power = np.square(spec.real)
            power += np.square(spec.imag)
            # one 2-D product for the block (a 3-D matmul is one small product per clip)
            flat = power.reshape(-1, power.shape[-1]) @ mel
            out[rows, cols] = flat.reshape(*power.shape[:-1], mel.shape[1])

        mel = self._mel.numpy()
        # each block single-threaded, and torch's threads as workers over blocks (the
        # FFT and BLAS release the GIL): many small multithreaded calls cost more
        # than they gain (1.1x librosa at 2 threads, against 2.1x at 1 thread)
        with threadpool_limits(1), ThreadPoolExecutor(torch.get_num_threads()) as pool:
            list(pool.map(lambda b: block(*b), blocks))
        return [out[row, : self.frames(len(a))] for row, a in enumerate(audios)]

    def silent(self, audio: np.ndarray) -> np.ndarray:
        """Which of the clip's frames (all ``frames(len(audio))``, before trimming)
        are silent at this config's ``silence_db``."""
        return silent_frames(
            audio,
            sample_rate=self.config.sample_rate,
            hop=self.hop_length,
            win=self.win_length,
            silence_db=self.config.silence_db,
        )

    def silence(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per clip, a bool array aligned with its features: True for a silent frame.

        The masks follow the features frame for frame: after ``trim_db`` (which
        needs the clip's mel power, so a trimming config computes it again) and,
        with ``silence = "remove"``, after silent frames are dropped (then a mask
        is all False, except for the one frame kept of a wholly silent clip).
        """
        arrays = [_check_audio(i, a) for i, a in enumerate(audios)]
        masks: list[np.ndarray | None] = [None] * len(arrays)
        if self.config.trim_db is None:
            for i, audio in enumerate(arrays):
                silent = self.silent(audio)
                masks[i] = silent[self._selected(audio, None, silent)]
            return [m for m in masks if m is not None]
        for batch in self._batches(arrays):
            mels = self.mel_power([arrays[i] for i in batch])
            for i, mel in zip(batch, mels, strict=True):
                silent = self.silent(arrays[i])
                masks[i] = silent[self._selected(arrays[i], mel, silent)]
        return [m for m in masks if m is not None]

    def _selected(
        self, audio: np.ndarray, mel: np.ndarray | None, silent: np.ndarray | None
    ) -> np.ndarray:
        """Indices of the frames a clip's features keep: trimming, then silence removal.

        :param mel: the clip's mel power; needed only with ``trim_db``.
        :param silent: the clip's silent frames; computed when None and needed.
        """
        c = self.config
        n = self.frames(len(audio))
        start, end = 0, n
        if c.trim_db is not None:
            if mel is None:
                raise ValueError("trimming needs the clip's mel power")
            start, end = _trim_bounds(mel, c.trim_db)
        if c.silence != "remove":
            return np.arange(start, end)
        if silent is None:
            silent = self.silent(audio)
        keep = ~silent[start:end]
        if not keep.any():  # a wholly silent clip keeps its loudest frame
            energy = frame_rms(audio, hop=self.hop_length, win=self.win_length)
            keep = at_least_one(keep, energy[start:end])
        return start + np.flatnonzero(keep)

    def _batches(self, audios: Sequence[np.ndarray]) -> list[list[int]]:
        """Clip indices in batches of similar length, each within BATCH_SAMPLES when padded."""
        batches: list[list[int]] = []
        batch: list[int] = []
        for i in sorted(range(len(audios)), key=lambda i: len(audios[i])):
            # sorted by length, so the newest clip is the longest: the padded batch size
            if batch and (len(batch) + 1) * len(audios[i]) > BATCH_SAMPLES:
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
        return batches

    def _run_batch(
        self, audios: Sequence[np.ndarray], batch: list[int], results: list[np.ndarray | None]
    ) -> None:
        mels = self.mel_power([audios[i] for i in batch])
        for i, mel in zip(batch, mels, strict=True):
            results[i] = self._finish(mel[self._selected(audios[i], mel, None)])

    def _finish(self, mel: np.ndarray) -> np.ndarray:
        """Compress, MFCC and per-clip normalisation of one clip's mel power
        (its kept frames: trimmed, and silence removed when asked)."""
        import torch

        c = self.config
        x = torch.from_numpy(np.ascontiguousarray(mel))
        if c.log == "db":
            x = 10.0 * torch.log10(torch.clamp(x, min=AMIN))
            if c.top_db is not None:
                x = torch.maximum(x, x.max() - c.top_db)
        elif c.log == "ln":
            x = torch.log(torch.clamp(x, min=AMIN))
        if c.kind == "mfcc":
            x = x @ self._dct
        return _normalize_clip(x.numpy().astype(np.float32, copy=False), c.normalize)


def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """DCT-II with orthonormal scaling as a (n_in, n_out) matrix (scipy's ``norm='ortho'``)."""
    n = np.arange(n_in)[:, None]
    k = np.arange(n_out)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def _trim_bounds(mel: np.ndarray, trim_db: float) -> tuple[int, int]:
    """The frames ``[start, end)`` left after dropping leading and trailing frames
    quieter than ``trim_db`` below the loudest frame."""
    energy = 10.0 * np.log10(np.maximum(mel.sum(axis=1, dtype=np.float64), AMIN))
    loud = np.flatnonzero(energy > energy.max() - trim_db)
    if len(loud) == 0:
        return 0, len(mel)
    return int(loud[0]), int(loud[-1]) + 1


def _silence_key(config: FeatureConfig) -> dict[str, Any]:
    """The silence settings as the cache key sees them: only mode ``remove``
    changes the features; the other modes share the ``keep`` entry."""
    if config.silence == "remove":
        return {"silence_detector": detector_settings()}
    default = FeatureConfig()
    return {"silence": default.silence, "silence_db": default.silence_db}


def _normalize_clip(x: np.ndarray, how: str) -> np.ndarray:
    if how == "clip_minmax":
        # one range for the whole clip, as the original study scaled its spectrograms
        low, high = float(x.min()), float(x.max())
        if high - low <= 0:
            return np.zeros_like(x)
        return ((x - low) / (high - low)).astype(np.float32)
    if how == "clip_zscore":
        std = x.std(axis=0, keepdims=True)
        return ((x - x.mean(axis=0, keepdims=True)) / np.maximum(std, 1e-8)).astype(np.float32)
    return x  # "none", and "corpus_zscore" (applied later by fit_normalizer)


class CorpusNormalizer:
    """Per-feature z-score with statistics of the training corpus."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = mean.astype(np.float32)
        self.std = np.maximum(std, 1e-8).astype(np.float32)

    def __call__(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [((f - self.mean) / self.std).astype(np.float32) for f in features]


def fit_normalizer(train_features: Sequence[np.ndarray], config: FeatureConfig) -> Normalizer:
    """The corpus-level normalisation to apply to every feature set of a run.

    With ``normalize = 'corpus_zscore'``, statistics come from ``train_features``
    (target-language training clips only, so nothing leaks from held-out or
    probe speakers); otherwise per-clip scaling was already applied and this
    returns the identity.
    """
    if config.normalize != "corpus_zscore":
        return lambda features: list(features)
    if not train_features:
        raise ValueError("corpus_zscore needs at least one training clip")
    frames = np.concatenate([np.asarray(f, dtype=np.float64) for f in train_features])
    return CorpusNormalizer(frames.mean(axis=0), frames.std(axis=0))


def _check_shape(index: int, audio: np.ndarray) -> np.ndarray:
    if audio.ndim != 1 or len(audio) == 0:
        raise ValueError(f"clip {index}: expected non-empty mono audio, got shape {audio.shape}")
    return audio


def _check_audio(index: int, audio: np.ndarray) -> np.ndarray:
    """``audio`` as contiguous float32 mono with finite samples."""
    array = _check_shape(index, np.ascontiguousarray(audio, dtype=np.float32))
    if not np.isfinite(array).all():
        raise ValueError(f"clip {index}: audio has NaN or infinite samples")
    return array


def _read(path: Path) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged entry is computed and written again


def _mel_version() -> str:
    # the filterbank comes from librosa; a new major.minor may change it
    from importlib.metadata import version

    return ".".join(version("librosa").split(".")[:2])
