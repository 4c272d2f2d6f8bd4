"""Architecture specs the grader checks against, derived from the reference code (never hand-typed).

``grader reference specs practica3`` writes them to ``assignments/practica3/public/checks.json`` so that
students' self-checks have them without the reference solutions; a test keeps the file equal to what
this code builds.
"""

from __future__ import annotations

from grader.probe import summarize
from reference_solutions.practica3 import denoising_autoencoder, mnist_cnn


def _without_names(summary: dict) -> dict:
    """Keras numbers layer names per process (conv2d, conv2d_1, ...): not part of a spec."""
    return {**summary, "layers": [{k: v for k, v in row.items() if k != "name"} for row in summary["layers"]]}


def architecture_specs() -> dict[str, dict]:
    return {
        "cnn_model": _without_names(summarize(mnist_cnn.build_cnn())),
        "denoiser": _without_names(summarize(denoising_autoencoder.build_denoiser())),
    }
