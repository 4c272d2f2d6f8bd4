"""One validated configuration file per assignment: ``assignments/<name>/assignment.toml``.

An assignment is a set of folders named after it: ``assignments/<name>/`` (this file, the source
notebook, ``public/`` with what students' own checks need), ``autograde_tests/<name>/`` (the hidden
tests) and ``reference_solutions/<name>/`` (the reference code and its measured ``metrics.json``).
Thresholds are not typed in by hand: each names a figure in that ``metrics.json`` and margins
below it, so retraining the references moves the thresholds with them. Datasets and held-out sets
are declared here and checked against :func:`grader.datasets.registered` (the registry, and the arrays
assignments ship).
A bad file raises :class:`ConfigError` with one line naming the file, the key and the fix.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from grader.instructor import ASSIGNMENTS_DIR, HIDDEN_TESTS_DIR, REFERENCE_DIR


class ConfigError(ValueError):
    """An assignment configuration file is missing or invalid (the message says where and how to fix)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    cell_timeout_s: int = Field(600, gt=0, description="one cell, then the kernel is interrupted")
    total_timeout_s: int = Field(1800, gt=0, description="the whole notebook, then the process tree is killed")
    memory_mb: int = Field(8192, gt=256)
    processes: int = Field(512, gt=8)
    file_size_mb: int = Field(256, gt=0, description="one file")
    disk_mb: int = Field(1024, gt=0, description="everything the notebook writes, together: its folder, /tmp, "
                                                 "/dev/shm and the kernel's runtime folder, each file at the larger "
                                                 "of its apparent and allocated size")
    max_files: int = Field(10_000, gt=0, description="files, folders and links of every kind (inodes) in those "
                                                     "places together")
    output_bytes: int = Field(2_000_000, gt=1000, description="text printed by all cells together")
    startup_timeout_s: int = Field(60, gt=0)
    # What a submission may hold before it is run at all (the released Práctica 3 has 33 cells and about
    # 20 KB of code and text). Outputs do not count: they are cleared before grading.
    max_cells: int = Field(1000, gt=0, description="cells of a submission; more: rejected without running it")
    max_source_mb: int = Field(20, gt=0, description="code and text of all cells together (UTF-8), outputs "
                                                     "not counted; more: rejected without running it")
    # Scoring is bounded per object: whatever one contract object does (a model that takes an hour to
    # predict, a History of 500 MB, an exception message of a million characters), the submission still
    # gets a result, whose messages name what was cut or stopped.
    object_timeout_s: int = Field(300, gt=0, description="one contract object (a model, an estimator, a feature "
                                                         "function): exported in the kernel, or loaded, summarised "
                                                         "and applied in the scoring process; past it the object "
                                                         "counts as not available, with a message")
    history_keys: int = Field(64, gt=0, description="metrics kept of one History; the others are cut, with a note")
    history_values: int = Field(10_000, gt=0, description="values (epochs) kept per History metric; the rest are "
                                                          "cut, with a note")
    reason_chars: int = Field(500, ge=40, description="a reason or error text that a student's object produced; "
                                                      "longer ones are cut, with a note")
    name_chars: int = Field(100, ge=20, description="a type, layer or metric name that a student chose; longer "
                                                    "ones are cut, with a note")
    reply_mb: int = Field(64, gt=0, description="the scoring reply of one submission; a larger one loses details "
                                                "(cut, with a note in the check's message) rather than the result")


class Threshold(_Strict):
    """Full credit at ``reference - full_margin``, none at ``reference - zero_margin``, linear between;
    for a figure where lower is better (an error: MAE, RMSE), at ``reference + full_margin`` and
    ``reference + zero_margin``."""

    reference: str = Field(description="dotted key in reference_solutions/<assignment>/metrics.json")
    full_margin: float = Field(ge=0)
    zero_margin: float = Field(gt=0)
    better: Literal["higher", "lower"] = Field("higher", description="which way the figure improves")

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.zero_margin <= self.full_margin:
            raise ValueError("zero_margin must be larger than full_margin")
        return self


