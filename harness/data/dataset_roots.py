"""A file-based dataset's root folder and the languages under it, as suite checks and at load.

Every recordings dataset first asks the same questions of its ``root``: does the
folder exist, and does it hold the languages the suite uses (one folder or table
per language, or a single language for a corpus such as RAVDESS). The checks
here are generators of ``(parameter, problem)`` pairs for a component's
``check``; their return value (read with ``yield from``) says what the rest of
the check can use. :class:`OneLanguageRecordings` is the loading side of a
one-language corpus. Built-in datasets use them; a third-party dataset may too.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from harness.data.corpus import Candidate, RecordingsDataset, missing_languages, missing_root
from harness.plugin.components import ValidationContext

Problems = Generator[tuple[str, str], None, list[str] | None]


def languages_under_root(
    dataset: str,
    root: Path,
    wanted: Sequence[str],
    listing: Callable[[Path], list[str]],
    unit: str,
) -> Problems:
    """Problems with ``root`` and each wanted language ``listing(root)`` lacks.

    :param listing: the languages ``root`` holds, read when it is a folder.
    :param unit: what a language is under the root ("folder", "validated.tsv"), for messages.
    :returns: the languages ``root`` holds, or None when it is no folder.
    """
    problem = missing_root(dataset, root)
    if problem:
        yield "root", problem
        return None
    available = listing(root)
    yield from missing_languages(dataset, root, wanted, available, unit)
    return available


def one_language_root(
    dataset: str, language: str, language_name: str, root: Path, context: ValidationContext
) -> Generator[tuple[str, str], None, bool]:
    """Problems of a corpus of one language: the suite uses others, ``root`` is no folder.

    :returns: whether ``root`` is a folder the rest of the check can scan.
    """
    others = [lang for lang in context.languages if lang != language]
    if others:
        uses = ", ".join(map(repr, others))
        yield (
            "",
            f"{dataset}: holds {language_name} ({language!r}) only; the suite also uses {uses}",
        )
    problem = missing_root(dataset, root)
    if problem:
        yield "root", problem
        return False
    return True


class OneLanguageRecordings(RecordingsDataset):
    """A recordings corpus of one language: asked for another, or with its folder
    missing, it has no candidates (and says why in its skip log); otherwise
    :meth:`scan` lists them."""

    #: the language every clip has, and how messages name the corpus
    language = "en"
    title = "the dataset"
    language_name = "English"

    def candidates(self, language: str) -> dict[str, list[Candidate]]:
        if language != self.language:
            why = f"{self.title} holds {self.language_name} ({self.language}) only"
            self.skips.skip(language, self.root, why, "missing")
            return {}
        if not self.root.is_dir():
            self.skips.skip(language, self.root, "missing dataset folder", "missing")
            return {}
        return self.scan()

    def scan(self) -> dict[str, list[Candidate]]:
        """Every candidate clip by speaker, from :attr:`root`."""
        raise NotImplementedError
