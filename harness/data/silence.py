"""Silent frames: an energy detector on the feature frames.

A frame is silent when its energy is at least ``silence_db`` below the clip's
loudest frame, the definition of ``librosa.effects.split`` (RMS of the frame's
samples, in dB relative to the maximum over the clip); a frame whose RMS is at
or below :data:`AMIN` (digital silence, -100 dBFS) is silent whatever the
clip's maximum, so an all-zero clip is all silence rather than all speech
(below that floor levels are not told apart: scaling a clip changes no
decision as long as its frames stay above it).

The raw decision is then smoothed so that single frames do not flicker:

1. silent gaps inside speech shorter than ``min_silence_ms`` become speech
   (a stop closure or a breath between words is not silence);
2. speech runs shorter than ``min_speech_ms`` become silence (a click or a
   pop in a pause is not speech);
3. speech is extended by ``hangover_ms`` on each side (the faint onset and
   release of a word lie below the threshold but belong to it).

The defaults (100, 50 and 30 ms) follow the minimum-silence and speech-padding
settings common in VAD front ends.

Frames are the feature extractor's: frame ``t`` is centred on sample
``t * hop`` (``center=True``), its window spans ``win`` samples around that
centre, zeros are assumed beyond the clip, and a clip of ``n`` samples has
``1 + n // hop`` frames, exactly as :class:`harness.data.features.FeatureExtractor`
frames it before trimming. The RMS comes from ``librosa.feature.rms`` on a
signal padded here: librosa's own ``center=True`` padding gives one frame
fewer when ``win`` is odd and ``n`` a multiple of ``hop``, which would
misalign the masks.

Why energy and not a voice activity detector: the setting is defined as a
level below the clip's loudest frame (``silence_db``), which an energy
detector implements exactly at any sample rate, window and hop. The
maintained VAD packages do not fit the feature frames: ``webrtcvad`` accepts
only 8, 16, 32 or 48 kHz 16-bit PCM in 10, 20 or 30 ms frames with a fixed
aggressiveness in place of a level; ``silero-vad`` is a neural model with its
own weights and 32 ms chunks at 8 or 16 kHz, whose decisions would make the
features depend on a model version; ``auditok`` is energy-based too but
segments on its own windows in seconds. Silence here is quiet frames, which
is what the ``remove``, ``mask`` and ``label`` modes act on.
"""

from __future__ import annotations

import numpy as np

#: Bump when the detector's decisions change (the features cache of mode "remove" keys on it).
SILENCE_VERSION = 1
#: RMS at or below this (-100 dBFS) is digital silence; also librosa's ``amin`` for amplitudes.
AMIN = 1e-5
#: Smoothing defaults in milliseconds (see the module docstring).
MIN_SILENCE_MS = 100.0
MIN_SPEECH_MS = 50.0
HANGOVER_MS = 30.0


def detector_settings() -> dict[str, float | int]:
    """Everything besides ``silence_db`` that decides which frames are silent."""
    return {
        "version": SILENCE_VERSION,
        "amin": AMIN,
        "min_silence_ms": MIN_SILENCE_MS,
        "min_speech_ms": MIN_SPEECH_MS,
        "hangover_ms": HANGOVER_MS,
    }


