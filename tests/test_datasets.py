"""Dataset plugins: the eSpeak corpus, Common Voice and folder layouts, bad input."""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.data.splits import ROLES, assign_roles
from harness.plugin.contracts import Clip, DataError, DataRequest, DataWarning
from harness.spec.config import SplitConfig
from harness_plugins.datasets import commonvoice, espeak, espeak_synth, espeak_voices, folder
from harness_plugins.datasets.espeak import EspeakDataset

EIGHT = ("es", "it", "ja", "en", "fr", "de", "zh", "hi")
SMALL = {"clips_per_speaker": 2, "clip_seconds": 1.0}


def _request(languages, cache: Path, rate: int = 16000, need: dict | None = None) -> DataRequest:
    return DataRequest(tuple(languages), rate, need or dict.fromkeys(languages, 1), cache)


def _quiet_load(dataset, request: DataRequest) -> list[Clip]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # a clean corpus warns about nothing
        return dataset.load(request)


@pytest.fixture(scope="module")
def espeak_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("espeak-cache")


@pytest.fixture(scope="module")
def espeak_clips(espeak_cache) -> list[Clip]:
    # es needs 4 speakers, the others 1: every language gets 4 (the maximum)
    need = {lang: 1 for lang in EIGHT} | {"es": 4}
    return _quiet_load(EspeakDataset(**SMALL), _request(EIGHT, espeak_cache, need=need))


def _corpus_dir(cache: Path) -> Path:
    return EspeakDataset(**SMALL).corpus_dir(cache)


def test_espeak_speaks_every_language(espeak_clips) -> None:
    for lang in EIGHT:
        clips = [c for c in espeak_clips if c.language == lang]
        assert len({c.speaker for c in clips}) == 4, lang
        assert len(clips) == 8, lang
        for clip in clips:
            assert clip.sample_rate == 16000 and clip.audio.dtype == np.float32
            assert clip.audio.shape == (16000,)
            assert np.isfinite(clip.audio).all()
            # speech fills the clip: loud overall, and not just at the start
            assert np.sqrt(np.mean(clip.audio**2)) > 0.01, clip.clip_id
            assert np.abs(clip.audio[8000:]).max() > 0.02, clip.clip_id
    assert len({c.clip_id for c in espeak_clips}) == len(espeak_clips)
    speakers_by_language = {}
    for c in espeak_clips:
        assert speakers_by_language.setdefault(c.speaker, c.language) == c.language


def test_espeak_joins_unspaced_languages_without_spaces(espeak_clips, espeak_cache) -> None:
    root = _corpus_dir(espeak_cache)
    for lang in EIGHT:
        meta = json.loads((root / lang / "speaker000.json").read_text(encoding="utf-8"))
        text = "".join(meta["texts"])
        if lang in ("ja", "zh"):
            assert " " not in text, lang
        else:
            assert text.count(" ") > 3, lang
    zh = json.loads((root / "zh" / "speaker000.json").read_text(encoding="utf-8"))
    assert zh["voice"].startswith("cmn+")  # eSpeak's Mandarin voice


def test_espeak_speakers_are_distinct_voices(espeak_clips, espeak_cache) -> None:
    root = _corpus_dir(espeak_cache)
    metas = [json.loads((root / "es" / f"speaker{k:03d}.json").read_text()) for k in range(4)]
    assert len({m["voice"] for m in metas}) == 4
    assert len({(m["pitch"], m["rate"], m["spread"]) for m in metas}) == 4
    es = [c for c in espeak_clips if c.language == "es"]
    assert not np.array_equal(es[0].audio, es[2].audio)


def test_espeak_second_load_reads_the_cache(espeak_clips, espeak_cache, monkeypatch) -> None:
    def no_generation(spec):
        raise AssertionError(f"regenerated {spec['language']} although it is cached")

    monkeypatch.setattr(espeak, "_spawn", no_generation)
    need = {lang: 1 for lang in EIGHT} | {"es": 4}
    again = _quiet_load(EspeakDataset(**SMALL), _request(EIGHT, espeak_cache, need=need))
    assert [c.clip_id for c in again] == [c.clip_id for c in espeak_clips]
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(again, espeak_clips, strict=True))
    # another sample rate resamples the cached audio instead of generating
    narrow = _quiet_load(EspeakDataset(**SMALL), _request(["ja"], espeak_cache, 8000))
    assert {c.audio.shape for c in narrow} == {(8000,)}


