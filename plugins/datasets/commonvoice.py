"""Mozilla Common Voice, read from a download already on disk.

Layout: ``<root>/<locale>/validated.tsv`` (tab-separated, with at least the
columns ``client_id`` and ``path``) and ``<root>/<locale>/clips/<path>``
(MP3, decoded by soundfile with libsndfile >= 1.1). The speaker is the
``client_id``, prefixed with the locale so it stays unique across languages.

``labels = ["gender", "age", "accents"]`` makes those columns of the table
labels of each clip (``Clip.labels``), so a task can classify them; an empty
cell becomes the label value ``unknown``. The columns must exist in the table.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harness import REQUIRED, Component, Param, ValidationContext, hookimpl
from harness.data.corpus import (
    Candidate,
    RecordingsDataset,
    check_speakers,
    scan_cached,
    stamp,
)
from harness.data.dataset_roots import languages_under_root

NEEDED_COLUMNS = ("client_id", "path")
#: the label value of an empty cell of a label column
UNKNOWN = "unknown"
#: Common Voice sentences contain quotes and very long fields; read them raw.
csv.field_size_limit(1 << 24)


class CommonVoiceDataset(RecordingsDataset):
    name = "commonvoice"

    def __init__(
        self,
        root: str,
        clips_per_speaker: int = 10,
        max_speakers: int | None = None,
        seed: int = 0,
        tsv: str = "validated.tsv",
        balance: bool = True,
        labels: list[str] | None = None,
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance)
        self.tsv = tsv
        self.labels = tuple(labels or ())

    def candidates(self, locale: str) -> dict[str, list[Candidate]]:
        """Files listed for ``locale``, by speaker; problems are skipped with a warning."""
        table = self.root / locale / self.tsv
        if not table.is_file():
            self.skips.skip(
                locale, table, "missing (expected a Common Voice validated.tsv)", "missing"
            )
            return {}
        by_speaker: dict[str, list[Candidate]] = {}
        try:
            with open(table, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                needed = (*NEEDED_COLUMNS, *self.labels)
                missing = [c for c in needed if c not in (reader.fieldnames or [])]
                if missing:
                    found = ", ".join(reader.fieldnames or []) or "none"
                    self.skips.skip(
                        locale,
                        table,
                        f"lacks column(s) {', '.join(missing)} (found: {found})",
                        "unreadable",
                    )
                    return {}
                for line, row in enumerate(reader, start=2):
                    client, name = (row.get("client_id") or "").strip(), (row.get("path") or "")
                    name = name.strip()
                    if not client or not name:
                        self.skips.skip(
                            locale, f"{table}:{line}", "empty client_id or path", "other"
                        )
                        continue
                    path = self.root / locale / "clips" / name
                    if not path.is_file():
                        self.skips.skip(
                            locale, path, f"listed in {table.name} but missing", "missing"
                        )
                        continue
                    speaker = f"{locale}/{client}"
                    clip_id = f"commonvoice/{locale}/{name}"
                    labels = {c: (row.get(c) or "").strip() or UNKNOWN for c in self.labels}
                    by_speaker.setdefault(speaker, []).append(Candidate(clip_id, path, labels))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.skips.skip(locale, table, f"cannot read: {exc}", "unreadable")
            return {}
        return by_speaker


def _header(table: Path) -> list[str]:
    with open(table, encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), [])


def _listed_files(table: Path) -> dict[str, int]:
    """Rows per speaker whose clip file exists."""
    clips = table.parent / "clips"
    counts: dict[str, int] = {}
    with open(table, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            client, name = (row.get("client_id") or "").strip(), (row.get("path") or "").strip()
            if client and name and (clips / name).is_file():
                speaker = f"{table.parent.name}/{client}"
                counts[speaker] = counts.get(speaker, 0) + 1
    return counts


def check_download(
    params: Mapping[str, Any], context: ValidationContext
) -> Iterator[tuple[str, str]]:
    """The root holds every locale's table, with the needed columns and enough speakers."""
    for name in params.get("labels") or ():
        if name in ("language", "speaker", *NEEDED_COLUMNS):
            yield "labels", (f"commonvoice: {name!r} cannot be a label column (language and "
                             "speaker are every clip's already; client_id and path name them)")  # fmt: skip
    root, tsv = Path(params["root"]).expanduser(), params["tsv"]
    available = yield from languages_under_root(
        "commonvoice",
        root,
        context.languages,
        lambda found: sorted(p.name for p in found.iterdir() if (p / tsv).is_file()),
        tsv,
    )
    if available is None:
        return
    files = {}
    for locale in (lang for lang in context.languages if lang in available):
        table = root / locale / tsv
        try:
            header = _header(table)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            yield "tsv", f"commonvoice: cannot read {table}: {exc}"
            continue
        labels = [c for c in params.get("labels") or () if c not in header]
        if labels:
            yield "labels", (f"commonvoice: {table} has no column(s) {', '.join(labels)} to "
                             f"read labels from; its columns: {', '.join(header)}")  # fmt: skip
        missing = [c for c in NEEDED_COLUMNS if c not in header]
        if missing:
            yield "tsv", (f"commonvoice: {table} lacks column(s) {', '.join(missing)} "
                          f"(found: {', '.join(header) or 'none'}); expected a Common Voice "
                          "table with client_id and path")  # fmt: skip
            continue
        clips = table.parent / "clips"
        key = [stamp(table), stamp(clips) if clips.is_dir() else None]
        files[locale] = scan_cached(context, "commonvoice", key, lambda t=table: _listed_files(t))
    yield from check_speakers("commonvoice", files, params, context)


@hookimpl
def harness_datasets() -> list[Component]:
    return [
        Component(
            name="commonvoice",
            factory=CommonVoiceDataset,
            doc="a Common Voice download: <root>/<locale>/validated.tsv and clips/*.mp3",
            params=[
                Param("root", str, REQUIRED, "folder holding one folder per locale"),
                Param("clips_per_speaker", int, 10, "clips taken from every speaker", min=1),
                Param(
                    "max_speakers",
                    int,
                    None,
                    "speakers per language; default: every speaker with enough clips",
                    min=1,
                    optional=True,
                ),
                Param("seed", int, 0, "seed of the speaker and clip choice", min=0),
                Param("tsv", str, "validated.tsv", "which table of each locale to read"),
                Param(
                    "balance",
                    bool,
                    True,
                    "keep as many speakers in every language as the language with the fewest",
                ),
                Param(
                    "labels",
                    list,
                    None,
                    "columns of the table read as clip labels, such as gender, age, accents",
                    item=str,
                    optional=True,
                ),
            ],
            labels=lambda params: tuple(params.get("labels") or ()),
            check=check_download,
        )
    ]
