"""A private instance of the eSpeak NG library, called through ctypes.

Synchronous mode: ``espeak_Synth`` returns once the text is spoken, and the
audio arrives in pieces through a callback. The library is initialised with
phoneme events (``espeakINITIALIZE_PHONEME_EVENTS``), so the callback also
receives, with each piece of audio, a list of ``espeak_EVENT``: one of type
``espeakEVENT_PHONEME`` per phoneme spoken, holding the sample it starts at
(``sample``, counted from the start of the utterance) and its name in eSpeak's
own ASCII phoneme alphabet (``id.string``, the mnemonics ``espeak-ng -x``
prints). The layout of the struct is the one of eSpeak NG's ``speak_lib.h``.
Asking for events changes what the callback is told, not the audio.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

NATIVE_RATE = 22050
#: espeak_Initialize options (speak_lib.h)
PHONEME_EVENTS, DONT_EXIT = 0x0001, 0x8000
#: espeak_EVENT_TYPE values (speak_lib.h)
EVENT_LIST_TERMINATED, EVENT_END, EVENT_PHONEME = 0, 5, 7
#: espeak_PARAMETER values (speak_lib.h)
RATE, VOLUME, PITCH, RANGE = 1, 2, 3, 4
#: eSpeak's stress marks, which lead a stressed vowel's name in its events
STRESS = "',="

#: a phone as spoken: (first sample, sample after its last, eSpeak mnemonic)
SpokenPhone = tuple[int, int, str]


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


def is_phone(name: str) -> bool:
    """Whether an event's phoneme name is a phone: not a pause (``_``, ``_:``,
    ``_!``...) and not a switch of language (``(en)``)."""
    return bool(name) and not name.startswith(("_", "("))


def phone_tier(marks: list[tuple[int, str]], end: int) -> list[SpokenPhone]:
    """Phones from eSpeak's phoneme marks ``(sample, name)`` in order: each
    lasts until the next mark (a pause's included) or ``end``; pauses and
    language switches are gaps; stress marks are dropped from the names."""
    tier: list[SpokenPhone] = []
    for i, (sample, name) in enumerate(marks):
        stop = marks[i + 1][0] if i + 1 < len(marks) else end
        phone = name.lstrip(STRESS)
        if is_phone(name) and phone and stop > sample:
            tier.append((sample, stop, phone))
    return tier


class Engine:
    """A private instance of eSpeak NG: synchronous mode, audio and phoneme
    events collected by a callback.

    The shared object is copied and loaded under a new name, so this instance's
    globals start fresh whatever other instances in the process did before.
    Use one at a time (``with LOCK``) and :meth:`close` it when done.
    """

    _CALLBACK = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
    )

    def __init__(self, noise_seed: int, data: Path | None = None) -> None:
        """``data``: the data folder eSpeak reads (default the installed one)."""
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
        _declare(lib)
        # 2 = AUDIO_OUTPUT_SYNCHRONOUS; DONT_EXIT: errors return instead of exiting
        path = str(data or espeakng_loader.get_data_path()).encode()
        rate = lib.espeak_Initialize(2, 0, path, PHONEME_EVENTS | DONT_EXIT)
        if rate != NATIVE_RATE:
            raise RuntimeError(f"eSpeak NG failed to initialise (returned {rate})")
        # breathy variants draw noise from a generator eSpeak seeds with the clock
        lib.espeak_ng_SetRandSeed(noise_seed)
        self.lib = lib
        self._chunks: list[np.ndarray] = []
        self._marks: list[tuple[int, str]] = []
        self._callback = self._CALLBACK(self._collect)  # referenced so it is never freed
        lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, n: int, events: Any) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events and events[i].type != EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == EVENT_PHONEME:
                name = event.id.string.decode("utf-8", "replace")
                self._marks.append((int(event.sample), name))
            i += 1
        return 0  # 0 = continue synthesis

    def set_voice(self, name: str) -> bool:
        return self.lib.espeak_SetVoiceByName(name.encode()) == 0

    def set_prosody(self, rate: int, pitch: int, spread: int, volume: int | None = None) -> None:
        """Rate (words per minute), pitch level and range (0-100) and, when given,
        volume (100 = normal), as ``espeak_SetParameter`` absolute values."""
        for parameter, value in ((RATE, rate), (PITCH, pitch), (RANGE, spread)):
            self.lib.espeak_SetParameter(parameter, value, 0)
        if volume is not None:
            self.lib.espeak_SetParameter(VOLUME, volume, 0)

    def phonemes(self, text: str, ipa: bool = True, separator: str = "") -> str:
        """``text`` as eSpeak phonemizes it (clauses joined by spaces): IPA, or
        eSpeak's mnemonics with ``ipa=False``; ``separator`` between phonemes."""
        buffer = ctypes.c_char_p(text.encode())
        pointer = ctypes.pointer(buffer)
        # phonememode: bit 1 = IPA; bits 8-23 = the separator character
        mode = (2 if ipa else 0) | (ord(separator) << 8 if separator else 0)
        parts = []
        while pointer.contents.value:
            out = self.lib.espeak_TextToPhonemes(pointer, 1, mode)  # 1 = UTF-8 text
            parts.append(out.decode("utf-8", "replace") if out else "")
        return " ".join(parts)

    def speak(self, text: str) -> tuple[np.ndarray, list[SpokenPhone]]:
        """The audio of ``text`` (int16 at :data:`NATIVE_RATE`) and its phones, in
        samples of that audio."""
        self._chunks.clear()
        self._marks.clear()
        data = text.encode() + b"\0"
        # position 0, POS_CHARACTER = 1, end 0, espeakCHARS_UTF8 = 1
        status = self.lib.espeak_Synth(data, len(data), 0, 1, 0, 1, None, None)
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        tier = phone_tier(self._marks, len(audio))
        self._chunks.clear()
        self._marks.clear()
        return audio, tier

    def close(self) -> None:
        self.lib.espeak_Terminate()
        with contextlib.suppress(Exception):  # unloading is tidiness, not correctness
            import _ctypes

            _ctypes.dlclose(self.lib._handle)


def _declare(lib: Any) -> None:
    """The argument types of the functions called (speak_lib.h)."""
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


#: One eSpeak instance runs at a time in a process (the library is not thread-safe).
LOCK = threading.Lock()
_INSTANCES = itertools.count()