def test_espeak_same_params_give_bit_identical_audio(espeak_clips, espeak_cache, tmp_path) -> None:
    # fewer speakers, fresh cache, fresh child processes: speakers 0-1 must not change
    EspeakDataset(**SMALL).load(_request(["es", "ja"], tmp_path, need={"es": 2, "ja": 2}))
    old, new = _corpus_dir(espeak_cache), _corpus_dir(tmp_path)
    assert old.name == new.name
    for lang in ("es", "ja"):
        for k in range(2):
            a = (old / lang / f"speaker{k:03d}.npy").read_bytes()
            assert a == (new / lang / f"speaker{k:03d}.npy").read_bytes(), (lang, k)
    assert not (new / "es" / "speaker002.npy").exists()  # exactly enough speakers


def test_espeak_every_variant_is_reproducible_in_one_process(tmp_path) -> None:
    """Fresh library instances forget earlier speech; breathy variants' noise is seeded,
    not clock-seeded (the pause crosses a clock second)."""
    spec = {
        "language": "it",
        "speakers": len(espeak_synth.VARIANTS),
        "clips_per_speaker": 1,
        "clip_seconds": 0.5,
        "seed": 3,
        "word_list_size": 300,
    }
    espeak_synth.generate_language(spec | {"out": str(tmp_path / "a")})
    time.sleep(1.1)
    espeak_synth.generate_language(spec | {"out": str(tmp_path / "b")})
    voices = set()
    for k in range(len(espeak_synth.VARIANTS)):
        name = f"speaker{k:03d}.npy"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        voices.add(json.loads((tmp_path / "a" / f"speaker{k:03d}.json").read_text())["voice"])
    assert voices == {f"it+{v}" for v in espeak_synth.VARIANTS}


def test_unique_voices_scale_each_formant_and_the_pitch_band() -> None:
    text = "name male3\npitch 80 122\nformant 0 100 100 100\nformant 1  96  97 100\n"
    factors = np.array([1.1, 0.9] + [1.0] * 7)
    scaled = espeak_voices.scaled_variant(text, factors, 1.05)
    assert "formant 0 110 100 100" in scaled and "formant 1  86  97 100" in scaled
    assert "pitch 84 128" in scaled and scaled.startswith("name male3")
    bare = espeak_voices.scaled_variant("name plain\n", np.full(9, 1.1), 0.9)
    assert "formant 8 110 100 100" in bare and "pitch 72 106" in bare  # eSpeak's defaults


def test_espeak_unique_voices_are_reproducible_and_their_own(tmp_path, monkeypatch) -> None:
    """Each speaker its own variant file in a private data folder, removed
    afterwards; the same draws of variant, pitch and text as the shared voices."""
    spec = {"language": "it", "speakers": 2, "clips_per_speaker": 1, "clip_seconds": 0.5,
            "seed": 3, "word_list_size": 300}  # fmt: skip
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    for out, voices in (("u1", "unique"), ("u2", "unique"), ("v", "variants")):
        espeak_synth.generate_language(spec | {"out": str(tmp_path / out), "voices": voices})
    assert not [p for p in temporary.iterdir() if p.name.startswith("harness-espeak-data")]
    for k in range(2):
        name, meta = f"speaker{k:03d}.npy", f"speaker{k:03d}.json"
        own = (tmp_path / "u1" / name).read_bytes()
        assert own == (tmp_path / "u2" / name).read_bytes()
        assert own != (tmp_path / "v" / name).read_bytes()
        unique, shared = (json.loads((tmp_path / d / meta).read_text()) for d in ("u1", "v"))
        formants, pitch = espeak_voices.speaker_factors(3, "it", k)
        assert unique["formants"] == formants.round(4).tolist()
        assert unique["pitch_band"] == round(pitch, 4)
        for key in ("voice", "rate", "pitch", "spread", "texts"):
            assert unique[key] == shared[key], key


