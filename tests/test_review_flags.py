"""A check graded from figures the grader could not verify keeps its points and waits for the instructor:
``needs_review`` in the result JSON, nbgrader's ``needs_manual_grade`` (a real SQLite gradebook, read
back through nbgrader's API), and a visible flag in the report, in the student's language."""

from __future__ import annotations

import shutil

import pytest
from bs4 import BeautifulSoup
from nbgrader.api import Gradebook

from grader import gradebook as gb_module
from grader.config import load_assignment
from grader.gradebook import load_results, record_result
from grader.i18n import msg, render
from grader.records import CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult
from grader.report import gradescope_json, write_class_summary, write_report

WHY = msg("review_unverified", name="cnn_model")
REASON = "'cnn_model' no se pudo cargar fuera del notebook (clase propia): se puntuó con lo que calculó el " \
         "propio notebook, sin verificar"
REASON_EN = "'cnn_model' could not be loaded outside the notebook (own class): it was graded from what the " \
            "notebook itself computed, unverified"


@pytest.fixture(scope="module")
def config():
    return load_assignment("practica3")


def flagged_result(config, student: str = "ana") -> GradeResult:
    checks = []
    for name, check in config.checks.items():
        result = CheckResult.from_fraction(name, check.points, 1.0, "ok", hidden=check.hidden,
                                           details={"verified": name != "ej1_arquitectura"})
        if name == "ej1_arquitectura":
            result.flag_for_review(WHY, "es")
            result.flag_for_review(WHY, "es")  # one reason is kept once
        checks.append(result)
    checks += [CheckResult(name, 0.0, part.points, CheckStatus.MANUAL, part.title) for name, part in config.manual.items()]
    return GradeResult(student=student, assignment=config.name, checks=checks,
                       execution=ExecutionRecord(ExecutionStatus.COMPLETED, "ok", cells_executed=3),
                       graded_at="2025-06-10T10:00:00+00:00", grader_version="test")


@pytest.fixture
def url(tmp_path_factory, tmp_path) -> str:
    template = tmp_path_factory.getbasetemp() / "review-template.db"
    if not template.exists():
        gb_module.open_gradebook(f"sqlite:///{template}").close()
    shutil.copy(template, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def test_the_flag_travels_in_the_result_json(config):
    result = flagged_result(config)
    data = result.to_dict()
    check = next(c for c in data["checks"] if c["name"] == "ej1_arquitectura")
    assert check["needs_review"] is True and check["review"] == REASON and check["points"] == 1.0
    assert data["needs_review"] is True
    again = GradeResult.from_dict(data)
    assert again.needs_review and again.checks[0].review == REASON and again.score == result.score
    old = {**data, "checks": [{k: v for k, v in c.items() if k not in ("needs_review", "review")}
                              for c in data["checks"]]}
    assert not GradeResult.from_dict(old).needs_review  # results written before the flag still read


def test_the_gradebook_keeps_the_points_and_asks_for_a_manual_grade(url, config):
    record_result(url, config, flagged_result(config))
    with Gradebook(url) as gradebook:
        flagged = gradebook.find_grade("ej1_arquitectura", "practica3", "practica3", "ana")
        assert flagged.auto_score == 1.0 and flagged.needs_manual_grade and flagged.score == 1.0
        other = gradebook.find_grade("ej1_parametros", "practica3", "practica3", "ana")
        assert not other.needs_manual_grade
        assert gradebook.find_submission("practica3", "ana").needs_manual_grade
        flagged.manual_score = 0.25  # the instructor reviewed it in the formgrader
        gradebook.db.commit()
    record_result(url, config, flagged_result(config))  # a re-grade does not ask again
    with Gradebook(url) as gradebook:
        reviewed = gradebook.find_grade("ej1_arquitectura", "practica3", "practica3", "ana")
        assert not reviewed.needs_manual_grade and reviewed.score == 0.25
    assert load_results(url, "practica3")["ana"].result.checks[0].needs_review


@pytest.mark.parametrize("lang, badge, note", [
    ("es", "⚑ pendiente de revisión", "⚑ Pendiente de revisión del profesor: " + REASON),
    ("en", "⚑ awaiting review", "⚑ Awaiting the instructor's review: " + REASON_EN),
])
def test_the_report_shows_the_flag_and_why(tmp_path, config, lang, badge, note):
    result = flagged_result(config)
    page = write_report(result, tmp_path / lang, config=config, lang=lang)
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    row = soup.select_one('tr[data-check="ej1_arquitectura"]')
    assert badge in row.get_text(" ", strip=True)
    article = soup.select_one('article[data-check="ej1_arquitectura"]')
    assert badge in article.select_one("h3").get_text(" ", strip=True)
    assert note in article.get_text(" ", strip=True)
    other = soup.select_one('article[data-check="ej1_parametros"]')
    assert badge not in other.get_text(" ", strip=True)
    test = next(t for t in gradescope_json(result, lang, config=config)["tests"] if t["tags"] == ["ej1_arquitectura"])
    assert render(WHY, lang) in test["output"] and test["score"] == 1.0


def test_the_class_summary_counts_the_submissions_awaiting_review(tmp_path, config):
    results = [flagged_result(config, "ana"), GradeResult.from_dict({**flagged_result(config, "ben").to_dict(),
                                                                     "checks": []})]
    soup = BeautifulSoup(write_class_summary(results, tmp_path, config=config).read_text(encoding="utf-8"),
                         "html.parser")
    assert "Pendientes de revisión 1" in soup.select_one("#stats").get_text(" ", strip=True)
