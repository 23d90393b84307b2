"""A plugin module with one small component per family, for core tests that
must not depend on the built-ins' parameters, and a valid suite of them.

The ``toy_registry`` fixture (tests/conftest.py) holds these plugins only.
"""

from harness import Component, Metric, Param, hookimpl

#: a valid suite of these plugins: 2 conditions x 1 model x 3 seeds
VALID = """
name = "toy-suite"
seeds = 3
[dataset]
plugin = "toy"
[splits]
probe_languages = ["es", "ja"]
[target]
language = "es"
threshold = 0.5
[[conditions]]
name = "scratch"
[[conditions]]
name = "ja-lowpass"
language = "ja"
filter = { plugin = "lowpass", cutoff_hz = 400 }
[[models]]
plugin = "lstm"
hidden = 32
"""


def _make(**params):
    return params


@hookimpl
def harness_datasets():
    return [Component("toy", _make, "toy data", [Param("speakers", int, 4, "speakers", min=1)])]


@hookimpl
def harness_pretrain_filters():
    return [
        Component("full", _make, "no filtering", default=True),
        Component(
            "lowpass", _make, "low-pass", [Param("cutoff_hz", float, 500.0, "cutoff", min=1.0)]
        ),
    ]


@hookimpl
def harness_models():
    return [
        Component("lstm", _make, "recurrent", [Param("hidden", int, 64, "units", min=1)]),
        Component("cae", _make, "conv", [Param("bottleneck", int, 32, "code size", min=1)]),
    ]


@hookimpl
def harness_latent_extractors():
    return [Component("stats", _make, "feature statistics")]


@hookimpl
def harness_probes():
    return [
        Component(
            "svc",
            _make,
            "linear probe",
            [Param("folds", int, 3, "CV folds", min=2)],
            metrics=[Metric("balanced_accuracy", "balanced accuracy")],
        )
    ]


@hookimpl
def harness_executors():
    return [
        Component(
            "local",
            _make,
            "local processes",
            [Param("workers", int, 0, "workers", min=0)],
            default=True,
        )
    ]
