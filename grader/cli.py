"""The ``grader`` command: a thin layer over plain functions, one subcommand per pipeline stage."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import __version__
from grader.config import ConfigError
from grader.datasets import DatasetNotFoundError
from grader.errors import GraderError
from grader.i18n import LANGUAGES, joined, msg, render

USER_ERRORS = (GraderError, ConfigError, DatasetNotFoundError)
# What only the 'instructor' extra installs (pyproject.toml); students' commands import none of it.
INSTRUCTOR_MODULES = {"nbgrader", "dask", "distributed", "dask_jobqueue", "sqlalchemy", "skops", "sklearn", "skimage",
                      "matplotlib", "pytest"}


def AbsolutePath(**kwargs) -> click.Path:
    """A path option made absolute where it enters the program: nothing below the CLI depends on the
    folder the command was started from (kernels and sandboxes run in folders of their own)."""
    return click.Path(path_type=Path, resolve_path=True, **kwargs)


def absolute_db_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--db``: a SQLAlchemy URL as given, a file path made absolute (a SQLite gradebook)."""
    if value is None or "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


def course_options(command):
    """``--course`` and ``--db``: the course root (default: here) and its gradebook."""
    command = click.option("--db", "db_url", default=None, callback=absolute_db_url,
                           help="nbgrader gradebook: SQLAlchemy URL or SQLite file (default: COURSE/gradebook.db).")(command)
    return click.option("--course", "course_dir", type=AbsolutePath(exists=True, file_okay=False), default=".",
                        show_default=True, help="The course root: the folder holding gradebook.db, autograded/ and "
                                                "feedback/ (for 'grader autograde --submissions SUBS': SUBS/..).")(command)


class FriendlyGroup(click.Group):
    """Turn errors a user can fix into one line on stderr and exit status 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ModuleNotFoundError as exc:  # an instructor's command in the students' install
            if (exc.name or "").split(".")[0] not in INSTRUCTOR_MODULES:
                raise
            click.echo(f"error: this command needs the instructor's install ({exc.name} is missing); fix: "
                       "pip install -e '.[instructor]' in the course checkout", err=True)
            sys.exit(2)


@click.group(cls=FriendlyGroup)
@click.version_option(__version__, prog_name="grader")
def main() -> None:
    """Release, self-check and autograde Keras course assignments."""


@main.group()
def data() -> None:
    """The course datasets."""


@data.command("status")
@click.option("--data-dir", type=AbsolutePath(file_okay=False), help="Look here first (else $GRADER_DATA_DIR).")
def data_status(data_dir: str | None) -> None:
    """Print where each dataset would be loaded from, without loading it."""
    from grader.datasets import REGISTRY, describe_source, shipped_datasets

    for name in [*REGISTRY, *shipped_datasets()]:
        click.echo(f"{name:<14} {describe_source(name, data_dir)}")


@main.group()
def reference() -> None:
    """The reference solutions the thresholds come from."""


def _reference_module(assignment: str, module: str):
    """``reference_solutions.<assignment>.<module>`` of the course checkout."""
    import importlib
    import re

    from grader.instructor import require_checkout

    if not re.fullmatch(r"[a-z0-9_]+", assignment):
        raise GraderError(f"{assignment!r}: not an assignment name; fix: name a folder of assignments/")
    require_checkout()
    name = f"reference_solutions.{assignment}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in (name, f"reference_solutions.{assignment}"):
            raise
        raise GraderError(f"reference_solutions/{assignment}/{module}.py: not found; fix: write it (see "
                          "reference_solutions/__init__.py)") from None


@reference.command("train")
@click.argument("assignment")
@click.option("--data-dir", type=AbsolutePath(file_okay=False), help="Look here first (else $GRADER_DATA_DIR).")
def reference_train(assignment: str, data_dir: str | None) -> None:
    """Train ASSIGNMENT's reference solutions (fixed seeds) into reference_solutions/ASSIGNMENT/metrics.json."""
    from grader.instructor import REFERENCE_DIR
    from grader.records import write_json_atomic

    train = _reference_module(assignment, "train")  # before the configuration: its thresholds need the figures
    path = write_json_atomic(REFERENCE_DIR / assignment / "metrics.json", train.train_all(data_dir, log=click.echo))
    click.echo(f"wrote {path}")


