"""Results in nbgrader's own gradebook (real SQLite file), read back through nbgrader's API."""

from __future__ import annotations

from datetime import datetime, timezone

import shutil

import pytest
from nbgrader.api import Gradebook, MissingEntry

from grader import gradebook as gb_module
from grader.collect import Submission
from grader.config import load_assignment
from grader.gradebook import ERROR, FINISHED, finished_students, load_results, record_result
from grader.records import CheckResult, CheckStatus, ExecutionRecord, ExecutionStatus, GradeResult

NOTEBOOK = "practica3"


@pytest.fixture(scope="module")
def config():
    return load_assignment("practica3")


def make_result(config, student: str, fraction: float, late_penalty: float = 0.0) -> GradeResult:
    checks = [CheckResult.from_fraction(name, check.points, fraction, "ok", hidden=check.hidden)
              for name, check in config.checks.items()]
    checks += [CheckResult(name, 0.0, part.points, CheckStatus.MANUAL, part.title) for name, part in config.manual.items()]
    return GradeResult(student=student, assignment=config.name, checks=checks,
                       execution=ExecutionRecord(ExecutionStatus.COMPLETED, "ok", cells_executed=3),
                       graded_at="2025-06-10T10:00:00+00:00", grader_version="test", late_penalty=late_penalty)


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory):
    """Creating a gradebook runs nbgrader's alembic command (seconds): make one, copy it per test."""
    path = tmp_path_factory.mktemp("template") / "gradebook.db"
    gb_module.open_gradebook(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def url(tmp_path, empty_gradebook) -> str:
    shutil.copy(empty_gradebook, tmp_path / "gradebook.db")
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def test_nbgrader_reads_back_scores_and_per_cell_grades(url, config):
    result = make_result(config, "12345", 0.5)
    submission = Submission("12345", "María José Núñez Peña", None,
                            datetime(2025, 6, 9, 20, 0, tzinfo=timezone.utc))
    record_result(url, config, result, submission=submission)

    with Gradebook(url) as gradebook:
        graded = gradebook.find_submission("practica3", "12345")
        assert graded.score == pytest.approx(result.score) == pytest.approx(3.25)
        assert graded.max_score == pytest.approx(config.total_points) == pytest.approx(10.0)
        assert graded.needs_manual_grade  # the reports are the formgrader's
        assert graded.timestamp == datetime(2025, 6, 9, 20, 0)
        for check in result.checks:
            grade = gradebook.find_grade(check.name, NOTEBOOK, "practica3", "12345")
            if check.status is CheckStatus.MANUAL:
                assert grade.needs_manual_grade and grade.auto_score is None
            else:
                assert grade.score == pytest.approx(check.points)
                assert grade.max_score == pytest.approx(check.max_points)
                assert not grade.needs_manual_grade
        student = gradebook.find_student("12345")
        assert (student.first_name, student.last_name) == ("María José", "Núñez Peña")
        # hidden checks have grade cells of their own, so nbgrader's maximum is the assignment's
        assert gradebook.find_grade_cell("ej1_normas", NOTEBOOK, "practica3").max_score == 0.5

        # a manual grade from the formgrader adds to nbgrader's total
        manual = gradebook.find_grade("ej1_informe", NOTEBOOK, "practica3", "12345")
        manual.manual_score = 1.5
        gradebook.db.commit()
        assert gradebook.find_submission("practica3", "12345").score == pytest.approx(4.75)

    assert finished_students(url, "practica3") == {"12345"}
    stored = load_results(url, "practica3")["12345"]
    assert stored.state == FINISHED and stored.result.to_dict() == result.to_dict()
    assert stored.submission["display_name"] == "María José Núñez Peña"


def test_late_penalty_is_nbgraders_late_submission_penalty(url, config):
    result = make_result(config, "ana", 1.0, late_penalty=2.0)
    record_result(url, config, result)
    with Gradebook(url) as gradebook:
        graded = gradebook.find_submission("practica3", "ana")
        assert graded.late_submission_penalty == pytest.approx(2.0)
        assert graded.score - graded.late_submission_penalty == pytest.approx(result.score) == pytest.approx(4.5)


def test_regrading_replaces_grades_and_keeps_one_row(url, config):
    record_result(url, config, make_result(config, "ana", 0.2))
    record_result(url, config, make_result(config, "ana", 1.0))
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission("practica3", "ana").score == pytest.approx(6.5)
        assert len(gradebook.find_assignment("practica3").submissions) == 1
    assert len(load_results(url, "practica3")) == 1


def test_cells_saved_by_the_release_are_used_and_hidden_ones_added(url, config):
    with gb_module.open_gradebook(url) as gradebook:  # what nbgrader's SaveCells leaves behind
        gradebook.add_assignment("practica3")
        gradebook.add_notebook(NOTEBOOK, "practica3")
        gradebook.add_grade_cell("ej1_arquitectura", NOTEBOOK, "practica3", max_score=1.0, cell_type="code")
        gradebook.add_grade_cell("ej1_informe", NOTEBOOK, "practica3", max_score=2.0, cell_type="markdown")
        gradebook.add_solution_cell("ej1_cnn_modelo", NOTEBOOK, "practica3")
    record_result(url, config, make_result(config, "ana", 1.0))
    with Gradebook(url) as gradebook:
        cells = {c.name for c in gradebook.find_notebook(NOTEBOOK, "practica3").grade_cells}
        assert cells == set(config.checks) | {p.grade_id for p in config.manual.values()}
        assert gradebook.find_comment("ej1_cnn_modelo", NOTEBOOK, "practica3", "ana").comment is None
        assert gradebook.find_submission("practica3", "ana").score == pytest.approx(6.5)


def test_a_failed_write_leaves_neither_grades_nor_marker(url, config, monkeypatch):
    record_result(url, config, make_result(config, "ana", 1.0))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(gb_module.GradebookRecorder, "_write_side_row", broken)
    with pytest.raises(RuntimeError):
        record_result(url, config, make_result(config, "ben", 1.0))
    with Gradebook(url) as gradebook:
        with pytest.raises(MissingEntry):
            gradebook.find_submission("practica3", "ben")
        with pytest.raises(MissingEntry):
            gradebook.find_student("ben")
    assert finished_students(url, "practica3") == {"ana"}


def test_error_results_are_not_finished_and_keep_earlier_grades(url, config):
    record_result(url, config, make_result(config, "ana", 1.0))
    record_result(url, config, make_result(config, "ana", 0.0), finished=False)
    record_result(url, config, make_result(config, "ben", 0.0), finished=False)
    assert finished_students(url, "practica3") == set()
    assert {s: r.state for s, r in load_results(url, "practica3").items()} == {"ana": ERROR, "ben": ERROR}
    with Gradebook(url) as gradebook:
        assert gradebook.find_submission("practica3", "ana").score == pytest.approx(6.5)
        with pytest.raises(MissingEntry):
            gradebook.find_submission("practica3", "ben")


def test_manual_zero_closes_the_manual_parts(url, config):
    record_result(url, config, make_result(config, "tarde", 0.0), manual_zero=True)
    with Gradebook(url) as gradebook:
        graded = gradebook.find_submission("practica3", "tarde")
        assert graded.score == 0 and not graded.needs_manual_grade


def test_no_database_means_nothing_finished(tmp_path):
    assert finished_students(f"sqlite:///{tmp_path / 'gradebook.db'}", "practica3") == set()
    assert not (tmp_path / "gradebook.db").exists()


def test_a_gradebook_from_before_content_hashes_gets_the_column_and_keeps_its_rows(url, config):
    import sqlalchemy

    from grader.gradebook import finished_hashes, open_gradebook, results_table

    record_result(url, config, make_result(config, "ana", 1.0))
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:  # the table as an earlier version wrote it
        connection.execute(sqlalchemy.text(f"ALTER TABLE {results_table.name} DROP COLUMN content_hash"))
    assert finished_hashes(url, "practica3") == {"ana": None}  # read without the column: graded again once
    open_gradebook(url).close()
    columns = {column["name"] for column in sqlalchemy.inspect(engine).get_columns(results_table.name)}
    engine.dispose()
    assert "content_hash" in columns and finished_students(url, "practica3") == {"ana"}
    record_result(url, config, make_result(config, "ana", 1.0), content_hash="ab" * 32)
    assert finished_hashes(url, "practica3") == {"ana": "ab" * 32}
