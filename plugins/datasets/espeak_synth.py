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
import ctypes
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.audio import atomic_save
from harness.hashing import stable_seed
from harness.plugin.contracts import DataError

NATIVE_RATE = 22050
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


class _Engine:
    """A private instance of eSpeak NG: synchronous mode, audio collected by a callback.

    The shared object is copied and loaded under a new name, so this instance's
    globals start fresh whatever other instances in the process did before.
    Use one at a time (``with _LOCK``) and :meth:`close` it when done.
    """

    _CALLBACK = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
    )

    def __init__(self, noise_seed: int) -> None:
        import espeakng_loader

        original = Path(espeakng_loader.get_library_path())
        # POSIX keeps the loaded copy mapped after the file is deleted; Windows cannot
        # delete it while loaded, so the folder is left for the system to clean up
        with tempfile.TemporaryDirectory(
            prefix="harness-espeak-", ignore_cleanup_errors=True
        ) as folder:
            copy = Path(folder) / f"espeak-{os.getpid()}-{next(_INSTANCES)}{original.suffix}"
            shutil.copyfile(original, copy)
            lib = ctypes.CDLL(str(copy), mode=getattr(os, "RTLD_LOCAL", 0))
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        # 2 = AUDIO_OUTPUT_SYNCHRONOUS; 0x8000 = espeakINITIALIZE_DONT_EXIT (errors return)
        rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0x8000)
        if rate != NATIVE_RATE:
            raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate})")
        # breathy variants draw noise from a generator eSpeak seeds with the clock
        lib.espeak_ng_SetRandSeed(noise_seed)
        self.lib = lib
        self._chunks: list[np.ndarray] = []
        self._callback = self._CALLBACK(self._collect)  # referenced so it is never freed
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = continue synthesis

    def set_voice(self, name: str) -> bool:
        return self.lib.espeak_SetVoiceByName(name.encode()) == 0

    def set_prosody(self, rate: int, pitch: int, spread: int) -> None:
        for parameter, value in ((1, rate), (3, pitch), (4, spread)):  # RATE, PITCH, RANGE
            self.lib.espeak_SetParameter(parameter, value, 0)

    def phonemes(self, text: str) -> str:
        buffer = ctypes.c_char_p(text.encode())
        pointer = ctypes.pointer(buffer)
        parts = []
        while pointer.contents.value:
            out = self.lib.espeak_TextToPhonemes(pointer, 1, 2)  # UTF-8 in, IPA out
            parts.append(out.decode("utf-8", "replace") if out else "")
        return " ".join(parts)

    def synth(self, text: str) -> np.ndarray:
        self._chunks.clear()
        data = text.encode() + b"\0"
        # position 0, POS_CHARACTER = 1, end 0, espeakCHARS_UTF8 = 1
        status = self.lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks.clear()
        return audio

    def close(self) -> None:
        self.lib.espeak_Terminate()
        with contextlib.suppress(Exception):  # unloading is tidiness, not correctness
            import _ctypes

            _ctypes.dlclose(self.lib._handle)


#: One eSpeak instance runs at a time in a process (the library is not thread-safe).
_LOCK = threading.Lock()
_INSTANCES = itertools.count()


def voice_for(language: str) -> str:
    return VOICE_ALIASES.get(language.lower(), language)


def word_list(language: str, size: int, engine: _Engine) -> list[str]:
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
    with _LOCK:
        engine = _Engine(stable_seed("espeak-noise", spec["seed"], spec["language"]) % 2**31)
        try:
            _speak_language(engine, spec)
        finally:
            engine.close()


def vocabulary(language: str, keywords: int, engine: _Engine) -> list[str]:
    """The keyword mode's fixed vocabulary: the ``keywords`` most frequent words of
    ``language`` that eSpeak reads in that language (:func:`word_list`), most frequent first."""
    words = word_list(language, max(4 * keywords, 100), engine)
    if len(words) < keywords:
        raise DataError(f"only {len(words)} {language!r} words can be spoken, {keywords} asked")
    return words[:keywords]


def _speak_language(engine: _Engine, spec: dict[str, Any]) -> None:
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
        rows, texts = [], []
        for c in range(clips):
            text_rng = np.random.default_rng(stable_seed("espeak-text", seed, language, k, c))
            parts: list[np.ndarray] = []
            spoken: list[str] = []
            total = 0
            while total < need:
                phrase = text_rng.choice(len(words), size=int(text_rng.integers(4, 10)), p=weights)
                text = joiner.join(words[i] for i in phrase) + stop
                audio = engine.synth(text)
                if not parts:  # clips start with speech, not eSpeak's lead-in silence
                    loud = np.flatnonzero(np.abs(audio) > 64)
                    audio = audio[loud[0] :] if len(loud) else audio[:0]
                if len(audio) == 0:
                    continue
                parts.append(audio)
                spoken.append(text)
                total += len(audio)
            rows.append(np.concatenate(parts)[:need])
            texts.append("".join(spoken))
        meta = {**speaker, "texts": texts}
        folder = out
        folder.mkdir(parents=True, exist_ok=True)
        path = speaker_file(folder, k)
        if not path.exists():  # an earlier run wrote the identical file
            (folder / f"speaker{k:03d}.json").write_text(json.dumps(meta, ensure_ascii=False))
            atomic_save(path, np.stack(rows).astype(np.int16))


def _speaker_voice(engine: _Engine, spec: dict[str, Any], k: int) -> dict[str, Any]:
    """Set speaker ``k``'s voice variant and prosody (the same draws in both modes)."""
    language, seed, voice = spec["language"], spec["seed"], voice_for(spec["language"])
    order = np.random.default_rng(stable_seed("espeak-variants", seed, language)).permutation(
        len(VARIANTS)
    )
    rng = np.random.default_rng(stable_seed("espeak-speaker", seed, language, k))
    variant = VARIANTS[order[k % len(VARIANTS)]]
    prosody = {
        "rate": int(rng.integers(*RATE_RANGE, endpoint=True)),
        "pitch": int(rng.integers(*PITCH_RANGE, endpoint=True)),
        "spread": int(rng.integers(*SPREAD_RANGE, endpoint=True)),
    }
    if not engine.set_voice(f"{voice}+{variant}"):
        raise DataError(f"eSpeak NG cannot load voice {voice}+{variant}")
    engine.set_prosody(**prosody)
    return {"voice": f"{voice}+{variant}", **prosody}


def _speak_keywords(engine: _Engine, spec: dict[str, Any], vocab: list[str]) -> None:
    """Each clip one word of ``vocab``, speakers cycling through it in a seeded order
    (every word about equally often), silence trimmed, padded to ``clip_seconds``."""
    language, out, seed = spec["language"], Path(spec["out"]), spec["seed"]
    need = round(spec["clip_seconds"] * NATIVE_RATE)
    for k in range(spec["speakers"]):
        path = speaker_file(out, k)
        if path.exists():  # an earlier run wrote the identical file
            continue
        meta = _speaker_voice(engine, spec, k)
        order = np.random.default_rng(stable_seed("espeak-keywords", seed, language, k))
        turn = order.permutation(len(vocab))
        rows, words = [], []
        for c in range(spec["clips_per_speaker"]):
            word = vocab[turn[c % len(vocab)]]
            audio = engine.synth(word)
            loud = np.flatnonzero(np.abs(audio) > 64)
            audio = audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]
            row = np.zeros(need, np.int16)
            row[: min(len(audio), need)] = audio[:need]
            rows.append(row)
            words.append(word)
        out.mkdir(parents=True, exist_ok=True)
        meta |= {"words": words}
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