@reference.command("specs")
@click.argument("assignment")
def reference_specs(assignment: str) -> None:
    """Write assignments/ASSIGNMENT/public/checks.json: its public checks and the architecture specs
    derived from its reference code."""
    from grader.config import load_assignment
    from grader.public_checks import build_public_checks, public_checks_path
    from grader.records import write_json_atomic

    config = load_assignment(assignment)
    specs = _reference_module(config.name, "specs").architecture_specs()
    click.echo(f"wrote {write_json_atomic(public_checks_path(config.name), build_public_checks(config, specs))}")


@main.command("feedback")
@click.argument("assignment")
@click.option("--results", "results_dir", required=True,
              type=AbsolutePath(exists=True, file_okay=False),
              help="Folder of grade results: one GradeResult *.json per student.")
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False),
              help="Where reports go (default: <results>/feedback).")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None,
              help="Language of the reports (default: the assignment's).")
@click.option("--show-hidden", is_flag=True, help="Also show hidden checks' details (instructor's copy).")
def feedback(assignment: str, results_dir: str, out_dir: str | None, lang: str | None, show_hidden: bool) -> None:
    """Write <student>.html + Gradescope <student>.json per result, and index.html for the class."""
    from grader.report import write_feedback

    run = write_feedback(assignment, results_dir, out_dir, lang=lang, show_hidden_details=show_hidden,
                         log=click.echo, warn=lambda line: click.echo(line, err=True))
    if not run.ok:
        sys.exit(1)


@main.command("similarity")
@click.argument("assignment")
@click.option("--submissions", "submissions_dir", required=True, type=AbsolutePath(exists=True, file_okay=False),
              help="The folder 'grader collect' wrote.")
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False), help="Default: SUBMISSIONS/../similarity.")
@click.option("--release", "release_path", type=AbsolutePath(exists=True), default=None,
              help="The released notebook (or 'grader release' --out folder); default: released again in a temporary folder.")
@click.option("--work", "work_dir", type=AbsolutePath(file_okay=False), default=None,
              help="Graded workdirs with artifacts/*.keras (default: SUBMISSIONS/../work, if present).")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None, help="Language of the report.")
@click.option("--reviewed", "reviewed", multiple=True, metavar="A,B", help="Mark this pair as reviewed (repeatable).")
@click.option("--note", default="", help="Note kept with the pairs of --reviewed.")
def similarity_command(assignment: str, submissions_dir: Path, out_dir: Path | None, release_path: Path | None,
                       work_dir: Path | None, lang: str | None, reviewed: tuple[str, ...], note: str) -> None:
    """Rank pairs and clusters of unusually similar submissions (code, written answers, trained models)."""
    from grader.config import load_assignment
    from grader.similarity import similarity_report

    pairs = [tuple(p.strip() for p in item.split(",")) for item in reviewed]
    if any(len(p) != 2 or not all(p) for p in pairs):
        raise click.BadParameter("use --reviewed STUDENT_A,STUDENT_B", param_hint="--reviewed")
    run = similarity_report(load_assignment(assignment), submissions_dir, out_dir, release=release_path,
                            work_dir=work_dir, lang=lang, mark=pairs, note=note, log=click.echo)
    click.echo(f"wrote {run.html_path} and {run.json_path}")


@main.command("release")
@click.argument("assignment")
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False), default="release", show_default=True,
              help="The student notebook goes to OUT/<assignment>/.")
@click.option("--db", "db_url", default=None, callback=absolute_db_url,
              help="nbgrader gradebook: SQLAlchemy URL or SQLite file path (default: OUT/../gradebook.db).")