def frame_rms(audio: np.ndarray, *, hop: int, win: int) -> np.ndarray:
    """RMS of each frame's ``win`` samples, ``1 + len(audio) // hop`` frames (float64)."""
    import librosa

    audio = _check(audio, hop, win)
    # frame t covers samples [t*hop - win//2, t*hop - win//2 + win): pad win//2 zeros in
    # front and win - win//2 behind, so the last frame centred inside the clip is whole
    padded = np.zeros(len(audio) + win, dtype=np.float32)
    padded[win // 2 : win // 2 + len(audio)] = audio
    rms = librosa.feature.rms(y=padded, frame_length=win, hop_length=hop, center=False)[0]
    return rms.astype(np.float64)


def frame_energy_db(audio: np.ndarray, *, hop: int, win: int) -> np.ndarray:
    """Each frame's RMS in dB relative to the clip's loudest frame (0 at the loudest, <= 0)."""
    rms = np.maximum(frame_rms(audio, hop=hop, win=win), AMIN)
    return 20.0 * np.log10(rms / rms.max())


def silent_frames(
    audio: np.ndarray,
    *,
    sample_rate: int,
    hop: int,
    win: int,
    silence_db: float,
    min_silence_ms: float = MIN_SILENCE_MS,
    min_speech_ms: float = MIN_SPEECH_MS,
    hangover_ms: float = HANGOVER_MS,
) -> np.ndarray:
    """Which frames of ``audio`` are silent: a bool array of ``1 + len(audio) // hop``.

    :param sample_rate: the audio's rate; converts the smoothing durations to frames.
    :param hop: samples between frame centres (``FeatureConfig.hop_length``).
    :param win: samples in a frame (``FeatureConfig.win_length``).
    :param silence_db: a frame this many dB or more below the loudest is silent.
    """
    if not silence_db > 0:
        raise ValueError(f"silence_db must be positive, got {silence_db}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    rms = frame_rms(audio, hop=hop, win=win)
    floor = rms <= AMIN
    level = 20.0 * np.log10(np.maximum(rms, AMIN) / max(float(rms.max()), AMIN))
    silent = floor | (level <= -silence_db)
    frame_ms = 1000.0 * hop / sample_rate
    silent = _bridge_gaps(silent, _frames(min_silence_ms, frame_ms))
    silent = _drop_blips(silent, _frames(min_speech_ms, frame_ms))
    return _extend_speech(silent, _frames(hangover_ms, frame_ms))


def keep_frames(
    audio: np.ndarray, *, sample_rate: int, hop: int, win: int, silence_db: float
) -> np.ndarray:
    """The frames mode ``remove`` keeps: the non-silent ones, or, when every
    frame is silent, the loudest one alone, so no clip is left without frames."""
    silent = silent_frames(audio, sample_rate=sample_rate, hop=hop, win=win, silence_db=silence_db)
    return at_least_one(~silent, frame_rms(audio, hop=hop, win=win))


def at_least_one(keep: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """``keep``, or when it keeps nothing, only the frame of the highest ``energy``."""
    if keep.any() or len(keep) == 0:
        return keep
    only = np.zeros_like(keep)
    only[int(np.argmax(energy))] = True
    return only


def _check(audio: np.ndarray, hop: int, win: int) -> np.ndarray:
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"expected non-empty mono audio, got shape {array.shape}")
    if hop < 1 or win < 1:
        raise ValueError(f"hop and win must be at least one sample, got hop={hop}, win={win}")
    return array


def _frames(ms: float, frame_ms: float) -> int:
    return max(0, round(ms / frame_ms))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of equal values in ``mask``."""
    edges = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(mask)]])
    return starts, ends


def _bridge_gaps(silent: np.ndarray, shortest: int) -> np.ndarray:
    """Silent runs with speech on both sides and shorter than ``shortest`` become speech."""
    out = silent.copy()
    for start, end in zip(*_runs(silent), strict=True):
        interior = start > 0 and end < len(silent)
        if silent[start] and interior and end - start < shortest:
            out[start:end] = False
    return out


def _drop_blips(silent: np.ndarray, shortest: int) -> np.ndarray:
    """Speech runs shorter than ``shortest`` become silence, unless a run is the whole clip."""
    out = silent.copy()
    starts, ends = _runs(silent)
    if len(starts) == 1:
        return out
    for start, end in zip(starts, ends, strict=True):
        if not silent[start] and end - start < shortest:
            out[start:end] = True
    return out


def _extend_speech(silent: np.ndarray, frames: int) -> np.ndarray:
    """Frames within ``frames`` of a speech frame become speech."""
    if frames == 0 or silent.all():
        return silent
    speech = (~silent).astype(np.int64)
    # "full" and a slice rather than "same", which returns the kernel's length when longer
    near = np.convolve(speech, np.ones(2 * frames + 1, dtype=np.int64))[
        frames : frames + len(silent)
    ]
    return silent & (near == 0)
