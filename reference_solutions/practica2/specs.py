"""Architecture specs the grader checks against, derived from the reference code (never hand-typed).

``grader reference specs practica2`` writes them to ``assignments/practica2/public/checks.json`` so that
students' self-checks have them without the reference solutions.
"""

from __future__ import annotations

from grader.probe import summarize
from reference_solutions.practica2 import fashion_mlp


def _without_names(summary: dict) -> dict:
    """Keras numbers layer names per process (dense, dense_1, ...): not part of a spec."""
    return {**summary, "layers": [{k: v for k, v in row.items() if k != "name"} for row in summary["layers"]]}


def architecture_specs() -> dict[str, dict]:
    return {"fashion_mlp": _without_names(summarize(fashion_mlp.build_fashion_mlp()))}