def release(assignment: str, out_dir: str, db_url: str | None) -> None:
    """Write the student notebook (no solutions, no hidden tests) and record it in the gradebook."""
    from grader.config import load_assignment
    from grader.release import release_assignment

    result = release_assignment(load_assignment(assignment), Path(out_dir), db_url)
    click.echo(f"wrote {result.notebook} ({len(result.grade_cells)} graded cells, "
               f"{result.total_points:g} points in the notebook)")
    click.echo(f"gradebook: {result.db_url}")
    if result.install:
        click.echo(f"students install the grader with: pip install \"{result.install}\" (from [release] install)")


@main.command("grade")
@click.argument("notebook", type=AbsolutePath(dir_okay=False))
@click.option("--assignment", required=True, help="Assignment name (assignments/<name>/) or its TOML file.")
@click.option("--student", default=None, help="Student id in the result (default: the notebook's file name).")
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False), default="grading", show_default=True,
              help="Work folder: OUT/<student>/ gets result.json, executed.ipynb and the artifacts.")
@click.option("--db", "db_url", default=None, callback=absolute_db_url,
              help="Gradebook of the release (default: ./gradebook.db, where 'grader release' puts it).")
@click.option("--no-sandbox", is_flag=True, help="Run the student's code without bubblewrap (trusted code only).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the HTML feedback report.")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None, help="Language of messages and report.")
def grade(notebook: str, assignment: str, student: str | None, out_dir: str, db_url: str | None,
          no_sandbox: bool, report: bool, lang: str | None) -> None:
    """Grade one submission end to end and print its score table."""
    from rich.console import Console
    from rich.table import Table

    from grader.config import load_assignment
    from grader.course import CourseRoot
    from grader.pipeline import grade_submission

    config = load_assignment(assignment)
    if lang:
        config = config.model_copy(update={"language": lang})
    student = student or Path(notebook).stem
    workdir = Path(out_dir) / student
    result = grade_submission(Path(notebook), config, student=student, workdir=workdir,
                              sandbox=not no_sandbox, db_url=db_url or CourseRoot.here().db_url)
    table = Table(title=f"{config.name} — {student}: {result.score:g} / {result.max_score:g}")
    for column in ("check", "points", "status", "message"):
        table.add_column(column)
    for check in result.checks:
        table.add_row(check.name, f"{check.points:g} / {check.max_points:g}", check.status.value, check.message)
    console = Console()
    console.print(table)
    console.print(f"execution: {result.execution.status.value} — {result.execution.message} "
                  f"({result.execution.wall_seconds:.0f} s, sandboxed={result.execution.sandboxed})")
    click.echo(f"result: {workdir / 'result.json'}")
    if report:
        from grader.report import write_report

        click.echo(f"report: {write_report(result, workdir, config=config, lang=config.language)}")


@main.command("collect")
@click.argument("assignment")
@click.argument("source", type=AbsolutePath(exists=True))
@click.option("--out", "out_dir", required=True, type=AbsolutePath(file_okay=False),
              help="Gets OUT/<student>/<assignment>.ipynb and OUT/submissions.json.")
@click.option("--worksheet", type=AbsolutePath(exists=True, dir_okay=False), default=None,
              help="Moodle grading worksheet CSV of the same assignment: PRADO submission times (late policy).")
def collect_command(assignment: str, source: str, out_dir: str, worksheet: str | None) -> None:
    """Validate the submissions in SOURCE (PRADO zip or nbgrader course folder) and copy the notebooks."""
    from collections import Counter
    from grader.collect import collect, render_problems
    from grader.config import load_assignment

    config = load_assignment(assignment)
    submissions = collect(Path(source), config, Path(out_dir), worksheet=Path(worksheet) if worksheet else None)
    counts = Counter(s.status for s in submissions)
    statuses = [msg(f"collect.count_{status}", n=n) for status, n in sorted(counts.items())]
    click.echo(render(msg("collect.summary", n=len(submissions), counts=joined(statuses, ", ")), config.language))
    for submission in submissions:
        for problem in render_problems(submission.problems, config.language):
            click.echo(f"  {submission.student} ({submission.display_name}): {problem}")
    click.echo(f"wrote {Path(out_dir) / 'submissions.json'}")


