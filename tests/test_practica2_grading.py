"""Práctica 2 graded end to end on real kernels, as Práctica 3 is: the light reference gets full marks,
and each defect students make loses exactly the points of its check, with the fix in both languages,
while answers that are equivalent to the reference's keep theirs.

The defects sit in different exercises, so one notebook carries several: each check reads its own
objects, and a defect in one exercise leaves every other check's points alone (asserted too).
"""

from __future__ import annotations

import pytest

from grader.i18n import render
from grader.records import CheckStatus, ExecutionStatus
from grader.scoring import ScoringServer
from tests import practica2_submissions as p2
from tests import submissions as s
from tests.languages import ENGLISH, SPANISH, skeleton

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def practica2_light():
    """Práctica 2 with thresholds for the light submissions (one epoch on part of the data) and smaller
    held-out sets; everything else is the real configuration."""
    from grader.config import load_assignment

    config = load_assignment("practica2")
    checks = dict(config.checks)
    for name, (full, zero) in {"ej5_precision": (0.09, 0.3), "ej6_precision": (0.05, 0.3)}.items():
        threshold = checks[name].threshold.model_copy(update={"full_margin": full, "zero_margin": zero})
        checks[name] = checks[name].model_copy(update={"threshold": threshold})
    sets = {name: held.model_copy(update={"items": min(held.items, 2000)}) for name, held in config.heldout.sets.items()}
    return config.model_copy(update={"checks": checks, "heldout": config.heldout.model_copy(update={"sets": sets})})


@pytest.fixture(scope="module")
def released2(practica2_light, tmp_path_factory):
    import nbformat

    from grader.release import release_assignment

    root = tmp_path_factory.mktemp("course2")
    result = release_assignment(practica2_light, out_dir=root / "release", db_url=f"sqlite:///{root / 'gradebook.db'}")
    return nbformat.read(result.notebook, as_version=4), result.db_url


@pytest.fixture(scope="module")
def scorer(practica2_light, tmp_path_factory):
    with ScoringServer(tmp_path_factory.mktemp("scorer2"), practica2_light.limits, sandboxed=True) as server:
        yield server


def points(result) -> dict[str, float]:
    return {check.name: check.points for check in result.checks if check.status is not CheckStatus.MANUAL}


@pytest.fixture(scope="module")
def reference(practica2_light, released2, tmp_path_factory, scorer):
    return s.grade(p2.fill(released2[0]), practica2_light, released2, tmp_path_factory.mktemp("ref2"), "ref", scorer)


def test_the_light_reference_gets_full_marks(reference, practica2_light):
    assert reference.execution.status is ExecutionStatus.COMPLETED, reference.execution.message
    for check in reference.checks:
        if check.status is not CheckStatus.MANUAL:
            assert check.status is CheckStatus.PASSED, (check.name, check.message)
    assert reference.score == reference.max_score == 8.5
    assert {c.name for c in reference.checks if c.status is CheckStatus.MANUAL} == {
        "ej4_informe", "ej6_informe", "ej7_informe"}
    assert "registrada" in next(c for c in reference.checks if c.name == "ej2_modelo").message


