"""Mozilla Common Voice, read from a download already on disk.

Layout: ``<root>/<locale>/validated.tsv`` (tab-separated, with at least the
columns ``client_id`` and ``path``) and ``<root>/<locale>/clips/<path>``
(MP3, decoded by soundfile with libsndfile >= 1.1). The speaker is the
``client_id``, prefixed with the locale so it stays unique across languages.
"""

from __future__ import annotations

import csv

from harness import REQUIRED, Component, Param, hookimpl
from harness.corpus import Candidate, RecordingsDataset

NEEDED_COLUMNS = ("client_id", "path")
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
    ) -> None:
        super().__init__(root, clips_per_speaker, max_speakers, seed, balance)
        self.tsv = tsv

    def candidates(self, locale: str) -> dict[str, list[Candidate]]:
        """Files listed for ``locale``, by speaker; problems are skipped with a warning."""
        table = self.root / locale / self.tsv
        if not table.is_file():
            self.skips.skip(locale, table, "missing (expected a Common Voice validated.tsv)")
            return {}
        by_speaker: dict[str, list[Candidate]] = {}
        try:
            with open(table, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                missing = [c for c in NEEDED_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    found = ", ".join(reader.fieldnames or []) or "none"
                    self.skips.skip(
                        locale, table, f"lacks column(s) {', '.join(missing)} (found: {found})"
                    )
                    return {}
                for line, row in enumerate(reader, start=2):
                    client, name = (row.get("client_id") or "").strip(), (row.get("path") or "")
                    name = name.strip()
                    if not client or not name:
                        self.skips.skip(locale, f"{table}:{line}", "empty client_id or path")
                        continue
                    path = self.root / locale / "clips" / name
                    if not path.is_file():
                        self.skips.skip(locale, path, f"listed in {table.name} but missing")
                        continue
                    speaker = f"{locale}/{client}"
                    clip_id = f"commonvoice/{locale}/{name}"
                    by_speaker.setdefault(speaker, []).append(Candidate(clip_id, path))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.skips.skip(locale, table, f"cannot read: {exc}")
            return {}
        return by_speaker


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
            ],
        )
    ]