@main.command("autograde")
@click.argument("assignment")
@click.option("--submissions", "submissions_dir", required=True, type=AbsolutePath(exists=True, file_okay=False),
              help="The folder 'grader collect' wrote.")
@click.option("--db", "db_url", default=None, callback=absolute_db_url,
              help="nbgrader gradebook: SQLAlchemy URL or SQLite file (default: SUBMISSIONS/../gradebook.db).")
@click.option("--workers", type=int, default=2, show_default=True, help="Worker processes of the embedded cluster.")
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler (e.g. from SLURMCluster).")
@click.option("--force", is_flag=True, help="Regrade every student, even those whose finished result is "
                                           "still current (same notebook, grader and assignment).")
@click.option("--student", "students", multiple=True, help="Grade only this student (repeatable); regrades.")
@click.option("--no-sandbox", is_flag=True, help="Run the students' code without bubblewrap (trusted code only).")
@click.option("--jobs-per-gpu", type=int, default=1, show_default=True, help="Jobs sharing one GPU.")
@click.option("--threads-per-job", type=int, default=0, show_default=True,
              help="CPU threads each job's math libraries may use (0: no limit). Limits help many jobs on "
                   "one machine, but change floating-point order: keep one setting for a whole course.")
@click.option("--kernels-ahead/--no-kernels-ahead", default=None,
              help="Start the next notebook's kernel while the worker grades the one before (default: on a GPU, "
                   "where CPUs are idle; on CPUs alone it competes with the notebook running).")
@click.option("--export", "export_dir", type=AbsolutePath(file_okay=False), default=None,
              help="Where grade exports go (default: SUBMISSIONS/../grades).")
def autograde_command(assignment: str, submissions_dir: str, db_url: str | None, workers: int, scheduler: str | None,
                      force: bool, students: tuple[str, ...], no_sandbox: bool, jobs_per_gpu: int,
                      threads_per_job: int, kernels_ahead: bool | None, export_dir: str | None) -> None:
    """Grade every collected submission in parallel, recording each result in the gradebook as it ends.

    Rerunning skips finished students, so a killed batch continues where it stopped. Then writes
    moodle.csv (PRADO worksheet import), grades.csv, results/<student>.json (for 'grader feedback')
    and gradescope/<student>.json.
    """
    from grader.batch import autograde
    from grader.config import load_assignment
    from grader.export_grades import export_all
    from grader.release import resolve_db_url

    config = load_assignment(assignment)
    submissions = Path(submissions_dir).resolve()
    url = resolve_db_url(db_url, submissions)
    click.echo(f"gradebook: {url}")
    summary = autograde(config, submissions, db_url=url, workers=workers, scheduler=scheduler, force=force,
                        students=list(students) or None, jobs_per_gpu=jobs_per_gpu, sandbox=not no_sandbox,
                        threads_per_job=threads_per_job, kernels_ahead=kernels_ahead)
    from grader.course import CourseRoot

    exports = export_all(url, config, Path(export_dir) if export_dir else submissions.parent / "grades",
                         course=CourseRoot.of_submissions(submissions))
    click.echo(f"wrote {exports['moodle_csv']} ({len(exports['moodle_left_out'])} left out: "
               "errors or manual parts pending), "
               f"{exports['plain_csv']}, {len(exports['student_jsons']['results'])} results/*.json and "
               "gradescope/*.json")
    try:  # the grades are written by now: a failing similarity report must not hide them
        from grader.similarity import similarity_report

        similar = similarity_report(config, submissions)
        click.echo(f"wrote {similar.html_path} (similarity of the batch; 'grader similarity' to review pairs)")
    except Exception as exc:
        click.echo(f"similarity report not written ({type(exc).__name__}: {exc}); fix: run 'grader similarity "
                   f"{config.name} --submissions {submissions}' to see the whole error", err=True)
    if summary.errored:
        click.echo(f"{len(summary.errored)} submission(s) hit a grader error; run the same command again "
                   "to retry them.", err=True)
        sys.exit(1)


