"""Grade one submission end to end on real kernels: the light reference gets full marks (twice,
identically) and each defect scores exactly what it should, with the message a student needs.

Defect notebooks keep only the parts they are about (other solution cells deleted), so each runs in
seconds; their other checks must then say the object is missing, which is asserted too.
"""

from __future__ import annotations

import pytest

from grader.i18n import format_number
from grader.records import CheckStatus, ExecutionStatus
from grader.scoring import ScoringServer
from tests import submissions as s

pytestmark = pytest.mark.slow

CNN_ONLY = {"ej1_cnn_entrenamiento": None, "ej1_hog": None, "ej1_svm": None, "ej1_mejora_modelo": None,
            "ej1_mejora_entrenamiento": None, "ej2_modelo": None, "ej2_entrenamiento": None,
            "ej2_evaluacion": None, "ej2_figura": None}


@pytest.fixture(scope="module")
def scorer(light_config, tmp_path_factory):
    """One scoring process for the module, as a batch worker keeps one: each grade is a fresh fork."""
    with ScoringServer(tmp_path_factory.mktemp("scorer"), light_config.limits, sandboxed=True) as server:
        yield server


def by_name(result):
    return {c.name: c for c in result.checks}


def test_light_reference_gets_full_marks_and_the_same_score_twice(light_config, released, tmp_path, scorer):
    nb = s.fill(released[0])
    first = s.grade(nb, light_config, released, tmp_path, "ref1", scorer)
    checks = by_name(first)
    assert first.execution.status is ExecutionStatus.COMPLETED, first.execution.message
    assert first.execution.sandboxed
    for name in light_config.checks:
        assert checks[name].status is CheckStatus.PASSED, (name, checks[name].message)
    assert first.score == first.max_score == 6.5
    assert checks["ej1_arquitectura"].details["verified"] is True
    assert {c.name for c in first.checks if c.status is CheckStatus.MANUAL} == {"ej1_informe", "ej2_informe"}
    second = s.grade(nb, light_config, released, tmp_path, "ref2", scorer)
    assert [(c.name, c.points, c.message) for c in second.checks] == [(c.name, c.points, c.message)
                                                                     for c in first.checks]


# End to end, one defect of each kind the architecture check tells apart: a wrong setting seen through the
# shapes, a missing layer, and the loss read from the compiled archive. Every hint of every common
# mistake (filters, kernel size, an extra layer, ...) is asserted on built models in
# tests/test_architecture_checks.py, in milliseconds.
ARCHITECTURE_DEFECTS = [
    ("wrong_padding", {"padding2": "same"}, 0.5, 0.0,
     "capa 3 (Conv2D): salida (None, 14, 14, 16), esperada (None, 10, 10, 16): revisa padding='valid'"),
    ("missing_pool", {"second_pool": False}, 0.0, 0.0, "falta una capa MaxPooling2D en la posición 4"),
    ("no_softmax", {"last_activation": "linear"}, 0.5, 0.5, "no tiene softmax y la pérdida no usa from_logits=True"),
]


@pytest.mark.parametrize("name, options, architecture, parameters, hint", ARCHITECTURE_DEFECTS,
                         ids=[d[0] for d in ARCHITECTURE_DEFECTS])
def test_architecture_defect(name, options, architecture, parameters, hint, light_config, released, tmp_path, scorer):
    nb = s.fill(released[0], {**CNN_ONLY, "ej1_cnn_modelo": s.cnn_cell(**options)})
    checks = by_name(s.grade(nb, light_config, released, tmp_path, name, scorer))
    assert checks["ej1_arquitectura"].points == architecture
    assert hint in checks["ej1_arquitectura"].message
    assert checks["ej1_parametros"].points == parameters
    assert checks["ej1_precision_cnn"].points == 0.0  # untrained
    assert checks["ej1_svm_hog"].status is CheckStatus.ERROR
    assert "no se encontró 'svm_hog'" in checks["ej1_svm_hog"].message


def test_lambda_layer_is_refused_not_executed(light_config, released, tmp_path, scorer):
    nb = s.fill(released[0], {**CNN_ONLY, "ej1_cnn_modelo": s.cnn_cell(lambda_layer=True)})
    checks = by_name(s.grade(nb, light_config, released, tmp_path, "lambda", scorer))
    for name in ("ej1_arquitectura", "ej1_parametros", "ej1_precision_cnn"):
        assert checks[name].status is CheckStatus.ERROR and checks[name].points == 0
        assert "no se pudo cargar de forma segura" in checks[name].message and "Lambda" in checks[name].message


def test_under_trained_cnn_gets_partial_or_no_accuracy_credit(light_config, released, tmp_path, scorer):
    nb = s.fill(released[0], {**CNN_ONLY, "ej1_cnn_entrenamiento": s.cnn_training_cell(images=256)})
    checks = by_name(s.grade(nb, light_config, released, tmp_path, "undertrained", scorer))
    assert checks["ej1_arquitectura"].points == 1.0 and checks["ej1_parametros"].points == 0.5
    accuracy = checks["ej1_precision_cnn"]
    zero_at, full_at = light_config.threshold_bounds("ej1_precision_cnn")
    assert accuracy.details["accuracy"] < full_at and accuracy.points < 1.0
    assert accuracy.message.startswith(f"precisión {format_number(accuracy.details['accuracy'], 'es', 4)}")
    assert sum(sum(row) for row in accuracy.details["confusion_matrix"]) == light_config.heldout.sets["mnist"].items