# The instant checks students run in their notebook (grader.selfcheck), by kind; each reads the
# check's first object: "architecture" and "parameters" compare a Keras model with its spec
# (public/checks.json), "image_output" applies it to a random batch and wants images in [0, 1].
PUBLIC_CHECK_KINDS = ("architecture", "parameters", "image_output")


class Check(_Strict):
    title: str
    points: float = Field(ge=0)
    hidden: bool = Field(description="hidden checks run only in the grader's scoring process")
    threshold: Threshold | None = None
    objects: list[str] = Field(default_factory=list, description="contract names this check reads")
    public: Literal[PUBLIC_CHECK_KINDS] | None = Field(
        None, description="the check students run in their notebook, check(name, object); not hidden ones")

    @model_validator(mode="after")
    def _public_is_visible(self) -> Check:
        if self.public is not None and (self.hidden or not self.objects):
            raise ValueError("a public check needs hidden = false and the object it reads in objects")
        return self


# What a contract object may be: a Keras model, a fitted scikit-learn estimator, a function (applied in
# the kernel to its held-out inputs: images, points or a grid), a Keras History, or a table of numbers
# (a dict of numbers, lists or dicts of numbers; a pandas DataFrame).
CONTRACT_KINDS = ("keras_model", "sklearn_estimator", "function", "history", "table")
CUSTOM_OBJECT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*$")


class ManualPart(_Strict):
    title: str
    points: float = Field(gt=0)
    grade_id: str = Field(description="nbgrader grade_id of the markdown answer cell")


def _registered_dataset(name: str) -> str:
    from grader.datasets import registered

    registered(name)  # a ValueError that lists the known ones
    return name


# scikit-learn's generators a held-out set may draw from (sklearn.datasets.<name>): each returns (X, y)
# and takes n_samples and random_state.
GENERATORS = ("make_moons", "make_circles", "make_blobs", "make_classification", "make_regression")


class Generated(_Strict):
    """Points drawn from one of scikit-learn's generators with the secret seed, e.g. two moons."""

    function: Literal[GENERATORS]
    options: dict[str, float | int | bool] = Field(default_factory=dict, description="its other arguments, "
                                                   "e.g. { noise = 0.2 }")

    @field_validator("options")
    @classmethod
    def _not_the_drawn_ones(cls, options: dict) -> dict:
        taken = sorted({"n_samples", "random_state"} & set(options))
        if taken:
            raise ValueError(f"{taken} come from the set's items and the secret seed: leave them out")
        return options


class Grid(_Strict):
    """Points of the real line where a function is evaluated: ``items`` drawn uniformly from
    [low, high] with the secret seed (so no student can tabulate them), sorted, as float64."""

    low: float
    high: float
    column: bool = Field(False, description="shape (n, 1), the input of a model of one feature, not (n,)")

    @model_validator(mode="after")
    def _ordered(self) -> Grid:
        if self.high <= self.low:
            raise ValueError("high must be larger than low")
        return self