@main.command("export")
@click.argument("assignment")
@course_options
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False), default=None,
              help="Where the exports go (default: COURSE/grades).")
@click.option("--worksheet", type=AbsolutePath(exists=True, dir_okay=False), default=None,
              help="The grading worksheet CSV downloaded from Moodle: moodle.csv is then that sheet with its "
                   "grade and feedback comments cells filled in (its own headers and language).")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None,
              help="Language of moodle.csv's headers without --worksheet (default: the assignment's).")
@click.option("--include-incomplete", is_flag=True, help="Also export students with manual parts still ungraded.")
def export_command(assignment: str, course_dir: Path, db_url: str | None, out_dir: Path | None,
                   worksheet: Path | None, lang: str | None, include_incomplete: bool) -> None:
    """Export the grades (automatic + the formgrader's manual grades and comments) for Moodle/PRADO.

    Writes moodle.csv (to upload with "Subir hoja de calificaciones"), moodle_feedback.zip (one HTML
    report per student, for "Subir varios archivos de retroalimentación en un ZIP"), grades.csv and
    results/ + gradescope/ JSONs.
    """
    from grader.config import load_assignment
    from grader.course import CourseRoot
    from grader.export_grades import export_all
    from grader.release import resolve_db_url

    config = load_assignment(assignment)
    course = CourseRoot(course_dir)
    url = resolve_db_url(db_url, course.root) if db_url else course.db_url
    exports = export_all(url, config, out_dir or course.root / "grades", lang=lang,
                         include_incomplete=include_incomplete, worksheet=worksheet, course=course)
    click.echo(f"wrote {exports['moodle_csv']} ({len(exports['rows']) - len(exports['moodle_left_out'])} graded, "
               f"{len(exports['moodle_left_out'])} left out)")
    for student, why in sorted(exports["moodle_left_out"].items()):
        click.echo(f"  {student}: {render(why, lang or config.language)}")
    if exports.get("worksheet_unmatched"):
        click.echo(f"  {len(exports['worksheet_unmatched'])} worksheet row(s) without a result here: left as they were")
    click.echo(f"wrote {exports['feedback_zip']} ({len(exports['rows']) - len(exports['feedback_zip_left_out'])} "
               f"report(s)), {exports['plain_csv']}")


@main.command("formgrader")
@course_options
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
def formgrader_command(course_dir: Path, db_url: str | None, port: int) -> None:
    """Start nbgrader's formgrader on the course to grade the manual parts (informe cells) by hand.

    Runs a Jupyter server on 127.0.0.1 with the formgrader, its root the course root, and prints the
    URL to open (with its token); Ctrl+C stops it. Grades and comments go to the gradebook, where
    'grader export' reads them (Moodle's grade and feedback comments columns).

    \b
    On JupyterHub, run nbgrader's formgrader as a hub service instead and point it at the same folder,
    in the nbgrader_config.py of the account that runs it:
      c.CourseDirectory.root = "/path/to/course"      # holds gradebook.db and autograded/
      c.CourseDirectory.db_url = "sqlite:////path/to/course/gradebook.db"   # if elsewhere
    (nbgrader's "Using nbgrader with JupyterHub" documentation: a 'formgrader' service per course).
    """
    from grader.course import CourseRoot
    from grader.formgrader import start_formgrader
    from grader.release import resolve_db_url

    course = CourseRoot(course_dir)
    url = resolve_db_url(db_url, course.root) if db_url else course.db_url
    if not (course.root / "autograded").is_dir():
        click.echo(f"note: {course.root / 'autograded'} does not exist yet: the formgrader has no submission to "
                   "show until 'grader autograde' has run on this course", err=True)
    server = start_formgrader(course, port=port or None, db_url=url)
    click.echo(f"formgrader: {server.url}")
    click.echo(f"course root: {course.root}  gradebook: {url}")
    click.echo("Ctrl+C to stop.")
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@main.command("check")
@click.argument("notebook", type=AbsolutePath(dir_okay=False))
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False), default="comprobacion", show_default=True,
              help="Where the report and the executed notebook go.")