def test_the_private_data_folder_copies_where_links_are_refused(tmp_path, monkeypatch) -> None:
    installed = tmp_path / "data"
    (installed / "voices" / "!v").mkdir(parents=True)
    (installed / "voices" / "es").mkdir()
    (installed / "phondata").write_bytes(b"\x01\x02")
    (installed / "voices" / "!v" / "m1").write_text("name male1\n")

    def refuse(*args, **kwargs):
        raise OSError("links not allowed")

    monkeypatch.setattr(espeak_voices.os, "symlink", refuse)
    with espeak_voices.private_data(installed, {"own": "name own\n"}) as folder:
        assert (folder / "phondata").read_bytes() == b"\x01\x02"
        assert not (folder / "phondata").is_symlink() and (folder / "voices" / "es").is_dir()
        assert (folder / "voices" / "!v" / "m1").read_text() == "name male1\n"
        assert (folder / "voices" / "!v" / "own").read_text() == "name own\n"
    assert not folder.exists()


def test_unique_voices_are_another_corpus_and_the_default_keeps_its_key(tmp_path) -> None:
    default = EspeakDataset(**SMALL)
    assert EspeakDataset(**SMALL, voices="variants").corpus_dir(tmp_path) == default.corpus_dir(
        tmp_path
    )
    assert EspeakDataset(**SMALL, voices="unique").corpus_dir(tmp_path) != default.corpus_dir(
        tmp_path
    )
    with pytest.raises(ValueError, match="variants, unique"):
        EspeakDataset(**SMALL, voices="distinct")


def test_espeak_seed_changes_the_corpus(espeak_clips, espeak_cache, tmp_path) -> None:
    other = EspeakDataset(**SMALL, seed=1, speakers=1).load(_request(["it"], tmp_path))
    first = next(c for c in espeak_clips if c.language == "it")
    assert other[0].speaker == first.speaker and other[0].clip_id != first.clip_id
    assert not np.array_equal(other[0].audio, first.audio)


def test_espeak_unknown_language_is_a_data_error(tmp_path) -> None:
    with pytest.raises(DataError, match="xq"):
        EspeakDataset(**SMALL, speakers=1).load(_request(["xq"], tmp_path))


# ---------------------------------------------------------------- recorded layouts


def _voice(seed: int, seconds: float = 0.5, rate: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(100, 250)
    audio = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.2 * audio + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_commonvoice(root: Path) -> Path:
    """es: speakers a, b, e (3 clips), c (3, one corrupt), d (1), f (2, one corrupt); a
    missing and a silent clip listed; it: x, y, z with 2 clips; fr: a TSV without client_id."""
    rows = {"es": [], "it": []}
    plan = {"es": {"a": 3, "b": 3, "c": 3, "d": 1, "e": 3, "f": 2}, "it": {"x": 2, "y": 2, "z": 2}}
    seed = 0
    for lang, speakers in plan.items():
        (root / lang / "clips").mkdir(parents=True)
        for speaker, n in speakers.items():
            for i in range(n):
                name = f"cv_{lang}_{speaker}{i}.mp3"
                seed += 1
                sf.write(root / lang / "clips" / name, _voice(seed), 16000, format="MP3")
                rows[lang].append((f"client-{speaker}", name, f"sentence {i}"))
    for name in ("cv_es_c0.mp3", "cv_es_f0.mp3"):
        (root / "es" / "clips" / name).write_bytes(b"this is not an mp3 file")
    rows["es"].append(("client-b", "cv_es_gone.mp3", "listed but never written"))
    sf.write(
        root / "es" / "clips" / "cv_es_quiet.mp3", np.zeros(8000, np.float32), 16000, format="MP3"
    )
    rows["es"].append(("client-e", "cv_es_quiet.mp3", "silence"))
    for lang, lines in rows.items():
        text = "client_id\tpath\tsentence\tup_votes\n"
        text += "".join(f"{c}\t{p}\t{s}\t2\n" for c, p, s in lines)
        (root / lang / "validated.tsv").write_text(text, encoding="utf-8")
    (root / "fr" / "clips").mkdir(parents=True)
    (root / "fr" / "validated.tsv").write_text("speaker\tpath\nsomeone\tx.mp3\n")
    return root


def write_folder(root: Path) -> Path:
    """en: s1-s4 (2-3 files, s2 with a NaN and an empty WAV); de: t1-t3; nl: empty."""
    seed = 100
    for lang, speakers in {"en": ["s1", "s2", "s3", "s4"], "de": ["t1", "t2", "t3"]}.items():
        for speaker in speakers:
            (root / lang / speaker).mkdir(parents=True)
            for i, ext in enumerate(("wav", "flac", "mp3")):
                seed += 1
                fmt = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}[ext]
                sf.write(root / lang / speaker / f"u{i}.{ext}", _voice(seed), 16000, format=fmt)
    broken = _voice(1)
    broken[100] = np.nan
    sf.write(root / "en" / "s2" / "nan.wav", broken, 16000, subtype="FLOAT")
    sf.write(root / "en" / "s2" / "empty.wav", np.zeros(0, np.float32), 16000)
    (root / "en" / "s2" / "notes.txt").write_text("not audio")
    (root / "nl").mkdir()
    return root


