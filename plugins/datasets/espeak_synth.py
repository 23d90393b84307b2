"""The eSpeak NG synthesizer behind the ``espeak`` dataset, run in child processes.

eSpeak keeps global state that leaks from one utterance into the next (pitch
flutter phase, gain control, its noise generator), so the same text spoken
twice by one library instance differs. To make a corpus bit-identical for the
same parameters, every language is spoken by a fresh, private instance of the
library (a copy of the shared object, loaded with its own globals), speakers in
a fixed order, one instance at a time under a lock.

``python -m harness_plugins.datasets.espeak_synth '<json specs>'`` generates
the languages of the specs; :mod:`harness_plugins.datasets.espeak` starts it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.audio import atomic_save
from harness.hashing import stable_seed
from harness.plugin.contracts import DataError
from harness_plugins.datasets import espeak_voices as voices
from harness_plugins.datasets.espeak_engine import LOCK, NATIVE_RATE, Engine, SpokenPhone
from harness_plugins.datasets.espeak_prosody import LABEL, PROFILES, clip_classes

#: Voice variants that sound like plain speakers (eSpeak also has robots and whispers).
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5")
#: Languages whose eSpeak voice has another name.
VOICE_ALIASES = {"zh": "cmn", "zh-cn": "cmn", "zh-tw": "cmn"}
#: Scripts written without spaces: joining words with spaces makes eSpeak pause after each.
UNSPACED = ("ja", "zh", "cmn", "yue", "th", "lo", "km", "my")
PITCH_RANGE, SPREAD_RANGE, RATE_RANGE = (20, 80), (20, 80), (130, 210)


def speaker_file(folder: Path, k: int) -> Path:
    """Where speaker ``k``'s clips (int16, clips x samples at NATIVE_RATE) are cached."""
    return folder / f"speaker{k:03d}.npy"


def voice_for(language: str) -> str:
    return VOICE_ALIASES.get(language.lower(), language)


def word_list(language: str, size: int, engine: Engine) -> list[str]:
    """Frequent words eSpeak reads in ``language`` itself, most frequent first."""
    try:
        import wordfreq

        # the "small" list loads ~20x faster and holds the same top words when long enough
        words = wordfreq.top_n_list(language, size, wordlist="small")
        if len(words) < size:
            words = wordfreq.top_n_list(language, size)
    except (LookupError, ValueError) as exc:
        raise DataError(f"wordfreq has no word list for {language!r}: {exc}") from exc
    spaced = language not in UNSPACED
    kept = []
    for word in words:
        # letters and combining marks only (Devanagari vowel signs are marks)
        if not all(unicodedata.category(ch)[0] in "LM" for ch in word):
            continue
        if spaced and len(word) < 2:  # clitic fragments such as French "l", "d"
            continue
        # eSpeak marks words it reads in another language, e.g. "(en)" for kanji in ja
        if "(" in engine.phonemes(word):
            continue
        kept.append(word)
    if len(kept) < 20:
        raise DataError(
            f"only {len(kept)} of {len(words)} {language!r} words can be spoken by eSpeak"
        )
    return kept


def generate_language(spec: dict[str, Any]) -> None:
    """Generate every speaker of one language, in order, into ``spec['out']``.

    A fresh eSpeak instance speaks the whole language, speakers in order, so
    the audio depends only on ``spec`` (speaker k on speakers 0..k-1 before it,
    which never change), not on what the process did before.
    """
    with LOCK, _voice_data(spec) as data:
        engine = Engine(stable_seed("espeak-noise", spec["seed"], spec["language"]) % 2**31, data)
        try:
            _speak_language(engine, spec)
        finally:
            engine.close()


def vocabulary(language: str, keywords: int, engine: Engine) -> list[str]:
    """The keyword mode's fixed vocabulary: the ``keywords`` most frequent words of
    ``language`` that eSpeak reads in that language (:func:`word_list`), most frequent first."""
    words = word_list(language, max(4 * keywords, 100), engine)
    if len(words) < keywords:
        raise DataError(f"only {len(words)} {language!r} words can be spoken, {keywords} asked")
    return words[:keywords]


