"""The benchmark code of bench/ works (tiny inputs; never a timing assertion: the figures live in
bench/RESULTS.md, measured on purpose, not in the test suite)."""

from __future__ import annotations

import json
import zipfile

import nbformat
import pytest

from bench import common
from bench.throughput import ratios


def test_light_submissions_cycle_the_reference_and_its_defects(released):
    nb, _ = released
    subs = common.build_submissions(nb, "light", 5)
    names = [student for student, _ in subs]
    assert names == ["s01-referencia", "s02-padding-same", "s03-hog-pixeles", "s04-sin-denoiser", "s05-referencia"]
    for _, filled in subs:
        code = "\n".join(c.source for c in filled.cells if c.cell_type == "code")
        assert "NotImplementedError" not in code
    padding = "\n".join(c.source for c in subs[1][1].cells)
    assert 'padding="same"' in padding.split("def build_cnn")[1].split("Flatten")[0].split("Conv2D(16")[1]


def test_full_submissions_are_the_source_solutions_without_markers(released):
    nb, _ = released
    (student, full), = common.build_submissions(nb, "full", 1)
    assert student == "s01-completa"
    text = "\n".join(c.source for c in full.cells if c.cell_type == "code")
    assert "### BEGIN SOLUTION" not in text and "NotImplementedError" not in text
    assert "epochs=EPOCHS" in text and "SVM_TRAIN_IMAGES = 20_000" in text  # full data, the full epochs
    assert "BEGIN HIDDEN TESTS" not in text  # a student's notebook: the release's test cells


def test_course_folder_is_what_nbgrader_and_grader_collect_read(released, tmp_path):
    nb, _ = released
    paths = common.write_course(tmp_path / "course", common.build_submissions(nb, "light", 2))
    assert [p.relative_to(tmp_path / "course").parts for p in paths] == [
        ("submitted", "s01-referencia", "practica3", "practica3.ipynb"),
        ("submitted", "s02-padding-same", "practica3", "practica3.ipynb")]
    assert (tmp_path / "course" / "source" / "practica3" / "practica3.ipynb").is_file()
    assert (paths[0].parent / "timestamp.txt").read_text() == common.TIMESTAMP
    copy = tmp_path / "copy"
    (copy).mkdir()
    (copy / "nbgrader_config.py").write_text((tmp_path / "course" / "nbgrader_config.py").read_text())
    common.retarget_course(copy)
    assert repr(str(copy.resolve())) in (copy / "nbgrader_config.py").read_text()

    from grader.collect import collect

    collected = collect(tmp_path / "course", common.load_config(), tmp_path / "subs")
    assert sorted(s.student for s in collected if s.gradable) == ["s01-referencia", "s02-padding-same"]


def test_ratios_pair_each_of_ours_with_each_baseline_round_by_round():
    runs = [{"system": "ours-j4", "round": 1, "wall_s": 50.0, "rc": 0},
            {"system": "ours-j1", "round": 1, "wall_s": 150.0, "rc": 0},
            {"system": "nbconvert", "round": 1, "wall_s": 200.0, "rc": 0},
            {"system": "nbconvert", "round": 2, "wall_s": 300.0, "rc": 1}]  # a failed run counts nowhere
    summary = ratios(runs, 4, ["ours-j4", "ours-j1", "nbconvert"])
    assert summary["systems"]["ours-j4"]["submissions_per_hour"] == 288.0
    assert summary["systems"]["nbconvert"]["wall_s"]["n"] == 1
    assert set(summary["ratios"]) == {"ours-j4/ours-j1", "ours-j4/nbconvert", "ours-j1/nbconvert"}
    assert summary["ratios"]["ours-j4/ours-j1"]["paired"] == [3.0]
    assert summary["ratios"]["ours-j1/nbconvert"]["of_medians"] == pytest.approx(200 / 150, abs=1e-3)


