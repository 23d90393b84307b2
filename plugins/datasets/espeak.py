"""The embedded default corpus: eSpeak NG speaking frequent words of each language.

No download is needed: ``espeakng-loader`` ships the eSpeak NG library and its
data, ``wordfreq`` ships word lists. A *speaker* is a voice variant (m1..m8,
f1..f5) with seeded pitch, pitch range and rate (with ``voices = "unique"``
also its own vocal tract and pitch band, :mod:`espeak_voices`); a clip is a
few random phrases of words drawn by frequency, cut to ``clip_seconds``.

The same parameters give a bit-identical corpus (how: see
:mod:`harness_plugins.datasets.espeak_synth`). Generation runs in child
processes (a few languages each), so the caller never loads eSpeak, which is
not thread-safe, and a crash inside it cannot take the caller down. Audio is
cached (int16 at eSpeak's native 22050 Hz) under
``<cache_dir>/espeak/<key>/<language>/``; later loads only read and resample.

``mode = "keywords"`` makes each clip one spoken word from a fixed vocabulary
per language: the ``keywords`` most frequent words of the language (wordfreq's
list, kept to words eSpeak reads in that language), every speaker cycling
through them in a seeded order. Each clip carries the label ``keyword``,
written ``<language>:<word>`` (``en:the``) so words of different languages never
fall in one class. ``mode = "sentences"`` (the default) is the phrase corpus
above, unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness import Component, Param, ValidationContext, hookimpl
from harness.data.audio import (
    BadAudio,
    SkipLog,
    check_clip,
    fit_length,
    require_languages,
    resample,
)
from harness.data.corpus import probe_clips_problem
from harness.hashing import content_hash
from harness.plugin.alignments import PhoneInterval
from harness.plugin.contracts import Clip, DataError, DataRequest
from harness_plugins.datasets import espeak_synth
from harness_plugins.datasets.espeak_prosody import LABEL, PROFILES, prosody_problems
from harness_plugins.datasets.espeak_synth import NATIVE_RATE, speaker_file, voice_for
from harness_plugins.datasets.espeak_voices import CHOICES as VOICE_CHOICES

#: Bump when generation changes the audio in a way the parameters do not show.
GENERATOR_VERSION = 1
#: Bump when what is cached beside the audio changes (2: every clip's phone tier), so
#: a cache written before is generated again, never read as lacking it.
CACHE_VERSION = 2
#: the step :meth:`EspeakDataset.prepare` reports
GENERATING = "generating the eSpeak corpus"


@dataclass(frozen=True)
class CorpusParams:
    """What determines the generated audio (the cache key); speaker count is not part of
    it because speaker k never depends on how many speakers follow."""

    clips_per_speaker: int
    clip_seconds: float
    seed: int
    word_list_size: int


class EspeakDataset:
    """Synthesized speech, generated on first use and cached."""

    def __init__(
        self,
        speakers: int | None = None,
        clips_per_speaker: int = 8,
        clip_seconds: float = 4.0,
        seed: int = 0,
        word_list_size: int = 5000,
        workers: int | None = None,
        mode: str = "sentences",
        keywords: int = 10,
        prosody: Sequence[str] = (),
        voices: str = "variants",
    ) -> None:
        if voices not in VOICE_CHOICES:
            raise ValueError(f"voices: {voices!r} is not one of {', '.join(VOICE_CHOICES)}")
        self.speakers = speakers
        self.voices = voices
        self.params = CorpusParams(clips_per_speaker, clip_seconds, seed, word_list_size)
        self.mode = mode
        self.keywords = keywords
        self.prosody = tuple(prosody)
        problems = prosody_problems(self.prosody, clips_per_speaker)
        if problems:
            raise ValueError("; ".join(f"{key}: {message}" for key, message in problems))
        self.workers = workers
        self.skips = SkipLog("espeak")

    def audio_key(self) -> str:
        """What determines the audio; its start tags the clip ids, which stay the
        same as long as the audio does."""
        return content_hash(
            {
                "version": GENERATOR_VERSION,
                "espeak": _version("espeakng-loader"),
                "wordfreq": _version("wordfreq"),
                **asdict(self.params),
                # the sentence corpus keeps the key it always had
                **({"mode": self.mode, "keywords": self.keywords} if self.keyword_mode else {}),
                **({"prosody": list(self.prosody)} if self.prosody else {}),
                **({"voices": self.voices} if self.voices != "variants" else {}),
            }
        )

    def corpus_dir(self, cache_dir: Path) -> Path:
        key = content_hash({"audio": self.audio_key(), "cache": CACHE_VERSION})
        return Path(cache_dir) / "espeak" / key

    @property
    def keyword_mode(self) -> bool:
        return self.mode == "keywords"

    def speaker_count(self, request: DataRequest) -> int:
        if self.speakers is not None:
            return self.speakers
        # every language gets the same count: enough for the most demanding one
        return max([request.speakers_needed.get(lang, 0) for lang in request.languages] + [1])

    def prepare(self, request: DataRequest) -> None:
        """Generate what is missing, reporting the clips written (called by the
        runner once, before the runs; :meth:`load` then only reads)."""
        root = self.corpus_dir(request.cache_dir)
        n = self.speaker_count(request)
        missing = [lang for lang in request.languages if not _complete(root / lang, n)]
        if missing:
            self.generate(root, missing, n, request)

    def load(self, request: DataRequest) -> list[Clip]:
        root = self.corpus_dir(request.cache_dir)
        n = self.speaker_count(request)
        missing = [lang for lang in request.languages if not _complete(root / lang, n)]
        if missing:
            self.generate(root, missing, n, request)
        clips: list[Clip] = []
        for lang in request.languages:
            clips.extend(self._read_language(root, lang, n, request.sample_rate))
        require_languages(self.skips, request.languages, {c.language for c in clips})
        return clips

    def generate(
        self,
        root: Path,
        languages: Sequence[str],
        n_speakers: int,
        request: DataRequest | None = None,
    ) -> None:
        """Generate missing languages in child processes, a share of the languages each;
        ``request.progress`` hears how many clips are written (counted per speaker file)."""
        # one lock per corpus: another process loading the same corpus waits, then reads
        with _locked(root / ".lock"):
            todo = [lang for lang in languages if not _complete(root / lang, n_speakers)]
            if not todo:
                return
            workers = min(self.workers or os.cpu_count() or 1, len(todo))
            specs: list[dict[str, Any]] = [
                {"language": lang, "speakers": n_speakers, "out": str(root / lang)}
                | asdict(self.params)
                | {"mode": self.mode, "keywords": self.keywords, "prosody": list(self.prosody)}
                | {"voices": self.voices}
                for lang in todo
            ]
            groups = [specs[i::workers] for i in range(workers)]
            children = [_spawn(group) for group in groups]
            per_file = self.params.clips_per_speaker
            total = len(todo) * n_speakers * per_file

            def report() -> None:
                if request is not None:
                    files = sum(_written(root / lang, n_speakers) for lang in todo)
                    request.progress(GENERATING, files * per_file, total, "clips")

            report()
            errors = []
            for group, child in zip(groups, children, strict=True):
                stderr = _wait(child, report)
                if child.returncode != 0:
                    langs = [str(spec["language"]) for spec in group]
                    lines = stderr.strip().splitlines()
                    # the child prints one line per failed language; anything else is a crash
                    prefixes = tuple(f"{lang}: " for lang in langs)
                    errors += [line for line in lines if line.startswith(prefixes)] or [
                        f"{', '.join(langs)}: "
                        + (lines[-1] if lines else f"exit status {child.returncode}")
                    ]
        if errors:
            raise DataError("espeak: cannot generate the corpus: " + "; ".join(errors))

    def _read_language(self, root: Path, lang: str, n: int, rate: int) -> list[Clip]:
        length = round(self.params.clip_seconds * rate)
        tag = self.audio_key()[:8]
        clips = []
        for k in range(n):
            path = speaker_file(root / lang, k)
            try:
                native = np.load(path, allow_pickle=False)
                meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
                labels = self._labels(lang, meta, len(native))
                tiers = [_tier(rows, length / rate) for rows in meta["phones"]]
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                self.skips.skip(lang, path, f"cannot read the cached clips: {exc}", "unreadable")
                continue
            speaker = f"{lang}/espeak-{k:02d}"
            for c, row in enumerate(native):
                audio = resample(row.astype(np.float32) / 32768.0, NATIVE_RATE, rate)
                audio = fit_length(audio, length)
                try:
                    check_clip(audio)
                except BadAudio as exc:
                    self.skips.skip(lang, f"{path} clip {c}", str(exc), exc.reason)
                    continue
                clip_id = f"{speaker}/{c:03d}#{tag}"
                clips.append(
                    Clip(clip_id, lang, speaker, audio, rate, labels=labels[c], phones=tiers[c])
                )
        return clips

    def _labels(self, lang: str, meta: Mapping[str, Any], clips: int) -> list[dict[str, str]]:
        """Each clip's labels from its speaker's cached metadata."""
        labels: list[dict[str, str]] = [{} for _ in range(clips)]
        if self.keyword_mode:
            for c in range(clips):
                labels[c]["keyword"] = f"{lang}:{meta['words'][c]}"
        if self.prosody:
            for c in range(clips):
                labels[c][LABEL] = str(meta[LABEL][c])
        return labels


def _tier(rows: Sequence[Sequence[Any]], duration: float) -> tuple[PhoneInterval, ...]:
    """A clip's phone tier from its cached rows (first sample, end sample, phone) at
    eSpeak's rate, in seconds of the clip as delivered (``duration`` long)."""
    tier = []
    for start, end, phone in rows:
        interval = PhoneInterval(
            round(int(start) / NATIVE_RATE, 6),
            round(min(int(end) / NATIVE_RATE, duration), 6),
            str(phone),
        )
        if interval.end > interval.start:
            tier.append(interval)
    return tuple(tier)