def _speak_language(engine: Engine, spec: dict[str, Any]) -> None:
    language, n_speakers, out = spec["language"], spec["speakers"], Path(spec["out"])
    seed, clips, seconds = spec["seed"], spec["clips_per_speaker"], spec["clip_seconds"]
    voice = voice_for(language)
    if not engine.set_voice(voice):
        raise DataError(f"eSpeak NG has no voice for language {language!r}")
    if spec.get("mode", "sentences") == "keywords":
        _speak_keywords(engine, spec, vocabulary(language, spec["keywords"], engine))
        return
    words = word_list(language, spec["word_list_size"], engine)
    # Zipf weights: frequent function words come up as often as in real text
    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    joiner, stop = ("", "。") if language in UNSPACED else (" ", ". ")
    need = round(seconds * NATIVE_RATE)
    for k in range(n_speakers):
        speaker = _speaker_voice(engine, spec, k)
        classes = clip_classes(spec.get("prosody", ()), clips, seed, language, k)
        rows, texts, tiers = [], [], []
        for c in range(clips):
            if classes:  # the class's settings on top of the speaker's voice
                engine.set_prosody(**PROFILES[classes[c]].settings(speaker))
            text_rng = np.random.default_rng(stable_seed("espeak-text", seed, language, k, c))
            parts: list[np.ndarray] = []
            spoken: list[str] = []
            phones: list[SpokenPhone] = []
            total = 0
            while total < need:
                phrase = text_rng.choice(len(words), size=int(text_rng.integers(4, 10)), p=weights)
                text = joiner.join(words[i] for i in phrase) + stop
                audio, tier = engine.speak(text)
                cut = 0
                if not parts:  # clips start with speech, not eSpeak's lead-in silence
                    loud = np.flatnonzero(np.abs(audio) > 64)
                    cut = int(loud[0]) if len(loud) else len(audio)
                    audio = audio[cut:]
                if len(audio) == 0:
                    continue
                phones += placed(tier, cut, len(audio), total)
                parts.append(audio)
                spoken.append(text)
                total += len(audio)
            rows.append(np.concatenate(parts)[:need])
            texts.append("".join(spoken))
            tiers.append(placed(phones, 0, need, 0))
        meta = {**speaker, "texts": texts, "phones": tiers}
        if classes:
            meta[LABEL] = classes
        folder = out
        folder.mkdir(parents=True, exist_ok=True)
        path = speaker_file(folder, k)
        if not path.exists():  # an earlier run wrote the identical file
            (folder / f"speaker{k:03d}.json").write_text(json.dumps(meta, ensure_ascii=False))
            atomic_save(path, np.stack(rows).astype(np.int16))


def placed(tier: Sequence[SpokenPhone], cut: int, keep: int, offset: int) -> list[SpokenPhone]:
    """The phones of a piece of audio whose first ``cut`` samples were dropped and
    which keeps ``keep`` samples after them, placed ``offset`` samples into the
    clip: a phone cut at either end keeps what is left, one cut away is dropped."""
    out = []
    for start, end, phone in tier:
        start, end = max(start - cut, 0), min(end - cut, keep)
        if end > start:
            out.append((start + offset, end + offset, phone))
    return out


def base_variant(seed: int, language: str, k: int) -> str:
    """Speaker ``k``'s eSpeak voice variant: the 13 in a seeded order per language, cycled."""
    order = np.random.default_rng(stable_seed("espeak-variants", seed, language)).permutation(
        len(VARIANTS)
    )
    return VARIANTS[order[k % len(VARIANTS)]]


def _unique(spec: dict[str, Any]) -> bool:
    return spec.get("voices", "variants") == "unique"