class HeldOutSet(_Strict):
    """One held-out set: ``items`` drawn from a dataset's split (and transformed in the order of the
    keys below), from a scikit-learn generator (``generated``) or from an interval (``grid``). The
    student's kernel gets the inputs under the set's name; the answers stay here."""

    dataset: str | None = Field(None, description="a dataset name (grader.datasets.registered)")
    generated: Generated | None = None
    grid: Grid | None = None
    split: Literal["train", "test"] = "test"
    items: int = Field(gt=0, description="the first items of a permutation of the split")
    to_unit_interval: bool = Field(False, description="uint8 pixels divided by 255, as float32")
    channel_axis: bool = Field(False, description="append a channel axis: (n, h, w) -> (n, h, w, 1)")
    gaussian_noise: float | None = Field(None, gt=0, description="sigma of the noise added to the inputs, "
                                                                  "clipped to [0, 1]")
    answers: dict[Literal["labels", "targets", "clean"], str] = Field(
        default_factory=dict, description="the answers kept, each under the name given: labels (int64, of a "
                                          "classification), targets (float64, of a regression), clean (the "
                                          "inputs before the noise)")

    @field_validator("dataset")
    @classmethod
    def _dataset_known(cls, name: str | None) -> str | None:
        return None if name is None else _registered_dataset(name)

    @model_validator(mode="after")
    def _one_source(self) -> HeldOutSet:
        sources = [key for key in ("dataset", "generated", "grid") if getattr(self, key) is not None]
        if len(sources) != 1:
            raise ValueError(f"give exactly one of dataset, generated and grid (given: {sources or 'none'})")
        if self.grid is not None and self.answers:
            raise ValueError("a grid has no answers: the hidden tests compute the expected values from it")
        return self

    @model_validator(mode="after")
    def _clean_needs_noise(self) -> HeldOutSet:
        if "clean" in self.answers and self.gaussian_noise is None:
            raise ValueError("answers.clean keeps the inputs before the noise: set gaussian_noise too")
        return self


class HeldOut(_Strict):
    """Inputs the grader feeds to the student's models; their answers stay in the grader.

    One generator seeded with ``seed`` draws each set's permutation, in the order the sets are
    declared; a set's noise comes from a generator of its own, seeded with ``seed`` too. The seed is
    secret: the student's kernel never sees it (its items are withheld from the kernel's datasets,
    see :mod:`grader.heldout`)."""

    seed: int = 0
    sets: dict[str, HeldOutSet] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_unique(self) -> HeldOut:
        names = list(self.sets) + [answer for held in self.sets.values() for answer in held.answers.values()]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"names {repeated} are used twice (set names and answer names share one folder)")
        return self


class LatePolicy(_Strict):
    deadline: str | None = Field(None, description="ISO 8601 with offset, e.g. 2025-06-09T23:59:00+02:00")
    penalty_per_day: float = Field(0.0, ge=0, description="points taken per started day late")
    max_days_late: int = Field(0, ge=0, description="later than this: graded 0; 0 = no late submissions")


PACKAGE_NAME = "keras-course-grader"  # the distribution students install ("from grader import check")
# Characters an install line may not hold: it is written into the notebook inside double quotes of a
# '%pip install' line, where IPython would expand {...} and $name, and a student copies it to a shell.
_UNSAFE_INSTALL = re.compile(r"[\s\"'`{}$\\;&|<>]")


