"""Phone alignments a user brings with recordings, read into phone tiers
(``tuple[PhoneInterval, ...]``, :mod:`harness.plugin.alignments`).

Two formats:

- **TextGrid** files, as the Montreal Forced Aligner writes them: one
  ``.TextGrid`` per audio file, in a folder that mirrors the audio's, with an
  interval tier of phones (``phones`` by default). Read with praatio.
- A **ZeroSpeech item file**: a header ``#file onset offset #phone prev-phone
  next-phone speaker`` and one row per phone, whose ``file`` names the audio
  file without its extension (its path below the corpus root, or its name
  alone), ``onset`` and ``offset`` in seconds.

Silences and pauses are gaps, not phones: an empty label and ``sil``, ``sp``,
``spn`` (in any case). Every problem is an :class:`AlignmentError` naming the
file, the line or tier, and what would be valid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from pathlib import Path

from harness.plugin.alignments import PhoneInterval, tier_problems

#: labels that mark silence, a pause or an unknown stretch: gaps in a tier
GAPS = frozenset({"", "sil", "sp", "spn"})
TEXTGRID = ".TextGrid"
ITEM_COLUMNS = ("#file", "onset", "offset", "#phone")


class AlignmentError(ValueError):
    """An alignment file that cannot be read as a phone tier; the message locates it."""


def is_gap(label: str) -> bool:
    return label.strip().lower() in GAPS


def read_textgrid(path: Path, tier: str = "phones") -> tuple[PhoneInterval, ...]:
    """The phone tier of a TextGrid file: the intervals of tier ``tier``, gaps left out."""
    from praatio import textgrid  # imported here: reading suites never needs it

    try:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    except Exception as exc:  # praatio raises many kinds on a damaged file
        raise AlignmentError(
            f"{path}: not a TextGrid praatio can read ({type(exc).__name__}: {exc}); expected a "
            "Praat TextGrid (long or short text format), as the Montreal Forced Aligner writes"
        ) from None
    if tier not in grid.tierNames:
        raise AlignmentError(f"{path}: no tier {tier!r}; its tiers: "
                             f"{', '.join(grid.tierNames) or 'none'} (set alignment_tier)")  # fmt: skip
    found = grid.getTier(tier)
    if found.tierType != "IntervalTier":
        raise AlignmentError(f"{path}: tier {tier!r} is a point tier; phones need an interval tier")
    phones = tuple(
        PhoneInterval(float(e.start), float(e.end), e.label.strip())
        for e in found.entries
        if not is_gap(e.label)
    )
    _check(phones, f"{path}, tier {tier!r}")
    return phones


def read_item_file(path: Path) -> dict[str, tuple[PhoneInterval, ...]]:
    """The phone tiers of a ZeroSpeech item file, by its ``#file`` column."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AlignmentError(f"{path}: cannot read the item file: {exc}") from None
    rows = [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip()]
    if not rows or tuple(rows[0][1][: len(ITEM_COLUMNS)]) != ITEM_COLUMNS:
        got = " ".join(rows[0][1]) if rows else "an empty file"
        raise AlignmentError(f"{path}, line {rows[0][0] if rows else 1}: expected the header "
                             f"'#file onset offset #phone prev-phone next-phone speaker', "
                             f"got {got!r}")  # fmt: skip
    width = len(rows[0][1])
    by_file: dict[str, dict[PhoneInterval, int]] = {}  # each phone with its line
    for n, fields in rows[1:]:
        if len(fields) != width:
            raise AlignmentError(f"{path}, line {n}: expected {width} columns as the header "
                                 f"has, got {len(fields)}: {' '.join(fields)!r}")  # fmt: skip
        name, onset, offset, phone = fields[:4]
        start, end = _seconds(onset, path, n, "onset"), _seconds(offset, path, n, "offset")
        if not end > start:
            raise AlignmentError(
                f"{path}, line {n}: expected onset < offset (seconds), got {onset} and {offset}"
            )
        if not is_gap(phone):
            by_file.setdefault(name, {}).setdefault(PhoneInterval(start, end, phone), n)
    return {name: _item_tier(path, name, lines) for name, lines in by_file.items()}