@click.option("--sandbox/--no-sandbox", default=None,
              help="Default: sandboxed when bubblewrap is usable; where it is not, one line says so and the "
                   "notebook runs unsandboxed (it is your own code).")
@click.option("--lang", type=click.Choice(LANGUAGES), default=None,
              help="Language of messages and report (default: the notebook's, set by its release).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as one JSON object on stdout instead of the table (notes go to stderr).")
@click.option("--assignment", default=None,
              help="The assignment, for a notebook that does not say (default: the only one installed).")
def check_command(notebook: Path, out_dir: Path, sandbox: bool | None, lang: str | None, as_json: bool,
                  assignment: str | None) -> None:
    """Students: run your whole notebook locally with the public checks and get the HTML report.

    The assignment, its language and its time and memory limits come from the notebook itself
    ('grader release' writes them into its metadata).

    \b
    Exit status:
      0  every cell ran and every public check passed
      1  a public check failed, or a cell raised an error, ran out of time or memory,
         or the kernel died
      2  NOTEBOOK is not a valid notebook, or another error (the message says which)
    """
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from grader.records import CheckStatus, ExecutionStatus
    from grader.selfcheck import run_local_check

    notes: list[str] = []
    console = Console()
    shown = lang or _notebook_language(notebook)  # the language of this command's own lines
    if as_json:
        def warn(line: str) -> None:
            notes.append(line)
            click.echo(f"note: {line}", err=True)

        result, report = run_local_check(notebook, out_dir, sandbox=sandbox, lang=lang, warn=warn,
                                         assignment=assignment)
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("cells" if shown == "en" else "celdas", total=None)

            def on_cell(index: int, total: int, source: str) -> None:
                first_line = (source.strip().splitlines() or [""])[0][:60]
                progress.update(task, total=total, completed=index, description=escape(first_line))

            def warn(line: str) -> None:
                notes.append(line)
                console.print(f"[yellow]{'note' if shown == 'en' else 'aviso'}:[/] {escape(line)}", soft_wrap=True)

            result, report = run_local_check(notebook, out_dir, sandbox=sandbox, lang=lang, on_cell=on_cell,
                                             warn=warn, assignment=assignment)
    if result.execution.status is ExecutionStatus.INVALID_NOTEBOOK:
        status = 2
    elif result.execution.status is ExecutionStatus.COMPLETED and result.checks and all(
            check.status is CheckStatus.PASSED for check in result.checks):
        status = 0
    else:
        status = 1
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "passed": status == 0, "exit_status": status,
                               "report": str(report), "notes": notes}, ensure_ascii=False))
        sys.exit(status)
    for check in result.checks:
        mark = {"passed": "[green]✔[/]", "partial": "[yellow]~[/]"}.get(check.status.value, "[red]✘[/]")
        console.print(f"{mark} {check.name}: {check.points:g} / {check.max_points:g}  {escape(check.message)}")
    console.print(f"{result.execution.status.value}: {escape(result.execution.message)}")
    console.print(f"report: {report}" if shown == "en" else f"informe: {report}")
    sys.exit(status)


def _notebook_language(notebook: Path) -> str:
    """The language the release wrote into the notebook's metadata ("es" if none can be read)."""
    import json

    try:
        language = json.loads(Path(notebook).read_text(encoding="utf-8"))["metadata"]["grader"]["language"]
    except Exception:  # unreadable or not from a release: run_local_check says which
        return "es"
    return language if language in ("es", "en") else "es"


@main.command("demo")
@click.option("--out", "out_dir", type=AbsolutePath(file_okay=False), default="demo", show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
def demo(out_dir: str, workers: int) -> None:
    """Release each assignment with bundled example submissions (examples/) and autograde them end to end."""
    from grader.demo import run_demo

    run_demo(Path(out_dir), workers=workers, log=click.echo)