def _complete(folder: Path, n: int) -> bool:
    return all(speaker_file(folder, k).exists() for k in range(n))


def _written(folder: Path, n: int) -> int:
    return sum(speaker_file(folder, k).exists() for k in range(n))


def _wait(child: subprocess.Popen[str], tick: Callable[[], None], every: float = 0.5) -> str:
    """The child's stderr once it exits, calling ``tick`` every ``every`` seconds meanwhile."""
    while True:
        try:
            _, stderr = child.communicate(timeout=every)
        except subprocess.TimeoutExpired:  # retrying communicate loses no output
            tick()
            continue
        tick()
        return stderr


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # no advisory locks (Windows): concurrent writers stay atomic
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _spawn(specs: list[dict[str, Any]]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    # the child must import the synthesizer exactly as the parent would
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", espeak_synth.__name__, json.dumps(specs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def voices() -> frozenset[str]:
    """The language voices eSpeak NG ships (file names under its ``lang/`` folder), lower case."""
    import espeakng_loader

    folder = Path(espeakng_loader.get_data_path()) / "lang"
    return frozenset(name.lower() for _, _, names in os.walk(folder) for name in names)


def check_corpus(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """eSpeak has a voice for every language; a fixed speaker count fills every role."""
    have = voices()
    for lang in context.languages:
        if voice_for(lang).lower() not in have:
            close = sorted(v for v in have if v.split("-")[0] == lang.lower().split("-")[0])
            hint = f"; close: {', '.join(close)}" if close else f"; {len(have)} voices exist"
            yield "", (f"espeak: eSpeak NG has no voice for language {lang!r}{hint} "
                       "(list them with `espeak-ng --voices`)")  # fmt: skip
    speakers = params.get("speakers")
    for lang in context.languages if speakers is not None else ():
        roles = context.roles.get(lang, {})
        need = sum(roles.values())
        if speakers < need:
            detail = ", ".join(f"{role} {n}" for role, n in roles.items())
            yield "speakers", (f"language {lang!r} needs {need} speakers ({detail}; roles never "
                               f"share a speaker), got {speakers}; leave it out for just enough")  # fmt: skip
    yield from probe_clips_problem(params["clips_per_speaker"], context)
    yield from prosody_problems(params.get("prosody") or (), params["clips_per_speaker"])


def corpus_labels(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The labels the clips carry with ``params``: a keyword, an emotion-like class."""
    keyword = ("keyword",) if params.get("mode") == "keywords" else ()
    return (*keyword, *((LABEL,) if params.get("prosody") else ()))


#: the parameters of the espeak component
PARAMS = [
    Param(
        "speakers",
        int,
        None,
        "speakers per language; default: just enough for the splits",
        min=1,
        optional=True,
    ),
    Param("clips_per_speaker", int, 8, "clips generated per speaker", min=1),
    Param("clip_seconds", float, 4.0, "length of every clip", min=0.5, max=60.0),
    Param("seed", int, 0, "seed of voices, prosody and text", min=0),
    Param("word_list_size", int, 5000, "most frequent words sampled from", min=100),
    Param(
        "mode",
        str,
        "sentences",
        "sentences: phrases of frequent words; keywords: one word of a fixed "
        "vocabulary per clip, labelled keyword",
        choices=("sentences", "keywords"),
    ),
    Param(
        "keywords",
        int,
        10,
        "keywords mode: the vocabulary, the most frequent words of each language",
        min=2,
        max=1000,
    ),
    Param(
        "prosody",
        list,
        [],
        "emotion-like prosody classes, each clip one, labelled emotion (acted "
        f"prosody of a synthesizer, not emotion): some of {', '.join(PROFILES)}; "
        "default: none",
        item=str,
    ),
    Param(
        "voices",
        str,
        "variants",
        "variants: each speaker one of eSpeak's 13 voice variants, which recur in "
        "every language; unique: that variant with the speaker's own vocal tract "
        "(every formant scaled by a seeded factor, 0.9 to 1.1)",
        choices=VOICE_CHOICES,
    ),
    Param(
        "workers",
        int,
        None,
        "languages generated at once; default: CPU count",
        min=1,
        optional=True,
    ),
]


@hookimpl
def harness_datasets() -> list[Component]:
    return [
        Component(
            name="espeak",
            factory=EspeakDataset,
            doc="speech synthesized by eSpeak NG from frequent words (no download; cached)",
            limits=(
                "speech synthesized by eSpeak NG, a formant synthesizer: every speaker one "
                "of its 13 voice variants (shared across languages unless voices = "
                '"unique") with drawn pitch, rate and range, the text random frequent '
                "words. Its acoustics are far more regular than recorded speech, so these "
                "results describe this corpus: they test the pipeline and its statistics, not "
                "how people or models learn from natural speech."
            ),
            params=PARAMS,
            labels=corpus_labels,
            check=check_corpus,
            alignments=True,
        )
    ]