def _item_tier(path: Path, name: str, lines: dict[PhoneInterval, int]) -> tuple[PhoneInterval, ...]:
    """One file's rows as a tier: phones in time order, none overlapping."""
    tier = tuple(sorted(lines))
    for before, after in itertools.pairwise(tier):
        if after.start < before.end:
            raise AlignmentError(
                f"{path}, lines {lines[before]} and {lines[after]}: phones of file {name!r} "
                f"overlap ({before.phone!r} {before.start}-{before.end} s, {after.phone!r} "
                f"{after.start}-{after.end} s); expected one row per phone with the phone's own "
                "onset and offset (an item file of triphones, whose rows span their context, "
                "cannot give a tier)"
            )
    return tier


def _seconds(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise AlignmentError(
            f"{path}, line {line}: expected {column} in seconds (a number >= 0), got {text!r}"
        )
    return value


def _check(phones: Iterable[PhoneInterval], where: str) -> None:
    """The tier's order and overlaps (its end against the audio is checked on loading)."""
    problems = tier_problems(tuple(phones), math.inf)
    if problems:
        raise AlignmentError(f"{where}: {problems[0]}; expected phones in time order, "
                             "none overlapping")  # fmt: skip


def textgrid_for(alignments: Path, relative: Path) -> Path:
    """Where the TextGrid of the audio file at ``relative`` (below the corpus root) is."""
    return (alignments / relative).with_suffix(TEXTGRID)


def item_keys(relative: Path) -> tuple[str, str]:
    """The names an item file may give the audio file at ``relative``: its path
    without extension, then its name without extension."""
    return relative.with_suffix("").as_posix(), relative.stem


class Alignments:
    """A corpus's alignments: a folder of TextGrids mirroring the audio's, or an
    item file; :meth:`tier` reads the tier of one audio file (``relative`` to
    the corpus root), None when the alignments have none for it."""

    def __init__(self, path: Path, tier: str = "phones") -> None:
        self.path = path
        self.tier_name = tier
        self._items: dict[str, tuple[PhoneInterval, ...]] | None = None

    @property
    def is_item_file(self) -> bool:
        return self.path.is_file()

    def items(self) -> dict[str, tuple[PhoneInterval, ...]]:
        if self._items is None:
            self._items = read_item_file(self.path)
        return self._items

    def where(self, relative: Path) -> str:
        """Where the alignment of ``relative`` is looked for, for messages."""
        if self.is_item_file:
            keys = " or ".join(repr(k) for k in item_keys(relative))
            return f"file {keys} in {self.path}"
        return str(textgrid_for(self.path, relative))

    def has(self, relative: Path) -> bool:
        if self.is_item_file:
            return any(k in self.items() for k in item_keys(relative))
        return textgrid_for(self.path, relative).is_file()

    def tier(self, relative: Path) -> tuple[PhoneInterval, ...] | None:
        """:raises AlignmentError: the file holding it cannot be read as a tier."""
        if self.is_item_file:
            found = self.items()
            return next((found[k] for k in item_keys(relative) if k in found), None)
        path = textgrid_for(self.path, relative)
        return read_textgrid(path, self.tier_name) if path.is_file() else None


def alignment_problems(path: Path, tier: str, languages: Iterable[str]) -> list[str]:
    """What validation finds wrong with the alignments at ``path`` for ``languages``
    (TextGrids under ``<path>/<language>/``): every unreadable file, up to 10."""
    if not path.exists():
        return [f"{path} does not exist; expected a folder of TextGrids mirroring root or a "
                "ZeroSpeech item file"]  # fmt: skip
    if path.is_file():
        try:
            read_item_file(path)
        except AlignmentError as exc:
            return [str(exc)]
        return []
    problems = []
    for language in languages:
        grids = sorted((path / language).rglob(f"*{TEXTGRID}"))
        if not grids:
            problems.append(f"no TextGrid for language {language!r} under {path / language}; "
                            f"expected {path}/{language}/<speaker>/<audio file name>.TextGrid, "
                            "mirroring root, as the Montreal Forced Aligner writes them")  # fmt: skip
        for grid in grids:
            try:
                read_textgrid(grid, tier)
            except AlignmentError as exc:
                problems.append(str(exc))
    if len(problems) > 10:
        problems = [*problems[:10], f"and {len(problems) - 10} more files like these"]
    return problems