def test_summarize_gives_median_and_nearest_rank_p95():
    stats = common.summarize([float(i) for i in range(1, 101)] + [None])
    assert stats["n"] == 100 and stats["median"] == 50.5 and stats["p95"] == 95.0 and stats["max"] == 100.0
    assert common.summarize([]) == {}


def test_cell_span_reads_nbclient_timing(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1"), nbformat.v4.new_code_cell("2")])
    nb.cells[0].metadata["execution"] = {"iopub.execute_input": "2026-01-01T10:00:00.000000Z",
                                         "shell.execute_reply": "2026-01-01T10:00:01.000000Z"}
    nb.cells[1].metadata["execution"] = {"iopub.execute_input": "2026-01-01T10:00:01.500000Z",
                                         "shell.execute_reply": "2026-01-01T10:00:04.250000Z"}
    nbformat.write(nb, tmp_path / "x.ipynb")
    assert common.cell_span_s(tmp_path / "x.ipynb") == 4.25
    assert common.cell_span_s(tmp_path / "missing.ipynb") is None


def test_environment_names_device_versions_command_and_load():
    env = common.environment()
    for key in ("date", "cpu", "cpus", "gpus", "loadavg", "python", "versions", "git_head", "command"):
        assert key in env
    assert "keras" in env["versions"] and len(env["loadavg"]) == 3


def test_trimmed_wheel_keeps_only_what_is_imported_and_a_matching_record(tmp_path):
    from bench.gpu_prepare import trim_wheel

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pkg/__init__.py", "x = 1\n")
        archive.writestr("pkg/static/app.js", "big" * 1000)
        archive.writestr("pkg-1.0.dist-info/METADATA", "Name: pkg\n")
        archive.writestr("pkg-1.0.dist-info/RECORD", "stale\n")
    trim_wheel(wheel, lambda name: "/static/" not in name)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        record = archive.read("pkg-1.0.dist-info/RECORD").decode()
    assert names == {"pkg/__init__.py", "pkg-1.0.dist-info/METADATA", "pkg-1.0.dist-info/RECORD"}
    assert "pkg/__init__.py,sha256=" in record and "app.js" not in record and "stale" not in record


def test_selfcheck_latency_measures_first_and_later_calls():
    measured = __import__("bench.selfcheck_latency", fromlist=["measure"]).measure(3, ("ej1_arquitectura",))
    part = measured["parts"]["ej1_arquitectura"]
    assert part["passed"] is True
    assert part["after_first_s"]["n"] == 3 and part["first_call_s"] > 0
    assert measured["grader_import_s"] >= 0


@pytest.mark.slow
def test_throughput_runs_one_notebook_through_each_system(tmp_path):
    from bench.throughput import main

    out = tmp_path / "throughput.json"
    assert main(["--kind", "tiny", "--n", "1", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [r["system"] for r in results["runs"]] == ["ours", "nbgrader", "nbconvert"]
    assert all(r["rc"] == 0 for r in results["runs"])
    ours, nbgrader, nbconvert = (r["students"]["s01-referencia"] for r in results["runs"])
    assert ours["status"] == "completed" and ours["sandboxed"] is True and 0 < ours["score"] <= ours["max_score"]
    assert nbgrader["max_score"] > 0 and nbconvert["error_outputs"] == 0
    assert set(results["summary"]["ratios"]) == {"ours/nbgrader", "ours/nbconvert"}
    assert results["environment"]["command"].endswith("--out " + str(out))


@pytest.mark.slow
def test_overhead_compares_one_notebook_bare_and_graded(tmp_path):
    from bench.overhead import main

    out = tmp_path / "overhead.json"
    assert main(["--kind", "tiny", "--reps", "1", "--variants", "bare,ours", "--work", str(tmp_path / "work"),
                 "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert set(summary) == {"bare", "ours"}
    breakdown = summary["ours"]["breakdown_median_s"]
    assert set(breakdown) >= {"prepare_s", "execute_s", "score_s", "startup_s", "harness_s"}
    assert "overhead_fraction_of_medians" in summary["ours"]
