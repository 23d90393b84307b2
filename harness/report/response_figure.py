"""The Methods' figure of the filters' declared frequency responses
(``Component.response``, recorded in the design's plugin facts when the suite
ran): what each condition's pretraining audio, or the probe clips, went
through, with the measured points a response was built from and their source.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from harness.plugin.plugin_facts import ResponseFacts
from harness.report.markup import figure
from harness.report.plotting import PALETTE, style
from harness.tables.results import Results


def responses(results: Results) -> tuple[ResponseFacts, ...]:
    facts = results.design.facts if results.design is not None else None
    return facts.responses if facts is not None else ()


def response_figure(found: tuple[ResponseFacts, ...]) -> Figure:
    """Gain in dB against frequency (log axis), one line per filter setting,
    its cited points as dots."""
    with style():
        fig = Figure(figsize=(6.4, 3.2), layout="constrained")
        ax = fig.add_subplot()
        for i, r in enumerate(found):
            colour = PALETTE[i % len(PALETTE)]
            ax.plot(r.hz, r.gain_db, color=colour, label=f"{r.plugin} ({r.params})")
            if r.cited:
                hz, gain = np.array(r.cited).T
                ax.plot(hz, gain, "o", color=colour, label=f"{r.plugin}: measured points")
        ax.axhline(0.0, color="#999999", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("gain (dB)")
        ax.legend(loc="lower left")
    return fig


def section(results: Results) -> str:
    """The figure and its sources, or "" where no filter declared a response."""
    found = responses(results)
    if not found:
        return ""
    sources = sorted({r.source for r in found if r.source})
    caption = (
        "The frequency response each filter declares, as the suite used it "
        "(line); dots: the measured points it interpolates."
        + (" Sources: " + " ".join(sources) if sources else "")
    )
    alt = "declared frequency response of " + ", ".join(sorted({r.plugin for r in found}))
    return "<h3>Filters' frequency responses</h3>" + figure(response_figure(found), alt, caption)