@pytest.fixture(scope="module")
def three_exercise_defects(light_config, released, tmp_path_factory, scorer):
    """One notebook, three defects in three exercises (graded once): HOG features that are the raw
    pixels, an autoencoder returning its input, and an improvement cell that raises."""
    nb = s.fill(released[0], {**CNN_ONLY, "ej1_hog": s.hog_cell(raw_pixels=True), "ej1_svm": s.svm_cell(),
                              "ej2_modelo": s.denoiser_cell(identity=True),
                              "ej1_mejora_modelo": "raise ValueError('me rindo')"})
    return s.grade(nb, light_config, released, tmp_path_factory.mktemp("three"), "three", scorer)


def test_svm_on_raw_pixels_scores_zero(three_exercise_defects):
    checks = by_name(three_exercise_defects)
    assert checks["ej1_svm_hog"].points == 0.0
    assert "hog_features devuelve los píxeles sin transformar" in checks["ej1_svm_hog"].message


def test_autoencoder_returning_its_input_scores_zero(three_exercise_defects):
    checks = by_name(three_exercise_defects)
    assert checks["ej2_autoencoder"].points == 0.0
    assert "la salida es igual a la entrada" in checks["ej2_autoencoder"].message
    assert checks["ej2_denoising"].points == 0.0


def test_cell_raising_is_reported_and_breaks_the_rules(three_exercise_defects):
    result = three_exercise_defects
    assert result.execution.status is ExecutionStatus.CELL_ERROR
    assert result.execution.first_error.ename == "ValueError"
    rules = by_name(result)["ej1_normas"]
    assert rules.points == 0.0 and "no se ejecuta de principio a fin sin errores" in rules.message
    checks = by_name(result)  # the other exercises' work still counts, defects and all
    assert checks["ej1_arquitectura"].points == 1.0 and checks["ej1_parametros"].points == 0.5
    assert checks["ej1_mejora"].status is CheckStatus.ERROR


def test_input_call_and_a_written_file_break_the_rules(light_config, released, tmp_path, scorer):
    nb = s.fill(released[0], {**CNN_ONLY, "ej1_svm": "epochs = int(input('¿Épocas? '))",
                              "ej1_hog": "np.save('pesos.npy', np.zeros(3))"})
    rules = by_name(s.grade(nb, light_config, released, tmp_path, "rules", scorer))["ej1_normas"]
    asking = next(i for i, c in enumerate(nb.cells, start=1) if c.metadata.get("nbgrader", {}).get("grade_id") == "ej1_svm")
    assert rules.points == 0.0
    assert f"pide datos con input() (celda {asking})" in rules.message
    assert "escribe en disco: pesos.npy" in rules.message
    assert [v["rule"] for v in rules.details["violations"]] == ["no_input", "runs_clean", "no_disk_writes"]


def test_edited_and_deleted_locked_cells_are_restored(light_config, released, tmp_path, scorer):
    nb = s.fill(released[0], CNN_ONLY)
    nb = s.edit_cell(nb, "ej1_arquitectura", "print('todo correcto')")
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ej1_parametros"]
    result = s.grade(nb, light_config, released, tmp_path, "tampered", scorer)
    assert "ej1_arquitectura" in result.execution.message and "ej1_parametros" in result.execution.message
    executed = open(result.execution.executed_notebook, encoding="utf-8").read()
    assert 'check(\\"ej1_arquitectura\\", cnn_model)' in executed and "todo correcto" not in executed
    assert by_name(result)["ej1_arquitectura"].points == 1.0


def test_subclassed_model_is_graded_from_the_kernel_summary_and_flagged(light_config, released, tmp_path, scorer):
    subclassed = """
class CNN(keras.Model):
    def __init__(self):
        super().__init__()
        self.c1 = layers.Conv2D(32, 3, padding="same", activation="relu"); self.p1 = layers.MaxPooling2D()
        self.c2 = layers.Conv2D(16, 5, activation="relu"); self.p2 = layers.MaxPooling2D()
        self.f = layers.Flatten(); self.d1 = layers.Dense(100, activation="relu")
        self.d2 = layers.Dense(50, activation="relu"); self.o = layers.Dense(10, activation="softmax")
    def call(self, x):
        return self.o(self.d2(self.d1(self.f(self.p2(self.c2(self.p1(self.c1(x))))))))

cnn_model = CNN()
cnn_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
cnn_model(np.zeros((1, 28, 28, 1), "float32"))
"""
    nb = s.fill(released[0], {**CNN_ONLY, "ej1_cnn_modelo": subclassed})
    checks = by_name(s.grade(nb, light_config, released, tmp_path, "subclassed", scorer))
    assert checks["ej1_arquitectura"].points == 1.0
    assert checks["ej1_arquitectura"].details["verified"] is False
