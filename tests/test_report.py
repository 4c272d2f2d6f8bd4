"""Feedback reports (grader/report/): content, language, hidden details, escaping, self-containment.

Records are built directly, with details shaped like the real checks' (grader/checks/*), so these
tests need no TensorFlow. One test opens a report in headless Chromium (skipped without a binary).
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from grader import report
from grader.config import load_assignment
from grader.cli import main
from grader.records import (CellError, CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult,
                            write_json_atomic)
from grader.i18n import catalogue
from grader.report import (CONTENT_SECURITY_POLICY, Catalogue, gradescope_json, write_class_summary,
                           write_report)

TEMPLATES = Path(report.__file__).parent.parent / "templates"

# ------------------------------------------------------------------------------------------
# Realistic records
# ------------------------------------------------------------------------------------------

# The given CNN, as canonical layer rows (grader.checks.architecture._rows of the reference).
EXPECTED_LAYERS = [
    {"index": 1, "class": "Conv2D", "output_shape": [None, 28, 28, 32], "params": 320,
     "config": {"filters": 32, "kernel_size": 3, "padding": "same", "strides": 1, "activation": "relu"}},
    {"index": 2, "class": "MaxPooling2D", "output_shape": [None, 14, 14, 32], "params": 0,
     "config": {"pool_size": 2, "padding": "valid", "strides": 2}},
    {"index": 3, "class": "Conv2D", "output_shape": [None, 10, 10, 16], "params": 12816,
     "config": {"filters": 16, "kernel_size": 5, "padding": "valid", "strides": 1, "activation": "relu"}},
    {"index": 4, "class": "MaxPooling2D", "output_shape": [None, 5, 5, 16], "params": 0,
     "config": {"pool_size": 2, "padding": "valid", "strides": 2}},
    {"index": 5, "class": "Flatten", "output_shape": [None, 400], "params": 0, "config": {}},
    {"index": 6, "class": "Dense", "output_shape": [None, 100], "params": 40100,
     "config": {"units": 100, "activation": "relu"}},
    {"index": 7, "class": "Dense", "output_shape": [None, 50], "params": 5050,
     "config": {"units": 50, "activation": "relu"}},
    {"index": 8, "class": "Dense", "output_shape": [None, 10], "params": 510,
     "config": {"units": 10, "activation": "softmax"}},
]


def _padding_same_layers() -> list[dict]:
    """The same CNN with padding='same' in layer 3: 14x14 after it, 784 flattened, 78,500 in layer 6."""
    layers = json.loads(json.dumps(EXPECTED_LAYERS))
    layers[2]["config"]["padding"] = "same"
    layers[2]["output_shape"] = [None, 14, 14, 16]
    layers[3]["output_shape"] = [None, 7, 7, 16]
    layers[4]["output_shape"] = [None, 784]
    layers[5]["params"] = 78500
    return layers


PADDING_MISMATCHES = [
    {"index": 3, "kind": "setting",
     "message": "capa 3 (Conv2D): salida (None, 14, 14, 16), esperada (None, 10, 10, 16): revisa padding='valid'"},
    {"index": 4, "kind": "shape",
     "message": "capa 4 (MaxPooling2D): salida (None, 7, 7, 16), esperada (None, 5, 5, 16)"},
    {"index": 5, "kind": "shape", "message": "capa 5 (Flatten): salida (None, 784), esperada (None, 400)"},
]


def _per_layer(submitted: list[dict]) -> list[dict]:
    return [{"index": s["index"], "class": s["class"], "expected": e["params"], "submitted": s["params"]}
            for e, s in zip(EXPECTED_LAYERS, submitted, strict=True)]


def _confusion(accuracies: list[float], per_class: int = 500) -> list[list[int]]:
    matrix = np.zeros((10, 10), dtype=int)
    for c, accuracy in enumerate(accuracies):
        right = int(round(per_class * accuracy))
        matrix[c, c] = right
        matrix[c, (c + 1) % 10] += (per_class - right) // 2
        matrix[c, (c + 7) % 10] += per_class - right - (per_class - right) // 2
    return matrix.tolist()


def _classifier_details(accuracies: list[float], zero_at: float, full_at: float, history: bool) -> dict:
    matrix = _confusion(accuracies)
    per_class = [round(matrix[c][c] / 500, 4) for c in range(10)]
    details = {"accuracy": round(float(np.mean(per_class)), 4), "zero_at": zero_at, "full_at": full_at,
               "confusion_matrix": matrix, "per_class_accuracy": per_class, "verified": True}
    if history:
        details["history"] = {"loss": [0.412, 0.118, 0.079], "accuracy": [0.874, 0.964, 0.976],
                              "val_loss": [0.141, 0.087, 0.069], "val_accuracy": [0.958, 0.974, 0.979]}
    return details


def _images(kind: str, seed: int = 0) -> list[list[list[float]]]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28]
    images = []
    for i in range(6):
        clean = ((np.abs(xx - 14) < 4 + i) & (np.abs(yy - 14) < 10 - i)).astype(float) * (0.5 + 0.08 * i)
        noisy = np.clip(clean + rng.normal(0, 0.4, clean.shape), 0, 1)
        denoised = np.clip(0.85 * clean + 0.05, 0, 1)
        images.append({"clean": clean, "noisy": noisy, "denoised": denoised}[kind])
    return [np.round(image, 3).tolist() for image in images]


def _denoising_details(gain: float = 8.9172) -> dict:
    return {"noisy": {"mse": 0.073, "psnr": 11.3683, "ssim": 0.2114},
            "denoised": {"mse": 0.0094, "psnr": 11.3683 + gain, "ssim": 0.7032},
            "psnr_gain": gain, "ssim_gain": 0.4918, "zero_at": 5.0, "full_at": 9.0,
            "examples": {"clean": _images("clean"), "noisy": _images("noisy"), "denoised": _images("denoised")},
            "verified": True,
            "history": {"loss": [0.031, 0.019, 0.017], "val_loss": [0.021, 0.018, 0.016]}}


def _checks(*, arch=None, params=None, svm=None, improved=None, rules=None, denoise=None) -> list[CheckResult]:
    """The eight automatic checks of Práctica 3 (points and hidden as in assignment.toml); full marks by default."""
    full_accuracy = [0.994, 0.992, 0.986, 0.988, 0.984, 0.984, 0.99, 0.982, 0.974, 0.98]
    return [
        arch or CheckResult("ej1_arquitectura", 1.0, 1.0, CheckStatus.PASSED,
                            "La arquitectura coincide con la tabla (8 capas).",
                            details={"expected": EXPECTED_LAYERS, "submitted": EXPECTED_LAYERS, "mismatches": [],
                                     "verified": True}),
        params or CheckResult("ej1_parametros", 0.5, 0.5, CheckStatus.PASSED,
                              "58796 parámetros, como la arquitectura pedida.",
                              details={"expected_total": 58796, "submitted_total": 58796,
                                       "per_layer": _per_layer(EXPECTED_LAYERS), "verified": True}),
        CheckResult("ej1_precision_cnn", 1.0, 1.0, CheckStatus.PASSED,
                    "precisión 0.9859 (puntuación completa desde 0.9790, cero por debajo de 0.9090)", hidden=True,
                    details=_classifier_details(full_accuracy, 0.909, 0.979, history=True)),
        svm or CheckResult("ej1_svm_hog", 1.0, 1.0, CheckStatus.PASSED,
                           "precisión 0.9702 (puntuación completa desde 0.9650, cero por debajo de 0.8950)",
                           hidden=True, details=_classifier_details([0.97] * 10, 0.895, 0.965, history=False)),
        improved or CheckResult("ej1_mejora", 1.0, 1.0, CheckStatus.PASSED,
                                "el modelo mejorado (0.9912) supera a la CNN base (0.9859)", hidden=True,
                                details={**_classifier_details([0.991] * 10, 0.962, 0.987, history=True),
                                         "base_accuracy": 0.9859}),
        rules or CheckResult("ej1_normas", 0.5, 0.5, CheckStatus.PASSED, "cumple las normas de entrega", hidden=True,
                             details={"violations": []}),
        CheckResult("ej2_autoencoder", 0.5, 0.5, CheckStatus.PASSED,
                    "el autoencoder devuelve imágenes 28x28x1 en [0, 1]", details={"verified": True}),
        denoise or CheckResult("ej2_denoising", 1.0, 1.0, CheckStatus.PASSED,
                               "PSNR 11.37 → 20.29 dB (+8.92), SSIM 0.211 → 0.703; puntuación completa desde "
                               "+9.00 dB, cero desde +5.00 dB", hidden=True, details=_denoising_details(9.2)),
    ]


def _result(student: str, checks: list[CheckResult], execution: ExecutionRecord | None = None,
            **extra) -> GradeResult:
    execution = execution or ExecutionRecord(ExecutionStatus.COMPLETED, "todas las celdas se ejecutaron",
                                             wall_seconds=47.3, peak_memory_mb=2150.4, device="cpu",
                                             sandboxed=True, cells_executed=31)
    return GradeResult(student=student, assignment="practica3", checks=checks, execution=execution,
                       graded_at="2025-06-10T09:15:00+02:00", grader_version="0.1.0",
                       timing={"execute": 47.3, "score": 6.1}, **extra)


def full_marks() -> GradeResult:
    return _result("alumno01", _checks())


def wrong_padding() -> GradeResult:
    submitted = _padding_same_layers()
    arch = CheckResult("ej1_arquitectura", 0.5, 1.0, CheckStatus.PARTIAL,
                       "3 diferencia(s) con la arquitectura pedida: "
                       + " | ".join(m["message"] for m in PADDING_MISMATCHES),
                       details={"expected": EXPECTED_LAYERS, "submitted": submitted,
                                "mismatches": PADDING_MISMATCHES, "verified": True})
    params = CheckResult("ej1_parametros", 0.0, 0.5, CheckStatus.FAILED,
                         "97196 parámetros, esperados 58796 | capa 6 (Dense): 78500 parámetros, esperados 40100",
                         details={"expected_total": 58796, "submitted_total": 97196,
                                  "per_layer": _per_layer(submitted), "verified": True})
    execution = ExecutionRecord(ExecutionStatus.COMPLETED, "todas las celdas se ejecutaron", wall_seconds=312.0,
                                peak_memory_mb=3890.0, device="gpu:0 (NVIDIA H100)", sandboxed=True,
                                cells_executed=29)
    return _result("alumno02", _checks(arch=arch, params=params), execution)


CELL5_TRACEBACK = """---------------------------------------------------------------------------
NameError                                 Traceback (most recent call last)
Cell In[5], line 3
      1 # Normalizamos las imágenes