@contextlib.contextmanager
def _voice_data(spec: dict[str, Any]) -> Iterator[Path | None]:
    """The data folder eSpeak reads: the installed one (None), or with ``voices =
    "unique"`` a private one holding every speaker's own variant (:mod:`espeak_voices`)."""
    if not _unique(spec):
        yield None
        return
    import espeakng_loader

    installed = Path(espeakng_loader.get_data_path())
    language, seed = spec["language"], spec["seed"]
    variants = {}
    for k in range(spec["speakers"]):
        text = (installed / "voices" / "!v" / base_variant(seed, language, k)).read_text()
        formants, pitch = voices.speaker_factors(seed, language, k)
        variants[voices.speaker_variant_name(k)] = voices.scaled_variant(text, formants, pitch)
    with voices.private_data(installed, variants) as folder:
        yield folder


def _speaker_voice(engine: Engine, spec: dict[str, Any], k: int) -> dict[str, Any]:
    """Set speaker ``k``'s voice variant (its own one with ``voices = "unique"``)
    and prosody (the same draws in both modes)."""
    language, seed, voice = spec["language"], spec["seed"], voice_for(spec["language"])
    rng = np.random.default_rng(stable_seed("espeak-speaker", seed, language, k))
    variant = base_variant(seed, language, k)
    prosody = {
        "rate": int(rng.integers(*RATE_RANGE, endpoint=True)),
        "pitch": int(rng.integers(*PITCH_RANGE, endpoint=True)),
        "spread": int(rng.integers(*SPREAD_RANGE, endpoint=True)),
    }
    name = voices.speaker_variant_name(k) if _unique(spec) else variant
    if not engine.set_voice(f"{voice}+{name}"):
        raise DataError(f"eSpeak NG cannot load voice {voice}+{name}")
    engine.set_prosody(**prosody)
    formants, pitch = voices.speaker_factors(seed, language, k)
    own = {"formants": formants.round(4).tolist(), "pitch_band": round(pitch, 4)}
    return {"voice": f"{voice}+{variant}", **prosody, **(own if _unique(spec) else {})}


def _speak_keywords(engine: Engine, spec: dict[str, Any], vocab: list[str]) -> None:
    """Each clip one word of ``vocab``, speakers cycling through it in a seeded order
    (every word about equally often), silence trimmed, padded to ``clip_seconds``."""
    language, out, seed = spec["language"], Path(spec["out"]), spec["seed"]
    need = round(spec["clip_seconds"] * NATIVE_RATE)
    clips = spec["clips_per_speaker"]
    for k in range(spec["speakers"]):
        path = speaker_file(out, k)
        if path.exists():  # an earlier run wrote the identical file
            continue
        meta = _speaker_voice(engine, spec, k)
        classes = clip_classes(spec.get("prosody", ()), clips, seed, language, k)
        order = np.random.default_rng(stable_seed("espeak-keywords", seed, language, k))
        turn = order.permutation(len(vocab))
        rows, words, tiers = [], [], []
        for c in range(clips):
            if classes:
                engine.set_prosody(**PROFILES[classes[c]].settings(meta))
            word = vocab[turn[c % len(vocab)]]
            audio, tier = engine.speak(word)
            loud = np.flatnonzero(np.abs(audio) > 64)
            first = int(loud[0]) if len(loud) else 0
            audio = audio[first : loud[-1] + 1] if len(loud) else audio[:0]
            row = np.zeros(need, np.int16)
            row[: min(len(audio), need)] = audio[:need]
            rows.append(row)
            words.append(word)
            tiers.append(placed(tier, first, min(len(audio), need), 0))
        out.mkdir(parents=True, exist_ok=True)
        meta |= {"words": words, "phones": tiers} | ({LABEL: classes} if classes else {})
        (out / f"speaker{k:03d}.json").write_text(json.dumps(meta, ensure_ascii=False))
        atomic_save(path, np.stack(rows).astype(np.int16))


def _child_main(argv: Sequence[str]) -> int:
    failed = 0
    for spec in json.loads(argv[0]):
        try:
            generate_language(spec)
        except Exception as exc:  # reported by the parent as a DataError
            print(f"{spec['language']}: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