# (grade_id -> cell, {check: points lost}, {check: (Spanish hint, English hint)}): defects in different
# exercises, so that each check has at most one.
DEFECTS_A = (
    {"ej1_funciones_codigo": p2.activations_cell(leaky_slope=0.01),
     "ej1_derivadas_codigo": p2.derivatives_cell(sigmoid_derivative="s * (1 + s)"),
     "ej2_activacion_codigo": p2.custom_activation_cell(registered=False),
     "ej3_codigo": p2.initializers_cell(statistic="var"),
     # moons_relu with two softmax units: equivalent to one sigmoid unit, so it keeps its points
     "ej4_modelos_codigo": p2.moons_cell(linear_activation="'relu'", relu_outputs=2),
     "ej5_modelo_codigo": p2.fashion_cell(first_units=200),
     "ej7_modelo_codigo": p2.diabetes_cell(epochs=0)},
    {"ej1_funciones": 0.125, "ej1_derivadas": 0.125, "ej2_modelo": 0.5, "ej3_inicializadores": 0.8,
     "ej4_lineal": 0.25, "ej7_regresion": 0.75},
    {"ej1_funciones": ("la pendiente de 'leaky_relu' para x < 0 es 0,0100; debe ser 0,2",
                       "the slope of 'leaky_relu' for x < 0 is 0.0100; it must be 0.2"),
     "ej1_derivadas": ("'sigmoid_derivative' en x = ", "'sigmoid_derivative' at x = "),
     "ej2_modelo": ("regístrala con @keras.saving.register_keras_serializable", "register it with @keras.saving"),
     "ej3_inicializadores": ("2 de 10 filas correctas", "2 of 10 rows right"),
     "ej4_lineal": ("moons_linear no debe tener activaciones", "moons_linear must have no activation"),
     "ej5_arquitectura": ("200", "200"),
     "ej7_regresion": ("puntuación completa con MAE ≤", "full marks at MAE ≤")},
)
DEFECTS_B = (
    {"ej4_modelos_codigo": p2.moons_cell(relu_activation="None"),
     # the table as a DataFrame with Spanish column names: equivalent, so it keeps its points
     "ej3_codigo": p2.initializers_cell(as_dataframe=True),
     "ej2_activacion_codigo": p2.custom_activation_cell(slope=0.03),
     "ej6_busqueda_codigo": p2.lr_search_cell(geometric=False),
     "ej6_entrenamiento_codigo": p2.deep_mlp_cell(epochs=0),
     "ej7_modelo_codigo": p2.diabetes_cell() + "open('predicciones.csv', 'w').write('x')\n"},
    {"ej2_relu_0_3": 0.5, "ej4_relu": 0.5, "ej6_busqueda_lr": 0.5, "ej6_precision": 1.0, "normas": 0.25},
    {"ej2_relu_0_3": ("la pendiente de 'relu_0_3' para x < 0 es 0,0300; debe ser 0,3",
                      "the slope of 'relu_0_3' for x < 0 is 0.0300; it must be 0.3"),
     "ej4_relu": ("precisión", "accuracy"),
     "ej6_busqueda_lr": ("crecer multiplicándose por el mismo factor", "grow by the same factor"),
     "normas": ("predicciones.csv", "predicciones.csv")},
)
@pytest.mark.parametrize("defects", [DEFECTS_A, DEFECTS_B], ids=["defects_a", "defects_b"])
def test_each_defect_loses_exactly_its_checks_points_with_the_fix_in_both_languages(
        defects, reference, practica2_light, released2, tmp_path, scorer):
    cells, lost, hints = defects
    result = s.grade(p2.fill(released2[0], cells), practica2_light, released2, tmp_path, "defects", scorer)
    # A public check that fails stops its cell in the student's notebook too (the student saw it fail).
    failing_public_check = "ej5_arquitectura" in hints
    assert result.execution.status is (ExecutionStatus.CELL_ERROR if failing_public_check
                                       else ExecutionStatus.COMPLETED), result.execution.message
    got, full = points(result), points(reference)
    expected = {name: round(value - lost.get(name, 0.0), 4) for name, value in full.items()}
    if "ej5_arquitectura" in hints:  # 200 units: the architecture and the parameter count, not the accuracy
        assert got["ej5_arquitectura"] < full["ej5_arquitectura"] and got["ej5_parametros"] == 0.0
        expected.update(ej5_arquitectura=got["ej5_arquitectura"], ej5_parametros=0.0)
    assert {name: round(value, 4) for name, value in got.items()} == expected
    english = result.rendered("en", practica2_light.folder)
    for name, (spanish, in_english) in hints.items():
        assert spanish in next(c for c in result.checks if c.name == name).message, name
        assert in_english in next(c for c in english.checks if c.name == name).message, name
    for check in result.checks:  # with the student's names blanked, only the catalogue's words are left
        if check.status is not CheckStatus.MANUAL:
            assert not SPANISH.search(render(skeleton(check.text), "en", practica2_light.folder)), check.name
            assert not ENGLISH.search(render(skeleton(check.text), "es", practica2_light.folder)), check.name