----> 3 x_train = x_train_norm.reshape(-1, 28, 28, 1)
NameError: name 'x_train_norm' is not defined"""


def cell_error() -> GradeResult:
    error = CellError(cell_index=5, cell_id="a1b2c3", ename="NameError",
                      evalue="name 'x_train_norm' is not defined", traceback=CELL5_TRACEBACK)
    execution = ExecutionRecord(ExecutionStatus.CELL_ERROR, "una celda lanzó un error; las siguientes se ejecutaron",
                                wall_seconds=95.0, peak_memory_mb=1733.0, device="cpu", sandboxed=True,
                                cells_executed=31, first_error=error, errors=[error])
    missing = "no se encontró 'svm_hog' en el notebook: no existe tras la última celda"
    return _result("alumno03", _checks(
        svm=CheckResult("ej1_svm_hog", 0.0, 1.0, CheckStatus.ERROR, missing, hidden=True),
        improved=CheckResult("ej1_mejora", 0.0, 1.0, CheckStatus.ERROR,
                             "no se encontró 'improved_model' en el notebook: no existe tras la última celda",
                             hidden=True),
        rules=CheckResult("ej1_normas", 0.0, 0.5, CheckStatus.FAILED,
                          "el notebook no se ejecuta de principio a fin sin errores (1 celda(s) con error)",
                          hidden=True, details={"violations": [{
                              "rule": "errors",
                              "message": "el notebook no se ejecuta de principio a fin sin errores (1 celda(s) con "
                                         "error)"}]})), execution)


def denoising_partial() -> GradeResult:
    gain = 6.8
    denoise = CheckResult.from_fraction(
        "ej2_denoising", 1.0, (gain - 5.0) / 4.0,
        "PSNR 11.37 → 18.17 dB (+6.80), SSIM 0.211 → 0.703; puntuación completa desde +9.00 dB, "
        "cero desde +5.00 dB",
        hidden=True, details=_denoising_details(gain))
    execution = ExecutionRecord(ExecutionStatus.COMPLETED, "todas las celdas se ejecutaron", wall_seconds=130.5,
                                peak_memory_mb=2500.0, device="cpu", sandboxed=True, cells_executed=31)
    return _result("alumno04", _checks(denoise=denoise), execution, late_penalty=1.0)


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def config():
    return load_assignment("practica3")


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def text_of(node) -> str:
    return " ".join(node.get_text(" ").split())


def article(soup: BeautifulSoup, check: str):
    node = soup.find("article", attrs={"data-check": check})
    assert node is not None, f"no section for {check}"
    return node


def check_row(soup: BeautifulSoup, check: str):
    return soup.find("tr", attrs={"data-check": check})


def png_of(data_uri: str) -> np.ndarray:
    import matplotlib.image

    assert data_uri.startswith("data:image/png;base64,")
    return matplotlib.image.imread(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1])), format="png")


def tiny_notebook(path: Path) -> Path:
    """An executed notebook with the outputs a report must render (and the ones it must defuse)."""
    import nbformat
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1.5), dpi=50)
    figure.add_subplot().plot([0, 1, 2], [2, 0, 1])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# Práctica 3\nVer [la guía de Keras](https://keras.io/guides/) "
                             "![logo](https://example.com/logo.png)"),
        v4.new_code_cell("history = cnn_model.fit(x_train, y_train, epochs=3)", execution_count=1, outputs=[
            v4.new_output("stream", name="stdout", text="Epoch 1/3\nloss: 0.4120 - accuracy: 0.8740\n"),
            v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            v4.new_output("display_data", data={
                "text/html": '<b onclick="steal()">tabla</b><script>alert("nb")</script>'
                             '<img src="https://tracker.example/p.gif"><iframe src="https://evil.example"></iframe>',
                "text/plain": "tabla"}),
        ]),
        v4.new_code_cell("1 / 0", execution_count=2, outputs=[
            v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                          traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"])]),
    ]
    nbformat.write(nb, str(path))
    return path


_URL_ATTRIBUTES = ("src", "href", "srcset", "data", "poster", "action", "formaction", "background", "xlink:href")


def assert_self_contained(html: str, *, where: str = "page") -> None:
    """No script, no stylesheet link, no external src/href: what the page loads is inline or data:."""
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.find_all(["script", "link", "object", "embed", "base"]), where
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert csp is not None and csp["content"] == CONTENT_SECURITY_POLICY, where
    for tag in soup.find_all(True):
        for name in _URL_ATTRIBUTES:
            value = str(tag.get(name) or "").strip().lower()
            if not value:
                continue
            if tag.name == "a" and name == "href":
                continue  # a link the reader may follow is not a resource the page loads
            assert not re.match(r"^(https?:)?//", value), f"{where}: <{tag.name} {name}={value[:60]}>"
            if name == "src":
                assert value.startswith("data:image/png;base64,") or tag.name == "iframe", where
        assert not any(a.startswith("on") for a in tag.attrs), f"{where}: handler on <{tag.name}>"
        assert "url(" not in str(tag.get("style") or ""), where
    for style in soup.find_all("style"):
        assert "url(" not in style.text and "@import" not in style.text, where
    for frame in soup.find_all("iframe"):
        assert frame.has_attr("sandbox") and frame["sandbox"] in ("", []), where
        assert not frame.get("src"), where
        assert_self_contained(frame["srcdoc"], where=f"{where} (iframe)")


# ------------------------------------------------------------------------------------------
# The student's report
# ------------------------------------------------------------------------------------------

def test_full_marks_report_numbers_in_place(tmp_path, config):
    html = write_report(full_marks(), tmp_path, config=config)
    assert html == tmp_path / "alumno01.html" and (tmp_path / "alumno01.json").is_file()
    soup = soup_of(html)
    assert soup.html["lang"] == "es"
    assert text_of(soup.select_one(".total-score")) == "6,5"
    assert text_of(soup.select_one(".max-score")) == "6,5"
    assert "passed" in soup.select_one("#total")["class"]
    assert text_of(check_row(soup, "ej1_arquitectura").select_one(".points")) == "1 / 1"
    assert text_of(check_row(soup, "ej1_parametros").select_one(".points")) == "0,5 / 0,5"
    assert "Ejercicio 1.1: arquitectura de la CNN dada" in text_of(check_row(soup, "ej1_arquitectura"))
    assert all("status-passed" in row["class"] for row in soup.select("tr.check-row"))
    assert len(soup.select("tr.check-row")) == 8
    # execution facts
    assert text_of(soup.select_one("tr.exec-run_time td")) == "47,3 s"
    assert text_of(soup.select_one("tr.exec-peak_memory td")) == "2150 MB"  # Spanish groups from five digits
    assert text_of(soup.select_one("tr.exec-device td")) == "cpu"
    assert text_of(soup.select_one("tr.exec-sandboxed td")) == "sí"
    assert text_of(soup.select_one("tr.exec-cells_executed td")) == "31"
    assert soup.select_one("#first-error") is None
    # the architecture table: every layer present and none highlighted
    table = article(soup, "ej1_arquitectura").select_one("table.architecture-table")
    assert len(table.select("tbody tr")) == 8 and not table.select("tr.mismatch")
    assert "Todas las capas coinciden" in text_of(article(soup, "ej1_arquitectura"))
    assert "Total: 58.796 (esperado: 58.796)" in text_of(article(soup, "ej1_parametros"))
    # the parts graded by hand are announced with their points
    assert "Además, 3,5 puntos se corrigen a mano" in text_of(soup.select_one("#total"))


def test_wrong_padding_highlights_layer_3_with_its_hint(tmp_path, config):
    soup = soup_of(write_report(wrong_padding(), tmp_path, config=config))
    section = article(soup, "ej1_arquitectura")
    rows = {row["data-index"]: row for row in section.select("table.architecture-table tbody tr")}
    assert set(rows) == {str(i) for i in range(1, 9)}
    assert {i for i, row in rows.items() if "mismatch" in row["class"]} == {"3", "4", "5"}
    assert all("match" in rows[i]["class"] for i in ("1", "2", "6", "7", "8"))
    layer3 = rows["3"]
    assert "revisa padding='valid'" in text_of(layer3.select_one("td.hint"))
    assert [text_of(td) for td in layer3.select("td.shape")] == ["(None, 10, 10, 16)", "(None, 14, 14, 16)"]
    assert all("diff" in td["class"] for td in layer3.select("td.shape"))
    assert [text_of(span) for span in layer3.select("span.cfg.diff")] == ["padding='valid'", "padding='same'"]
    assert not rows["4"].select("span.cfg.diff")  # only its shape differs: the echo of layer 3
    assert "3 capas no coinciden" in text_of(section)
    assert text_of(check_row(soup, "ej1_arquitectura").select_one(".points")) == "0,5 / 1"
    assert "status-partial" in check_row(soup, "ej1_arquitectura")["class"]
    # parameters: layer 6 is the one that differs (78,500 instead of 40,100)
    params = article(soup, "ej1_parametros")
    mismatched = params.select("table.parameters-table tr.mismatch")
    assert [row["data-index"] for row in mismatched] == ["6"]
    assert "78.500" in text_of(mismatched[0]) and "40.100" in text_of(mismatched[0])
    assert "Total: 97.196 (esperado: 58.796)" in text_of(params)
    assert text_of(soup.select_one(".total-score")) == "5,5"
    assert text_of(soup.select_one("tr.exec-run_time td")) == "5 min 12 s"
    # the same hints reach Gradescope
    tests = {t["tags"][0]: t for t in json.loads((tmp_path / "alumno02.json").read_text())["tests"]}
    assert "revisa padding='valid'" in tests["ej1_arquitectura"]["output"]
    assert tests["ej1_arquitectura"]["score"] == 0.5 and tests["ej1_arquitectura"]["status"] == "failed"


def test_cell_error_shows_the_first_failing_cell_and_its_traceback(tmp_path, config):
    soup = soup_of(write_report(cell_error(), tmp_path, config=config))
    execution = soup.select_one("#execution")
    assert "problem" in execution["class"]
    assert "Error en una celda" in text_of(execution)
    first = soup.select_one("#first-error")
    assert text_of(first.h3) == "Primera celda con error: celda 6"
    assert text_of(first.select_one(".ename")) == "NameError"
    assert text_of(first.select_one(".evalue")) == "name 'x_train_norm' is not defined"
    assert "----> 3 x_train = x_train_norm.reshape(-1, 28, 28, 1)" in first.select_one("pre.traceback").text
    assert "a1b2c3" in text_of(first)
    assert "status-error" in check_row(soup, "ej1_svm_hog")["class"]
    assert "no se encontró 'svm_hog'" in text_of(check_row(soup, "ej1_svm_hog"))
    assert text_of(soup.select_one(".total-score")) == "4"
    output = json.loads((tmp_path / "alumno03.json").read_text())["output"]
    assert "celda 6: NameError: name 'x_train_norm' is not defined" in output


def test_denoising_examples_and_psnr_ssim_figures(tmp_path, config):
    soup = soup_of(write_report(denoising_partial(), tmp_path, config=config, show_hidden_details=True))
    section = article(soup, "ej2_denoising")
    table = section.select_one("table.denoising-table")
    psnr = [text_of(td) for td in table.select("tr.psnr td")]
    assert psnr == ["11,37 dB", "18,17 dB", "+6,80 dB"]
    assert [text_of(td) for td in table.select("tr.ssim td")] == ["0,211", "0,703", "+0,492"]
    assert ("0 puntos con una mejora de PSNR de 5,00 dB o menos; la puntuación completa desde 9,00 dB."
            in text_of(section))
    images = section.select("img")
    assert len(images) == 3  # PSNR/SSIM bars, the examples grid, the learning curves
    grid = png_of(section.find("h4", string=re.compile("Ejemplos")).find_next("img")["src"])
    assert grid.shape[1] > 2 * grid.shape[0]  # 6 columns, 3 rows
    assert len(np.unique(grid[..., :3].reshape(-1, 3), axis=0)) > 20  # real pictures, not a blank canvas
    assert text_of(check_row(soup, "ej2_denoising").select_one(".points")) == "0,45 / 1"
    # 6.5 - 0.55 for the denoising gain - 1 point late = 4.95
    assert text_of(soup.select_one(".total-score")) == "4,95"
    assert text_of(soup.select_one(".late-penalty")) == "Incluye la penalización por entrega tardía: −1."


def test_hidden_checks_show_only_their_message_by_default(tmp_path, config):
    default = soup_of(write_report(full_marks(), tmp_path / "student", config=config))
    for name in ("ej1_precision_cnn", "ej1_svm_hog", "ej1_mejora", "ej2_denoising"):
        section = article(default, name)
        assert section.select_one(".message").text.strip()
        assert section.select_one(".hidden-note") is not None
        assert not section.select("img, table"), name
    assert not default.select("img")
    page = text_of(default)
    assert "Matriz de confusión" not in page and "Curvas de aprendizaje" not in page
    assert "Precisión por clase" not in page
    # public checks keep their details
    assert article(default, "ej1_arquitectura").select_one("table.architecture-table") is not None

    everything = soup_of(write_report(full_marks(), tmp_path / "instructor", config=config,
                                      show_hidden_details=True))
    cnn = article(everything, "ej1_precision_cnn")
    assert cnn.select_one(".hidden-note") is None
    assert len(cnn.select("img")) == 2  # confusion matrix + learning curves
    per_class = [text_of(td) for td in cnn.select("table.per-class-table td")]
    assert per_class[0] == "99,40 %" and per_class[8] == "97,40 %"
    assert "worst" in cnn.select("table.per-class-table td")[8]["class"]
    assert text_of(cnn.select_one("table.accuracy-table tr.accuracy td")) == "98,54 %"
    confusion = png_of(cnn.find("h4", string="Matriz de confusión").find_next("img")["src"])
    assert confusion.shape[0] > 100
    mejora = article(everything, "ej1_mejora")
    assert text_of(mejora.select_one("tr.base_accuracy td")) == "98,59 %"


def test_english_reports(tmp_path, config):
    soup = soup_of(write_report(wrong_padding(), tmp_path, config=config, lang="en", show_hidden_details=True))
    assert soup.html["lang"] == "en"
    assert text_of(soup.h1).startswith("Grading report")
    assert text_of(soup.select_one(".total-score")) == "5.5"
    assert text_of(soup.select_one("tr.exec-peak_memory td")) == "3,890 MB"
    assert "3 layers do not match" in text_of(article(soup, "ej1_arquitectura"))
    assert "Total: 97,196 (expected: 58,796)" in text_of(article(soup, "ej1_parametros"))
    page = text_of(soup)
    # titles come from the assignment's catalogue in English; assignment.toml has them in Spanish
    assert "Exercise 1.1: architecture of the given CNN" in text_of(article(soup, "ej1_arquitectura"))
    assert "Práctica 3: convolutional networks and autoencoders with Keras" in page
    assert "Exercise 2: report (noise model" in page  # a part graded by hand
    assert not any(title in page for title in [check.title for check in config.checks.values()]
                   + [part.title for part in config.manual.values()] + [config.title])
    for key in ("total_score", "execution_heading", "checks_heading", "arch_heading", "confusion_heading",
                "history_heading", "per_class_heading", "run_time", "peak_memory", "status_passed"):
        assert Catalogue("en")(key) in page
        assert Catalogue("es")(key) not in page, key
    gradescope = json.loads((tmp_path / "alumno02.json").read_text())
    assert gradescope["output"].startswith("Automatic score: 5.5 / 6.5")


def test_student_text_is_escaped(tmp_path, config):
    result = cell_error()
    result.student = 'alumno"<b>05'
    result.execution.first_error.evalue = '<script>alert("pwned")</script>'
    result.execution.first_error.traceback = "Traceback\n<script>document.write('x')</script>"
    result.checks[0].message = '<img src=x onerror="alert(1)"> capa <b>3</b>'
    result.checks[0].details["mismatches"] = [{"index": 3, "kind": "setting", "message": "<script>bad()</script>"}]
    result.checks[0].details["submitted"] = [{**EXPECTED_LAYERS[0], "class": "<i>Conv2D</i>"}]
    html = write_report(result, tmp_path, config=config)
    assert html.name == "alumno_b_05.html"
    raw = html.read_text(encoding="utf-8")
    soup = BeautifulSoup(raw, "html.parser")
    assert not soup.find_all(["script", "i"]) and not soup.select("img")
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in raw
    assert text_of(soup.select_one(".evalue")) == '<script>alert("pwned")</script>'
    assert '<img src=x onerror="alert(1)"> capa <b>3</b>' in check_row(soup, "ej1_arquitectura").get_text()
    assert 'alumno"<b>05' in text_of(soup.select_one(".student"))
    assert_self_contained(raw)


def test_odd_details_and_empty_results_still_give_a_report(tmp_path):
    odd = CheckResult("ej1_precision_cnn", 0.0, 1.0, CheckStatus.FAILED, "precisión 0.1000", details={
        "accuracy": "n/a", "confusion_matrix": [[1, 2, 3], [4, 5]], "per_class_accuracy": [None, 0.5],
        "history": {"loss": ["nan?"], "lr": [0.001]}, "examples": {"noisy": [[1, 2], [3]]},
        "mismatches": "not a list", "notes": "<b>extra</b>", "seed": 7})
    result = _result("alumno06", [odd])
    soup = soup_of(write_report(result, tmp_path, show_hidden_details=True))
    section = article(soup, "ej1_precision_cnn")
    notes = [text_of(p) for p in section.select("p.note")]
    assert any(note.startswith("No se pudo dibujar «Matriz de confusión»") for note in notes)
    assert any(note.startswith("No se pudo dibujar «Curvas de aprendizaje»") for note in notes)
    assert "<b>extra</b>" in text_of(section.select_one(".extra")) and "7" in text_of(section.select_one(".extra"))

    nothing = _result("alumno07", [], ExecutionRecord(ExecutionStatus.INVALID_NOTEBOOK,
                                                       "el fichero no es un notebook"))
    soup = soup_of(write_report(nothing, tmp_path))
    assert text_of(soup.select_one(".total-score")) == "0" and "Cuaderno no válido" in text_of(soup)
    assert write_class_summary([], tmp_path / "empty").is_file()


def test_gradescope_json_schema():
    data = gradescope_json(denoising_partial(), "es")
    assert set(data) >= {"score", "execution_time", "output", "tests"}
    assert data["score"] == pytest.approx(4.95) and data["execution_time"] == 131
    assert len(data["tests"]) == 8
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_published")
    by_tag = {t["tags"][0]: t for t in data["tests"]}
    denoise = by_tag["ej2_denoising"]
    assert denoise["score"] == pytest.approx(0.45) and denoise["status"] == "failed"
    assert denoise["visibility"] == "after_published" and "(comprobación oculta)" in denoise["output"]
    assert by_tag["ej1_arquitectura"]["visibility"] == "visible"
    assert "Incluye la penalización por entrega tardía: −1." in data["output"]
    json.dumps(data)  # plain JSON
    manual = _result("alumno09", [*_checks(), CheckResult("ej1_informe", 0, 2, CheckStatus.MANUAL, "a mano")])
    assert len(gradescope_json(manual, "en")["tests"]) == 8


# ------------------------------------------------------------------------------------------
# The executed notebook
# ------------------------------------------------------------------------------------------

def test_executed_notebook_is_embedded_defused(tmp_path, config):
    notebook = tiny_notebook(tmp_path / "alumno01.executed.ipynb")
    html = write_report(full_marks(), tmp_path / "out", config=config, executed_notebook=notebook)
    soup = soup_of(html)
    frame = soup.select_one("#notebook iframe.notebook")
    assert frame is not None and frame.has_attr("sandbox")
    inner = BeautifulSoup(frame["srcdoc"], "html.parser")
    assert "Epoch 1/3" in inner.get_text() and "ZeroDivisionError" in inner.get_text()
    assert "cnn_model.fit" in inner.get_text()
    assert inner.find("b", string="tabla") is not None and not inner.find("b").has_attr("onclick")
    assert not inner.find_all(["script", "iframe"])
    assert [img["src"][:22] for img in inner.find_all("img")] == ["data:image/png;base64,"]  # outside ones dropped
    assert inner.find("a", href="https://keras.io/guides/") is not None
    assert_self_contained(html.read_text(encoding="utf-8"))


def test_large_or_unreadable_notebook(tmp_path, config, monkeypatch):
    notebook = tiny_notebook(tmp_path / "nb.ipynb")
    monkeypatch.setattr(report.notebook, "NOTEBOOK_EMBED_LIMIT", 100)
    soup = soup_of(write_report(full_marks(), tmp_path / "out", config=config, executed_notebook=notebook))
    link = soup.select_one("#notebook a.notebook-link")
    assert link["href"] == "alumno01.notebook.html" and soup.select_one("iframe") is None
    linked = (tmp_path / "out" / "alumno01.notebook.html").read_text(encoding="utf-8")
    assert "Epoch 1/3" in linked
    assert_self_contained(linked)

    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not a notebook", encoding="utf-8")
    soup = soup_of(write_report(full_marks(), tmp_path / "out2", config=config, executed_notebook=broken))
    assert "No se pudo mostrar el cuaderno ejecutado" in text_of(soup.select_one("#notebook"))
    assert text_of(soup.select_one(".total-score")) == "6,5"


# ------------------------------------------------------------------------------------------
# Class summary and the command
# ------------------------------------------------------------------------------------------

def _class() -> list[GradeResult]:
    return [full_marks(), wrong_padding(), cell_error(), denoising_partial()]


def test_class_summary(tmp_path, config):
    results = _class()
    for result in results:
        write_report(result, tmp_path, config=config)
    index = write_class_summary(results, tmp_path, config=config)
    assert index == tmp_path / "index.html"
    raw = index.read_text(encoding="utf-8")
    soup = BeautifulSoup(raw, "html.parser")
    assert_self_contained(raw)
    histogram = png_of(soup.select_one("#histogram img")["src"])
    assert histogram.shape[1] > 300
    stats = text_of(soup.select_one("#stats"))
    assert "Entregas 4" in stats and "Media 5,24 / 6,5" in stats and "Con la puntuación máxima 1" in stats
    rate = {row["data-check"]: text_of(row.select_one("td.rate")) for row in soup.select("#pass-rate tbody tr")}
    assert rate["ej1_arquitectura"] == "75 % (3/4)"
    assert rate["ej1_svm_hog"] == "75 % (3/4)"
    assert rate["ej2_denoising"] == "75 % (3/4)"
    assert rate["ej2_autoencoder"] == "100 % (4/4)"
    problems = [row["data-student"] for row in soup.select("#problems tbody tr")]
    assert problems == ["alumno03"]
    assert "NameError" in text_of(soup.select_one("#problems"))
    slowest = [row["data-student"] for row in soup.select("#slowest tbody tr")]
    assert slowest == ["alumno02", "alumno04", "alumno03", "alumno01"]
    assert "5 min 12 s" in text_of(soup.select_one("#slowest tbody tr"))
    links = {row["data-student"]: row.select_one("a")["href"] for row in soup.select("#reports tbody tr")}
    assert links == {f"alumno0{i}": f"alumno0{i}.html" for i in range(1, 5)}
    assert text_of(soup.select_one('#reports tr[data-student="alumno04"] td.score')) == "4,95 / 6,5"


def test_feedback_command(tmp_path):
    results_dir = tmp_path / "results"
    for result in _class()[:2]:
        write_json_atomic(results_dir / f"{result.student}.json", result.to_dict())
    (results_dir / "roto.json").write_text('{"student": "alumno05", ', encoding="utf-8")
    notebook = tiny_notebook(results_dir / "alumno01.ipynb")
    data = json.loads((results_dir / "alumno01.json").read_text())
    data["execution"]["executed_notebook"] = notebook.name  # relative to the results folder
    write_json_atomic(results_dir / "alumno01.json", data)

    out = tmp_path / "feedback"
    run = CliRunner().invoke(main, ["feedback", "practica3", "--results", str(results_dir), "--out", str(out),
                                    "--lang", "en"])
    assert run.exit_code == 1, run.output
    complaints = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(complaints) == 1 and "roto.json" in complaints[0] and "not valid JSON" in complaints[0]
    assert sorted(p.name for p in out.iterdir()) == [
        "alumno01.html", "alumno01.json", "alumno02.html", "alumno02.json", "index.html"]
    assert soup_of(out / "alumno02.html").html["lang"] == "en"
    assert soup_of(out / "alumno02.html").select_one(".hidden-note") is not None  # not --show-hidden
    assert soup_of(out / "alumno01.html").select_one("#notebook iframe") is not None
    assert len(soup_of(out / "index.html").select("#reports a")) == 2
    assert json.loads((out / "alumno02.json").read_text())["score"] == 5.5

    # a clean folder: exit 0, reports in <results>/feedback by default, hidden details on request
    clean_dir = tmp_path / "clean"
    write_json_atomic(clean_dir / "alumno02.json", wrong_padding().to_dict())
    clean = CliRunner().invoke(main, ["feedback", "practica3", "--results", str(clean_dir), "--show-hidden"])
    assert clean.exit_code == 0, clean.output
    assert soup_of(clean_dir / "feedback" / "alumno02.html").select_one(".hidden-note") is None
    assert soup_of(clean_dir / "feedback" / "alumno02.html").html["lang"] == "es"

    same = CliRunner().invoke(main, ["feedback", "practica3", "--results", str(clean_dir),
                                     "--out", str(clean_dir)])
    assert same.exit_code == 2 and "overwrite" in same.stderr


# ------------------------------------------------------------------------------------------
# The catalogue
# ------------------------------------------------------------------------------------------

def test_every_message_key_the_report_uses_is_in_the_catalogue():
    keys = catalogue("es").keys
    sources = [p.read_text(encoding="utf-8") for p in TEMPLATES.glob("*.j2")]
    sources += [p.read_text(encoding="utf-8") for p in Path(report.__file__).parent.glob("*.py")]
    used = set()
    for source in sources:
        used |= set(re.findall(r"\bt(?:\.plural)?\(\s*[\"']([a-z_]+)[\"']", source))
    assert used, "no message keys found"
    assert {f"report.{key}" for key in used} <= keys, sorted({f"report.{key}" for key in used} - keys)
    with pytest.raises(ValueError, match="unknown report language"):
        write_report(full_marks(), Path("/nonexistent"), lang="fr")


# ------------------------------------------------------------------------------------------
# A real browser
# ------------------------------------------------------------------------------------------

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome",
                                                 "google-chrome-stable") if shutil.which(name)), None)


def assert_styled_screenshot(shot: Path):
    """A 1200x2000 screenshot of a rendered, styled page (not blank, not all white); its pixels."""
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    colours = len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert colours > 50, f"{colours} colours: a blank or unstyled page"
    assert (pixels < 0.95).any(axis=-1).mean() > 0.03, "nearly all white"
    return pixels


def _chromium(page: Path, screenshot: Path, profile: Path) -> list[str]:
    """Open ``page`` headless, save a 1200x2000 screenshot; return the console lines Chromium logged."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
               f"--screenshot={screenshot}", "--window-size=1200,2000", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and screenshot.is_file(), done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (CI installs the 'chromium' package)")
def test_report_in_headless_chromium(tmp_path, config):
    # The way console errors are caught must itself catch one.
    probe = tmp_path / "probe.html"
    probe.write_text('<!DOCTYPE html><html><body><script>console.error("probe-error")</script></body></html>',
                     encoding="utf-8")
    assert any("probe-error" in line for line in _chromium(probe, tmp_path / "probe.png", tmp_path / "p0"))

    notebook = tiny_notebook(tmp_path / "nb.ipynb")
    page = write_report(wrong_padding(), tmp_path / "out", config=config, show_hidden_details=True,
                        executed_notebook=notebook)
    shot = tmp_path / "report.png"
    console = _chromium(page, shot, tmp_path / "p1")
    assert console == [], console
    assert_styled_screenshot(shot)