@pytest.fixture
def cv_root(tmp_path) -> Path:
    return write_commonvoice(tmp_path / "cv")


@pytest.fixture
def folder_root(tmp_path) -> Path:
    return write_folder(tmp_path / "folder")


def _by_speaker(clips: list[Clip]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in clips:
        counts[c.speaker] = counts.get(c.speaker, 0) + 1
    return counts


def test_commonvoice_balanced_selection_and_bad_files(cv_root, tmp_path) -> None:
    dataset = commonvoice.CommonVoiceDataset(root=str(cv_root), clips_per_speaker=2, balance=False)
    with pytest.warns(DataWarning) as caught:
        clips = dataset.load(_request(["es", "it"], tmp_path / "cache", rate=8000))
    messages = "\n".join(str(w.message) for w in caught)
    assert "cv_es_f0.mp3: undecodable" in messages
    reasons = {Path(w.message.file).name: w.message.reason for w in caught}
    assert reasons["cv_es_f0.mp3"] == "undecodable" and reasons["cv_es_gone.mp3"] == "missing"
    assert reasons["cv_es_quiet.mp3"] == "silent"
    assert "speaker es/client-f: too few usable clips (1 of 2 needed)" in messages
    assert "cv_es_gone.mp3: listed in validated.tsv but missing" in messages
    counts = _by_speaker(clips)
    # d has one clip, f one readable clip; c has two readable clips, enough
    assert counts == {
        "es/client-a": 2,
        "es/client-b": 2,
        "es/client-c": 2,
        "es/client-e": 2,
        "it/client-x": 2,
        "it/client-y": 2,
        "it/client-z": 2,
    }
    assert dataset.skips.skipped("es") >= 2
    for clip in clips:
        assert clip.sample_rate == 8000 and clip.audio.dtype == np.float32
        assert abs(len(clip.audio) - 4000) < 600  # 0.5 s, give or take MP3 padding
        assert clip.clip_id.startswith(f"commonvoice/{clip.language}/cv_")
    if any("cv_es_quiet" in c.clip_id for c in clips):
        pytest.fail("a silent clip was kept")
    assert list((tmp_path / "cache" / "decoded").rglob("*.npy"))  # decoded audio cached


def test_commonvoice_balances_speakers_across_languages(cv_root, tmp_path) -> None:
    dataset = commonvoice.CommonVoiceDataset(root=str(cv_root), clips_per_speaker=2)
    with pytest.warns(DataWarning) as caught:
        clips = dataset.load(_request(["es", "it"], tmp_path))
    assert any(
        "kept 3 speaker(s) in every language, as many as it has" in str(w.message) for w in caught
    )
    counts = _by_speaker(clips)
    assert sum(s.startswith("es/") for s in counts) == sum(s.startswith("it/") for s in counts) == 3
    assert set(counts.values()) == {2}


def test_commonvoice_is_seeded_and_caps_speakers(cv_root, tmp_path) -> None:
    def pick(seed: int) -> list[str]:
        dataset = commonvoice.CommonVoiceDataset(
            root=str(cv_root), clips_per_speaker=1, max_speakers=2, seed=seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            return [c.clip_id for c in dataset.load(_request(["es"], tmp_path / "c"))]

    first = pick(0)
    assert first == pick(0)
    assert len(first) == 2
    assert any(pick(seed) != first for seed in range(1, 6))


def test_commonvoice_tsv_without_columns_is_a_data_error(cv_root, tmp_path) -> None:
    dataset = commonvoice.CommonVoiceDataset(root=str(cv_root))
    lacks = pytest.warns(DataWarning, match=r"fr.*lacks column\(s\) client_id")
    with lacks, pytest.raises(DataError, match="fr"):
        dataset.load(_request(["fr"], tmp_path))
    with pytest.warns(DataWarning, match="missing"), pytest.raises(DataError, match="pt"):
        dataset.load(_request(["pt"], tmp_path))


def test_folder_reads_every_format_and_skips_bad_files(folder_root, tmp_path) -> None:
    dataset = folder.FolderDataset(root=str(folder_root))
    with pytest.warns(DataWarning) as caught:
        clips = dataset.load(_request(["en", "de"], tmp_path, rate=16000))
    messages = "\n".join(str(w.message) for w in caught)
    assert "nan.wav: undecodable: contains NaN" in messages
    assert "empty.wav" in messages
    counts = _by_speaker(clips)
    assert counts == {f"en/s{i}": 3 for i in range(1, 5)} | {f"de/t{i}": 3 for i in range(1, 4)}
    assert {Path(c.clip_id).suffix for c in clips} == {".wav", ".flac", ".mp3"}
    assert all(c.clip_id.startswith("folder/") for c in clips)
    with pytest.warns(DataWarning), pytest.raises(DataError, match="nl"):
        dataset.load(_request(["en", "nl"], tmp_path))


def test_declared_parameters_resolve() -> None:
    from harness.plugin.components import resolve_params

    for module, name in ((espeak, "espeak"), (commonvoice, "commonvoice"), (folder, "folder")):
        (component,) = module.harness_datasets()
        assert component.name == name
        given = {} if name == "espeak" else {"root": "/data"}
        params, problems = resolve_params(component.params, given, "dataset")
        assert not problems
        assert hasattr(component.create(**params), "load")
    (cv,) = commonvoice.harness_datasets()
    _, problems = resolve_params(cv.params, {}, "dataset")
    assert problems and problems[0][0] == "dataset.root"


# ---------------------------------------------------------------- roles on real plugin output


def _assert_disjoint(clips: list[Clip], splits: SplitConfig, target: str, pretrain) -> None:
    roles = assign_roles(clips, splits, target, pretrain)
    owners: dict[str, str] = {}
    for role in ROLES:
        for speaker in roles.speakers(role):
            assert owners.setdefault(speaker, role) == role, f"{speaker} in two roles"
    counts = roles.counts()
    assert counts["train"][target]["speakers"] == splits.train_speakers
    assert counts["heldout"][target]["speakers"] == splits.heldout_speakers
    probe_clips = {lang: counts["probe"][lang]["clips"] for lang in splits.probe_languages}
    assert len(set(probe_clips.values())) == 1  # equal clips per probe language


@pytest.mark.parametrize("plugin", ["espeak", "commonvoice", "folder"])
def test_every_dataset_yields_speaker_disjoint_roles(
    plugin, espeak_clips, cv_root, folder_root, tmp_path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        if plugin == "espeak":
            clips, target, other = espeak_clips, "es", "ja"
        elif plugin == "commonvoice":
            dataset = commonvoice.CommonVoiceDataset(
                root=str(cv_root), clips_per_speaker=2, balance=False
            )
            clips, target, other = dataset.load(_request(["es", "it"], tmp_path)), "es", "it"
        else:
            dataset = folder.FolderDataset(root=str(folder_root))
            clips, target, other = dataset.load(_request(["en", "de"], tmp_path)), "en", "de"
    splits = SplitConfig(
        probe_languages=[target, other],
        pretrain_speakers=1,
        train_speakers=1,
        heldout_speakers=1,
        probe_speakers=2,
    )
    _assert_disjoint(clips, splits, target, [other])