def check_install_requirement(text: str) -> str:
    """``[release] install``: a pip requirement for this package students can install as they are:
    ``keras-course-grader @ git+https://host/course/repo@v1`` (or ``==1.0`` from an index); no extras
    (the notebook adds them), no environment marker, only https URLs. Returns it normalised."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    example = f"{PACKAGE_NAME} @ git+https://github.com/<org>/<course repository>@<tag>"
    text = text.strip()
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        raise ValueError(f"not a pip requirement ({exc}); write it like {example}") from None
    if canonicalize_name(requirement.name) != PACKAGE_NAME:
        raise ValueError(f"names {requirement.name!r}, not {PACKAGE_NAME!r}; write it like {example}")
    if requirement.extras or requirement.marker:
        raise ValueError("takes no [extras] and no '; marker': the released notebook adds what students need")
    if requirement.url is None and not requirement.specifier:
        raise ValueError(f"says neither where nor which version; write it like {example}")
    if requirement.url is not None and not requirement.url.startswith(("git+https://", "https://")):
        raise ValueError(f"{requirement.url}: students install over https (git+https://... or https://...); "
                         "ssh and file URLs work only on the instructor's machine")
    rest = requirement.url if requirement.url is not None else str(requirement.specifier)
    if _UNSAFE_INSTALL.search(rest.replace("<", "").replace(">", "") if requirement.url is None else rest):
        raise ValueError("holds a space, quote, brace, '<', '$' or shell character (a placeholder left in?); "
                         "write the course repository's plain https URL")
    return f"{PACKAGE_NAME} @ {rest}" if requirement.url is not None else f"{PACKAGE_NAME}{rest}"


class ReleaseSettings(_Strict):
    install: str | None = Field(None, description="pip requirement students install the package with; the "
                                                  "release writes it into the notebook's {{grader_install}}")

    @field_validator("install")
    @classmethod
    def _valid_install(cls, value: str | None) -> str | None:
        return None if value is None else check_install_requirement(value)


class Environment(_Strict):
    """What the grading kernel offers the students' code: besides Python's standard library, the
    top-level modules a notebook may import (the course's own and what Colab has that students use).
    An import of a module the kernel lacks gets one message naming it and this list."""

    allowed: list[str] = Field(default_factory=lambda: [
        "keras", "tensorflow", "numpy", "matplotlib", "sklearn", "skimage", "scipy", "pandas", "seaborn",
        "tqdm", "cv2", "PIL", "grader"])


class AssignmentConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    language: Literal["es", "en"] = "es"
    source_notebook: str = Field(description="path relative to the assignment folder")
    datasets: list[str] = Field(description="the datasets the student's notebook loads (grader.datasets.registered)")
    contract: dict[str, Literal[CONTRACT_KINDS]]
    custom_objects: dict[str, str] = Field(
        default_factory=dict, description="Keras functions and classes the students register and the scorer "
                                          "rebuilds from the instructor's own code: name -> 'module:attribute', "
                                          "the module a file of the hidden tests' folder (grader.trusted_objects)")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="which held-out set ([heldout.sets]) each contract object is applied to")
    features: dict[str, str] = Field(
        default_factory=dict, description="which contract function's features each scikit-learn estimator "
                                          "predicts from; an estimator not named here predicts from its "
                                          "held-out inputs, one flattened row per item")
    limits: Limits = Limits()
    heldout: HeldOut = HeldOut()
    late: LatePolicy = LatePolicy()
    release: ReleaseSettings = ReleaseSettings()
    environment: Environment = Environment()
    checks: dict[str, Check]
    manual: dict[str, ManualPart] = Field(default_factory=dict)

    folder: Path = Field(Path("."), exclude=True)

    @field_validator("datasets")
    @classmethod
    def _datasets_known(cls, names: list[str]) -> list[str]:
        return [_registered_dataset(name) for name in names]

    @model_validator(mode="after")
    def _objects_in_contract(self) -> AssignmentConfig:
        for check_name, check in self.checks.items():
            unknown = [o for o in check.objects if o not in self.contract]
            if unknown:
                raise ValueError(f"checks.{check_name}.objects names {unknown} that are not in [contract]")
            if check.public and self.contract[check.objects[0]] != "keras_model":
                raise ValueError(f"checks.{check_name}.public = {check.public!r} reads a keras_model, and "
                                 f"{check.objects[0]!r} is a {self.contract[check.objects[0]]}")
        for needs_inputs, plural, use in (("function", "functions", "applied to"),
                                          ("sklearn_estimator", "estimators", "scored on")):
            missing = [name for name, kind in self.contract.items() if kind == needs_inputs and name not in self.inputs]
            if missing:
                raise ValueError(f"{plural} {missing} have no held-out set in [inputs] to be {use}")
        unknown_inputs = [name for name in self.inputs if name not in self.contract]
        if unknown_inputs:
            raise ValueError(f"[inputs] names {unknown_inputs} that are not in [contract]")
        bad_objects = [name for name, where in self.custom_objects.items() if not CUSTOM_OBJECT.match(where)]
        if bad_objects:
            raise ValueError(f"custom_objects.{bad_objects[0]}: write 'module:attribute', the module a file "
                             "module.py beside the assignment's hidden tests")
        unknown_sets = sorted({held for held in self.inputs.values() if held not in self.heldout.sets})
        if unknown_sets:
            raise ValueError(f"[inputs] names held-out sets {unknown_sets} that are not in [heldout.sets]")
        for estimator, function in self.features.items():
            self._check_features(estimator, function)
        return self

    def _check_features(self, estimator: str, function: str) -> None:
        if self.contract.get(estimator) != "sklearn_estimator":
            raise ValueError(f"[features] names {estimator!r}, which is not a sklearn_estimator in [contract]")
        if self.contract.get(function) != "function":
            raise ValueError(f"features.{estimator} = {function!r} is not a function in [contract]")
        if self.inputs.get(estimator) != self.inputs.get(function):
            # The estimator's labels are its own set's answers: its features must be of the same items.
            raise ValueError(f"features.{estimator}: {estimator!r} and {function!r} must be applied to the "
                             f"same held-out set in [inputs] (now {self.inputs.get(estimator)!r} and "
                             f"{self.inputs.get(function)!r})")

    @property
    def source_path(self) -> Path:
        return self.folder / self.source_notebook

    @property
    def hidden_tests_dir(self) -> Path:
        return HIDDEN_TESTS_DIR / self.name

    @property
    def reference_dir(self) -> Path:
        """The reference solutions, importable as ``reference_solutions.<name>``."""
        return REFERENCE_DIR / self.name

    @property
    def metrics_path(self) -> Path:
        return self.reference_dir / "metrics.json"

    @property
    def public_checks(self) -> dict[str, Check]:
        return {name: check for name, check in self.checks.items() if check.public is not None}

    @property
    def total_points(self) -> float:
        return sum(c.points for c in self.checks.values()) + sum(m.points for m in self.manual.values())

    @cached_property
    def reference_metrics(self) -> dict:
        if not self.metrics_path.is_file():
            raise ConfigError(f"{self.metrics_path}: missing; fix: run 'grader reference train {self.name}' in "
                              "the course checkout")
        return json.loads(self.metrics_path.read_text(encoding="utf-8"))

    def threshold_bounds(self, check_name: str) -> tuple[float, float]:
        """(zero_at, full_at) of a check's threshold, resolved against the reference metrics."""
        threshold = self.checks[check_name].threshold
        if threshold is None:
            raise KeyError(f"check {check_name!r} has no threshold")
        reference = resolve_metric(self.reference_metrics, threshold.reference, self)
        if threshold.better == "lower":
            return reference + threshold.zero_margin, reference + threshold.full_margin
        return reference - threshold.zero_margin, reference - threshold.full_margin


def resolve_metric(metrics: dict, dotted: str, config: AssignmentConfig) -> float:
    value: object = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ConfigError(f"{config.metrics_path}: no figure {dotted!r}; fix: run 'grader reference train "
                              f"{config.name}' or correct the threshold's reference key")
        value = value[part]
    return float(value)


def _first_error(path: Path, error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{path}: key '{key}': {first['msg']}"


def load_config(path: str | Path) -> AssignmentConfig:
    path = Path(path).expanduser().absolute()  # the folder anchors the config's own relative entries
    if not path.is_file():
        raise ConfigError(f"{path}: no such configuration file; fix: create it or check the assignment name")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax at that position") from None
    try:
        config = AssignmentConfig.model_validate({**raw, "folder": path.parent})
    except ValidationError as exc:
        raise ConfigError(_first_error(path, exc) + "; fix that key (see grader/config.py)") from None
    for check_name, check in config.checks.items():
        if check.threshold is not None:
            try:
                resolve_metric(config.reference_metrics, check.threshold.reference, config)
            except ConfigError as exc:
                raise ConfigError(f"{path}: key 'checks.{check_name}.threshold.reference': {exc}") from None
    return config


def load_assignment(name_or_path: str | Path) -> AssignmentConfig:
    """An assignment by name (a folder of ``assignments/``) or by the path of its folder or its TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        return load_config(candidate)
    if candidate.is_dir():
        return load_config(candidate / "assignment.toml")
    return load_config(ASSIGNMENTS_DIR / str(name_or_path) / "assignment.toml")
