"""Expand a suite into runs: conditions x models x seeds.

Each run's id is a hash of everything that can change its numbers, written
as canonical JSON, so the same suite gives the same ids on any machine and
changing a parameter that affects a run changes its id. A curriculum's
condition holds every stage in order (``Condition.to_dict``), so each stage's
language, filter with its parameters, budget and objective is in the id; a
condition written without stages keeps the content, hence the id, it always
had (a one-stage curriculum is read as that condition). The code counts
too: the provenance of the harness and of every component a run uses
(distribution, version, and a source hash for unversioned or editable code;
see :mod:`harness.plugin.provenance`), so changed plugin code runs again. Where
results go (output, cache, executor) is not part of the id, nor is the path
of a checkpoint a run starts from: its content hash is (moving the file keeps
the ids, changing it runs again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.hashing import content_hash
from harness.plugin.provenance import Resolver
from harness.plugin.registry import Registry, load_registry
from harness.spec.checkpoints import Checkpoint
from harness.spec.suite import Condition, Selection, Suite
from harness.spec.suite_types import SuiteSettings

#: Bump when the meaning of a run changes in a way its parameters do not show.
#: 2: a relative threshold is a fraction of the model's untrained held-out loss
#: averaged over the suite's seeds, no longer of the run's own.
#: 3: the provenance of the code (harness and components) is part of a run's id.
PROTOCOL_VERSION = 3


@dataclass(frozen=True)
class RunSpec(SuiteSettings):
    """Everything one run needs; picklable, so it travels to any worker."""

    suite: str
    condition: Condition
    model: Selection
    seed: int
    #: the suite's seeds: a relative threshold is a fraction of the model's
    #: untrained held-out loss averaged over them
    reference_seeds: tuple[int, ...]
    languages: tuple[str, ...]
    speakers_needed: Mapping[str, int]
    control: str
    cache_dir: str
    #: "harness" and "<kind>/<component>" -> origin of the code (harness.plugin.provenance);
    #: resolved once in the main process, so workers never recompute it
    provenance: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: the weights the run's model starts from (its condition's, else its model's), or None
    checkpoint: Checkpoint | None = None
    #: the weights the untrained reference of a relative threshold starts from:
    #: the model's own (``[[models]] checkpoint``), the same in every condition
    reference_checkpoint: Checkpoint | None = None
    #: the filter the probe clips pass through before their features ([probing] filter)
    probe_filter: Selection | None = None
    #: target-training steps the probes also run at ([probing] probe_at, resolved
    #: against this run's max_steps); () for the final probing only
    probe_at: tuple[int, ...] = ()
    #: the labels of the probes that run along training where the suite narrowed
    #: them ([probing] probe_at_probes); None: every probe whose plugin runs there
    probe_at_probes: tuple[str, ...] | None = None

    def content(self) -> dict[str, Any]:
        """What determines the run's numbers (the hashed part).

        The reference seeds count only for a relative threshold: adding a seed
        to such a suite changes every run's threshold, hence its id.
        """
        relative = self.target.threshold_mode == "relative"
        # keys only where a checkpoint is given, so other runs keep their ids
        starts: dict[str, Any] = {"checkpoint": self.checkpoint.sha256} if self.checkpoint else {}
        if relative and self.reference_checkpoint:
            starts["reference_checkpoint"] = self.reference_checkpoint.sha256
        if self.probe_filter is not None:  # likewise only where given
            starts["probe_filter"] = self.probe_filter.to_dict()
        if self.probe_at:  # the record of such a run holds rows others lack
            starts["probe_at"] = list(self.probe_at)
        if self.probe_at_probes is not None:  # likewise only where narrowed
            starts["probe_at_probes"] = list(self.probe_at_probes)
        return {
            "protocol": PROTOCOL_VERSION,
            "condition": self.condition.to_dict(),
            "model": self.model.to_dict(),
            "seed": self.seed,
            **({"reference_seeds": list(self.reference_seeds)} if relative else {}),
            "dataset": self.dataset.to_dict(),
            "features": dataclasses.asdict(self.features),
            "splits": dataclasses.asdict(self.splits),
            "target": dataclasses.asdict(self.target),
            "training": dataclasses.asdict(self.training),
            "extractors": [s.to_dict() for s in self.extractors],
            "probes": [s.to_dict() for s in self.probes],
            "provenance": dict(self.provenance),
            **starts,
        }

    def identity(self) -> dict[str, Any]:
        """The hashed content without the code's provenance: two runs with equal
        identities differ only in the code that ran them."""
        content = self.content()
        del content["provenance"]
        return content

    @property
    def run_id(self) -> str:
        return content_hash(self.content())

    @property
    def label(self) -> str:
        return f"{self.condition.name}/{self.model.label}/seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form kept in each run record."""
        return {
            "run_id": self.run_id,
            "label": self.label,
            "suite": self.suite,
            "control": self.control,
            "languages": list(self.languages),
            **self.content(),
        }


def expand(suite: Suite, registry: Registry | None = None) -> list[RunSpec]:
    """All runs of a suite, in a stable order (condition, model, seed), each
    with the settings its condition resolves (:meth:`Suite.features_for`...).

    :param registry: where the suite's components come from, for their
        provenance; default all installed plugins, as :func:`load_suite` uses.
    """
    registry = registry or load_registry()
    resolver = Resolver()

    def provenance(condition: Condition, model: Selection) -> dict[str, Any]:
        # a curriculum's every filter (one plugin used twice gives its provenance once)
        chosen = [suite.dataset, *condition.filters, model, *suite.extractors, *suite.probes]
        if suite.probing.filter is not None:
            chosen.append(suite.probing.filter)
        return resolver.run((s.kind, registry.get(s.kind, s.plugin)) for s in chosen)

    shared = dict(
        suite=suite.name,
        dataset=suite.dataset,
        splits=suite.splits,
        extractors=suite.extractors,
        probes=suite.probes,
        languages=suite.languages(),
        speakers_needed=suite.speakers_needed(),
        control=suite.control,
        cache_dir=str(suite.cache_dir),
        probe_filter=suite.probing.filter,
        probe_at_probes=_narrowed(suite, registry),
    )
    runs = []
    for condition in suite.conditions:
        for model in suite.models:
            # the suite's [target], the condition's overrides, then the model's threshold
            # and budget (keys no condition may set: see harness.spec.config.CONDITION_SECTIONS)
            target = dataclasses.replace(suite.target_for(condition), **model.target)
            runs += [
                RunSpec(
                    condition=condition,
                    model=model,
                    seed=seed,
                    reference_seeds=tuple(sorted(suite.seeds)),
                    features=suite.features_for(condition),
                    training=suite.training_for(condition),
                    target=target,
                    provenance=provenance(condition, model),
                    checkpoint=condition.checkpoint_for(model),
                    reference_checkpoint=model.checkpoint,
                    probe_at=suite.probing.steps(target.max_steps),
                    **shared,  # type: ignore[arg-type]
                )
                for seed in suite.seeds
            ]
    return runs


def _narrowed(suite: Suite, registry: Registry) -> tuple[str, ...] | None:
    """The probes along training where ``probe_at_probes`` leaves out one that
    would run there by default; None otherwise, so equal settings give equal ids."""
    probing = suite.probing
    if probing.probe_at_probes is None:
        return None
    chosen = probing.along(suite.probes, lambda p: True)
    default = dataclasses.replace(probing, probe_at_probes=None).along(
        suite.probes, lambda p: registry.get("probe", p.plugin).along_training
    )
    return None if chosen == default else chosen
