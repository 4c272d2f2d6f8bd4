"""The assignment configuration is validated, and a bad file gets one line naming the key and the fix."""

from __future__ import annotations

import pytest

from grader.config import ASSIGNMENTS_DIR, ConfigError, load_assignment, load_config


def test_practica3_config_is_valid_and_sums_to_ten(practica3):
    assert practica3.total_points == pytest.approx(10.0)
    ej1 = sum(c.points for n, c in practica3.checks.items() if n.startswith("ej1")) + \
        practica3.manual["ej1_informe"].points
    assert ej1 == pytest.approx(7.0)


def test_thresholds_come_from_the_reference_metrics(practica3):
    zero_at, full_at = practica3.threshold_bounds("ej1_precision_cnn")
    reference = practica3.reference_metrics["mnist_cnn"]["test_accuracy"]
    assert full_at == pytest.approx(reference - 0.01) and zero_at == pytest.approx(reference - 0.08)


def write_variant(tmp_path, old: str, new: str):
    text = (ASSIGNMENTS_DIR / "practica3" / "assignment.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "assignment.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, expected", [
    ("points = 1.0", "points = -1.0", "key 'checks.ej1_arquitectura.points': Input should be greater than or equal to 0"),
    ("cell_timeout_s = 900", "cell_timeout_s = 'mucho'", "key 'limits.cell_timeout_s'"),
    ("cell_timeout_s = 900", "cell_timeout = 900", "key 'limits.cell_timeout'"),
    ('reference = "mnist_cnn.test_accuracy"', 'reference = "mnist_cnn.nope"', "no figure 'mnist_cnn.nope'"),
    ('objects = ["cnn_model"]', 'objects = ["cnn"]', "not in [contract]"),
    ('hog_features = "mnist"\n', "", "functions ['hog_features'] have no held-out set in [inputs]"),
    ('dataset = "mnist"\n', 'dataset = "mnist"\ngrid = { low = 0.0, high = 1.0 }\n',
     "give exactly one of dataset, generated and grid"),
    ("\n[inputs]\n", '\n[custom_objects]\nrelu_0_3 = "relu_0_3"\n\n[inputs]\n',
     "custom_objects.relu_0_3: write 'module:attribute'"),
    ('dataset = "mnist"\nsplit = "test"\nitems = 5000\n',
     'generated = { function = "make_moons", options = { random_state = 1 } }\nitems = 5000\n',
     "come from the set's items and the secret seed"),
    ("full_margin = 0.01, zero_margin = 0.08 }", 'full_margin = 0.01, zero_margin = 0.08, better = "up" }',
     "key 'checks.ej1_precision_cnn.threshold.better'"),
])
def test_bad_file_gets_one_line_naming_the_key(tmp_path, old, new, expected):
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert expected in text and str(path) in text and "\n" not in text


def test_invalid_toml_and_missing_file(tmp_path):
    broken = tmp_path / "assignment.toml"
    broken.write_text("name = 'x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_assignment("no_such_assignment")


def test_an_error_threshold_gives_full_credit_below_the_reference_and_none_above():
    from grader.config import load_assignment, resolve_metric

    practica2 = load_assignment("practica2")
    mae = resolve_metric(practica2.reference_metrics, "diabetes_regression.test_mae", practica2)
    assert practica2.threshold_bounds("ej7_regresion") == (mae + 15.0, mae + 3.0)  # (zero_at, full_at)
    assert practica2.total_points == 10.0
