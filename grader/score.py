"""Score a submission from its exported artifacts, in a process of its own (``python -m grader.score``).

The hidden tests under ``autograde_tests/<assignment>/`` are ordinary pytest tests, each marked
``@pytest.mark.check("<check name>")``; the check's points and thresholds come from the assignment's
configuration. This module runs them with a plugin that provides the fixtures they use:

- ``artifacts``: the student's exported objects, loaded as data (Keras ``safe_mode``, skops trusted
  types, ``numpy.load(allow_pickle=False)``) — models are re-applied to the held-out inputs here;
- ``answers``: held-out labels and clean images (never seen by the student's kernel);
- ``facts``: the :class:`~grader.checks.rules.SubmissionFacts` the pipeline gathered;
- ``config``, ``specs``, ``lang``, ``bounds`` (a check's (zero_at, full_at) thresholds);
- ``credit``: records a test's :class:`~grader.checks.CheckOutcome` as that check's result.

No self-reported figure earns points silently: a model only the student's own class can rebuild is
graded from what the kernel computed (its layer summary, its outputs) only when its archive matches
that summary by content (:func:`archive_problem`: real HDF5 weights with the layers' parameters and
widths), and the check is then flagged ``needs_review`` (nbgrader's ``needs_manual_grade``); an archive
or outputs that do not match earn nothing and are flagged too.

Scoring is bounded per object (the assignment's :class:`~grader.config.Limits`): files are read up to a
size, names and reasons are cut, the time spent on each object is watched, and the reply is cut to fit;
whatever was cut or stopped is named in the message of the check that read it.

The process is a small server (:func:`serve`, started by :class:`grader.scoring.ScoringServer`): it
imports once and scores each submission in a fresh fork, which it supervises (:func:`_score_job`).
Results leave it as JSON lines, never pickle: the checks, and the class labels each classifier
predicted on labelled held-out inputs (:func:`class_predictions`, kept beside the result for the
similarity report).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest

from grader.checks import CheckOutcome
from grader.checks.messages import message
from grader.checks.rules import SubmissionFacts
from grader.config import AssignmentConfig
from grader.heldout import load_answers
from grader.metrics import labels_from_scores
from grader.records import CheckResult, CheckStatus

# Modules whose classes (and numpy's ufuncs) a student's estimator may be made of. Functions are never
# trusted: FunctionTransformer(builtins.eval) would run the student's code in the grader.
TRUSTED_SKOPS_MODULES = ("sklearn", "numpy", "scipy.sparse")


def trusted_skops_type(name: str) -> bool:
    """A class (or numpy ufunc) defined under one of TRUSTED_SKOPS_MODULES; nothing else."""
    module, _, attribute = name.rpartition(".")
    if not any(module == root or module.startswith(root + ".") for root in TRUSTED_SKOPS_MODULES):
        return False
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, ValueError):
        return False
    return isinstance(found, (type, np.ufunc))


SCORING_KEYS = ("artifacts", "inputs", "answers", "job")
GRACEFUL_EXIT_S = 30
MANIFEST_MAX_BYTES = 2**20      # manifest.json: a few entries of bounded reasons
SUMMARY_MAX_BYTES = 4 * 2**20   # <name>.summary.json: thousands of layers
SUMMARY_MAX_LAYERS = 5000
ARCHIVE_CONFIG_MAX_BYTES = 16 * 2**20
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
WIDTH_KEYS = ("units", "filters")


def archive_config(path: Path) -> dict | None:
    """The ``config.json`` of a Keras archive; None for a file that is no zip or has no valid config."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("config.json") as entry:
            data = entry.read(ARCHIVE_CONFIG_MAX_BYTES + 1)  # never more, whatever the zip claims
        if len(data) > ARCHIVE_CONFIG_MAX_BYTES:
            return None
        config = json.loads(data)
    except (OSError, KeyError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile, NotImplementedError):
        return None
    return config if isinstance(config, dict) and isinstance(config.get("class_name"), str) else None


def needs_student_code(config: dict, _depth: int = 0) -> bool:
    """True when the archive's configuration names a class Keras does not define (a subclassed model, a
    custom layer): only the student's code can rebuild it. Read from what the file holds, not its name."""
    if _depth > 64:
        return True
    if isinstance(config, dict):
        name = config.get("class_name")
        # "__keras_tensor__", "__tuple__", ...: Keras' markers for values, not classes
        if isinstance(name, str) and "config" in config and not (name.startswith("__") and name.endswith("__")):
            module = config.get("module")
            if not (isinstance(module, str) and (module == "keras" or module.startswith("keras."))):
                return True
        return any(needs_student_code(value, _depth + 1) for value in config.values())
    if isinstance(config, list):
        return any(needs_student_code(value, _depth + 1) for value in config)
    return False


def unregistered_subclass_archive(path: Path) -> bool:
    """True for a zip whose configuration needs the student's code (the grader cannot rebuild it) and
    whose weights are HDF5; whether they match what the kernel reported is :func:`archive_problem`'s."""
    config = archive_config(path)
    if config is None or not needs_student_code(config):
        return False
    try:
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as weights:
            return weights.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE
    except (OSError, KeyError, RuntimeError, zipfile.BadZipFile, NotImplementedError):
        return False


def _weight_groups(data: bytes) -> list[tuple[str | None, list[tuple[int, ...]]]]:
    """(layer name, variable shapes in order) of each ``vars`` group of a Keras weights file, the
    optimizer's left out. Only shapes are read, never the arrays."""
    import h5py

    groups: list[tuple[str | None, list[tuple[int, ...]]]] = []
    with h5py.File(io.BytesIO(data), "r") as weights:
        def visit(path: str, node) -> None:
            if path.split("/")[0] == "optimizer" or path.rsplit("/", 1)[-1] != "vars":
                return
            if not isinstance(node, h5py.Group):
                return
            variables = sorted(((key, value) for key, value in node.items() if isinstance(value, h5py.Dataset)),
                               key=lambda item: (not item[0].isdigit(), int(item[0]) if item[0].isdigit() else 0))
            name = node.attrs.get("name")
            if isinstance(name, bytes):
                name = name.decode("utf-8", "replace")
            groups.append((name if isinstance(name, str) else None,
                           [tuple(int(d) for d in value.shape) for _, value in variables]))

        weights.visititems(visit)
    return groups


def _size(shapes: list[tuple[int, ...]]) -> int:
    return sum(int(np.prod(shape, dtype=np.int64)) if shape else 1 for shape in shapes)


def archive_problem(path: Path, config: dict, summary: dict | None, lang: str,
                    max_weights_bytes: int = 2**31) -> str | None:
    """Why the archive of a model the grader cannot rebuild does not match the layer summary the kernel
    reported (None when it does): its weights must be real HDF5 (at most ``max_weights_bytes``) holding,
    layer by layer, the parameters and widths the summary states, and its build input must be the
    summary's."""
    if summary is None:
        return message(lang, "archive_no_summary")
    try:
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as entry:
            data = entry.read(max_weights_bytes + 1)
        if len(data) > max_weights_bytes or not data.startswith(HDF5_SIGNATURE):
            raise ValueError("no HDF5 signature")
        groups = _weight_groups(data)
    except Exception:  # no entry, not HDF5, damaged: whatever h5py refuses
        return message(lang, "archive_no_weights")
    declared_total = summary.get("total_params")
    found_total = sum(_size(shapes) for _, shapes in groups)
    if not isinstance(declared_total, int) or found_total != declared_total:
        return message(lang, "archive_total", found=found_total, declared=declared_total)
    named = any(name is not None for name, _ in groups)
    unused = list(groups)
    for row in summary["layers"]:
        params = row.get("params")
        if not isinstance(params, int) or params <= 0:
            continue
        layer = str(row.get("name"))
        candidates = [g for g in unused if not named or g[0] == layer]
        if not candidates:
            return message(lang, "archive_layer_missing", layer=layer, params=params)
        matching = [g for g in candidates if _size(g[1]) == params]
        if not matching:
            found = _size(candidates[0][1]) if named else "?"
            return message(lang, "archive_layer_params", layer=layer, declared=params, found=found)
        settings = row.get("config") if isinstance(row.get("config"), dict) else {}
        for key in WIDTH_KEYS:
            width = settings.get(key)
            if not isinstance(width, int):
                continue
            shaped = [g for g in matching if g[1] and g[1][0] and g[1][0][-1] == width]
            output = row.get("output_shape")
            if not shaped or (isinstance(output, list) and output and output[-1] not in (None, width)):
                shape = list(matching[0][1][0]) if matching[0][1] else []
                return message(lang, "archive_layer_width", layer=layer, setting=key, declared=width, shape=shape)
            matching = shaped
        unused.remove(matching[0])
    built = (config.get("build_config") or {}).get("input_shape") if isinstance(config.get("build_config"), dict) \
        else None
    declared_input = summary.get("input_shape")
    if isinstance(built, list) and isinstance(declared_input, list):
        if len(built) != len(declared_input) or any(
                isinstance(b, int) and isinstance(d, int) and b != d for b, d in zip(built[1:], declared_input[1:])):
            return message(lang, "archive_input", declared=declared_input, found=built)
    return None


class ObjectUnavailable(Exception):
    """A contract object is missing, invalid or could not be loaded safely; the message says which.
    ``review``: why the check that read it also waits for the instructor (a file that looks forged)."""

    def __init__(self, text: str, review: str | None = None):
        super().__init__(text)
        self.review = review


class _TooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


def _read_json_bounded(path: Path, max_bytes: int):
    """The JSON in ``path``, never reading more than ``max_bytes`` (:class:`_TooLarge` past them)."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            handle.seek(0, os.SEEK_END)
            raise _TooLarge(handle.tell())
    return json.loads(data)


def _size_text(size: int) -> str:
    """``1.2 MB``, ``1.7 KB``, ``512 B``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _progress(event: dict) -> None:
    """One event for the supervising process (see :func:`_watch`), when there is one."""
    if _CHANNEL is not None:
        _CHANNEL.write(json.dumps(event, default=str).encode("utf-8") + b"\n")
        _CHANNEL.flush()


_CHANNEL = None  # set in a scoring child: the pipe to its supervisor


class Artifacts:
    """Read-only view of what the student's kernel exported, loaded without running its code.

    Every read is bounded (the assignment's :class:`~grader.config.Limits`): a file too large is not
    read, long names and reasons are cut, and the time spent on each object is reported to the
    supervising process, which stops an object past ``object_timeout_s`` (``stopped``: the objects
    stopped so far, each then unavailable). What was cut while a check read its objects is in
    ``notes``, and why its figures need the instructor's review in ``reviews`` (:meth:`start_check`
    empties both)."""

    def __init__(self, folder: Path, inputs: dict[str, np.ndarray], config: AssignmentConfig, lang: str,
                 stopped: dict[str, int] | None = None):
        self.folder, self.inputs, self.config, self.lang = Path(folder), inputs, config, lang
        self.limits = config.limits
        self.stopped = dict(stopped or {})
        self.manifest, self._manifest_problem = self._read_manifest()
        self._models: dict[str, object] = {}
        self._outputs: dict[str, tuple[np.ndarray, bool]] = {}  # two checks may read one model's outputs
        self._verified: dict[str, bool | ObjectUnavailable] = {}
        self._timing: list[str] = []
        self.notes: list[str] = []
        self.reviews: list[str] = []

    # ------------------------------------------------------------------ bounds, notes and reviews

    def start_check(self) -> None:
        self.notes, self.reviews = [], []

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _review(self, text: str) -> None:
        if text not in self.reviews:
            self.reviews.append(text)

    def _name(self, value) -> str:
        """A name the student chose (a layer, a class, a metric), cut to ``name_chars`` with a note."""
        text, limit = str(value), self.limits.name_chars
        if len(text) <= limit:
            return text
        self._note(message(self.lang, "cut_name", total=len(text), kept=limit))
        return text[:limit - 1] + "…"

    @contextlib.contextmanager
    def _timed(self, name: str):
        """The supervisor counts the time spent inside against ``name``'s ``object_timeout_s``."""
        if name in self._timing:
            yield
            return
        self._timing.append(name)
        _progress({"event": "start", "object": name})
        try:
            yield
        finally:
            self._timing.remove(name)
            _progress({"event": "end", "object": name})

    def _read_manifest(self) -> tuple[dict, str | None]:
        path = self.folder / "manifest.json"
        if not path.is_file():
            return {}, None
        try:
            raw = _read_json_bounded(path, MANIFEST_MAX_BYTES)
        except _TooLarge as too:
            return {}, message(self.lang, "manifest_unreadable", reason=message(
                self.lang, "cut_file", file="manifest.json", size=_size_text(too.size),
                limit=_size_text(MANIFEST_MAX_BYTES)))
        except (OSError, ValueError) as exc:
            return {}, message(self.lang, "manifest_unreadable", reason=_short(exc, 200))
        if not isinstance(raw, dict):
            return {}, message(self.lang, "manifest_unreadable", reason=type(raw).__name__)
        manifest = {}
        for name in self.config.contract:  # only the contract's names; each entry checked
            entry = raw.get(name)
            if entry is None:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("status"), str):
                entry = {"status": "invalid", "reason": message(self.lang, "manifest_unreadable", reason=name)}
            entry = dict(entry)
            reason = str(entry.get("reason", ""))
            if len(reason) > self.limits.reason_chars:
                entry["reason"] = reason[:self.limits.reason_chars - 1] + "…"
                entry["cut"] = [*(entry.get("cut") if isinstance(entry.get("cut"), list) else []),
                                {"field": "reason", "total": len(reason), "kept": self.limits.reason_chars}]
            else:
                entry["reason"] = reason
            timed_out = entry.get("timed_out_s")
            entry["timed_out_s"] = int(timed_out) if isinstance(timed_out, (int, float)) and timed_out > 0 else None
            manifest[name] = entry
        return manifest, None

    def _note_cuts(self, name: str, entry: dict) -> None:
        """The cuts the export (or the manifest's reading) made to ``name``, as notes."""
        cuts = entry.get("cut")
        for cut in (cuts if isinstance(cuts, list) else [])[:20]:
            if not isinstance(cut, dict):
                continue
            kept = cut.get("kept") if isinstance(cut.get("kept"), int) else "?"
            total = cut.get("total") if isinstance(cut.get("total"), int) else f">{kept}"
            field = cut.get("field")
            if field == "reason":
                self._note(message(self.lang, "cut_reason", name=name, total=total, kept=kept))
            elif field == "history_keys":
                self._note(message(self.lang, "cut_history_keys", name=name, total=total, kept=kept))
            elif field == "history_values":
                key = str(cut.get("key", ""))[:self.limits.name_chars]
                self._note(message(self.lang, "cut_history_values", name=name, metric=key, total=total, kept=kept))
            elif field == "name":
                self._note(message(self.lang, "cut_name", total=total, kept=kept))

    # ------------------------------------------------------------------------------ the objects

    def require(self, name: str) -> None:
        if name in self.stopped:
            raise ObjectUnavailable(message(self.lang, "object_timeout", name=name, seconds=self.stopped[name]))
        entry = self.manifest.get(name)
        if entry is None:
            raise ObjectUnavailable(message(self.lang, "missing_object", name=name, reason=self._manifest_problem
                                            or "el notebook no llegó a exportarlo (¿se detuvo antes?)"))
        self._note_cuts(name, entry)
        if entry.get("timed_out_s"):
            raise ObjectUnavailable(message(self.lang, "object_timeout", name=name, seconds=entry["timed_out_s"]))
        if entry["status"] != "exported":
            raise ObjectUnavailable(message(self.lang, "missing_object", name=name, reason=entry["reason"]))

    def model(self, name: str):
        """The Keras model loaded with ``safe_mode`` (no Lambda bytecode, no unknown classes)."""
        self.require(name)
        if name not in self._models:
            import keras

            with self._timed(name):
                try:
                    self._models[name] = keras.saving.load_model(self.folder / f"{name}.keras", safe_mode=True)
                except Exception as exc:  # unknown custom class, Lambda refused by safe_mode, corrupt file
                    self._models[name] = exc
        loaded = self._models[name]
        if isinstance(loaded, Exception):
            raise ObjectUnavailable(message(self.lang, "unloadable", name=name, reason=_short(loaded)))
        return loaded

    def model_verified(self, name: str) -> bool:
        """True when the model loads outside the kernel; False for a model only the student's code can
        rebuild (an own class) whose archive matches what the kernel reported: its figures come from the
        kernel, and the check that reads them waits for the instructor's review. Raises ObjectUnavailable
        when the kernel exported no model, one with a Lambda layer, or an archive that does not match
        its own summary (looked at by content: the file's name proves nothing)."""
        self.require(name)
        if name not in self._verified:
            self._verified[name] = self._verify(name)
        verified = self._verified[name]
        if isinstance(verified, ObjectUnavailable):
            raise ObjectUnavailable(str(verified), verified.review)
        if not verified:
            self._review(message(self.lang, "review_unverified", name=name))
        return verified

    def _verify(self, name: str) -> bool | ObjectUnavailable:
        try:
            self.model(name)
            return True
        except ObjectUnavailable as exc:
            path = self.folder / f"{name}.keras"
            config = archive_config(path)
            # A Lambda layer is refused outright (its bytecode would run in the grader); a damaged file
            # or one of Keras' own classes that does not load is what it is: unloadable.
            if "Lambda" in str(exc) or config is None or not needs_student_code(config):
                return exc
            with self._timed(name):
                problem = archive_problem(path, config, self._kernel_summary(name), self.lang,
                                          2 * self.limits.file_size_mb * 2**20)
            if problem is not None:
                return ObjectUnavailable(message(self.lang, "forged_archive", name=name, reason=problem),
                                         review=message(self.lang, "review_inconsistent", name=name))
            return False

    def _kernel_summary(self, name: str) -> dict | None:
        """The layer summary the kernel wrote, bounded and checked for its form; None when unusable."""
        try:
            raw = _read_json_bounded(self.folder / f"{name}.summary.json", SUMMARY_MAX_BYTES)
        except (OSError, ValueError, _TooLarge):
            return None
        if (not isinstance(raw, dict) or not isinstance(raw.get("layers"), list)
                or len(raw["layers"]) > SUMMARY_MAX_LAYERS
                or not all(isinstance(row, dict) for row in raw["layers"])):
            return None
        return self._bounded_names(raw)

    def _bounded_names(self, summary: dict) -> dict:
        """``summary`` with its layer and class names cut to ``name_chars`` (each cut noted)."""
        layers = [{**row, "name": self._name(row.get("name", "")), "class": self._name(row.get("class", ""))}
                  for row in summary["layers"]]
        return {**summary, "layers": layers}

    def summary(self, name: str) -> tuple[dict, bool]:
        """(layer summary, verified): recomputed from the loaded model when possible."""
        from grader.probe import summarize

        if self.model_verified(name):
            with self._timed(name):
                return self._bounded_names(summarize(self.model(name))), True
        summary = self._kernel_summary(name)
        if summary is None:  # checked by model_verified: only a file changed since could get here
            raise ObjectUnavailable(message(self.lang, "forged_archive", name=name,
                                            reason=message(self.lang, "archive_no_summary")),
                                    review=message(self.lang, "review_inconsistent", name=name))
        return summary, False

    def outputs(self, name: str) -> tuple[np.ndarray, bool]:
        """(outputs on the held-out inputs, verified): recomputed here from the loaded model when possible."""
        if name not in self._outputs:
            self._outputs[name] = self._compute_outputs(name)
        outputs, verified = self._outputs[name]
        if not verified:
            self._review(message(self.lang, "review_unverified", name=name))
        return outputs, verified

    def outputs_on(self, name: str, images: np.ndarray | None) -> np.ndarray | None:
        """A Keras model's outputs on other images than its held-out set (the test images the student had,
        see :mod:`grader.checks.leakage`), computed here; None when there are no such images or the model
        cannot be rebuilt outside the kernel (the kernel only ever saw the held-out set)."""
        if images is None or self.config.contract[name] != "keras_model" or not self.model_verified(name):
            return None
        from grader.export import PREDICT_BATCH, _prepare_for_model

        model = self.model(name)
        with self._timed(name):
            return np.asarray(model.predict(_prepare_for_model(model, images), batch_size=PREDICT_BATCH, verbose=0))

    def computed_outputs(self) -> dict[str, np.ndarray]:
        """The outputs the checks asked for so far, by contract name."""
        return {name: outputs for name, (outputs, _) in self._outputs.items()}

    def _compute_outputs(self, name: str) -> tuple[np.ndarray, bool]:
        kind = self.config.contract[name]
        if kind == "keras_model" and self.model_verified(name):
            from grader.export import PREDICT_BATCH, _prepare_for_model

            model = self.model(name)
            images = self.inputs[self.config.inputs[name]]
            with self._timed(name):
                return np.asarray(model.predict(_prepare_for_model(model, images), batch_size=PREDICT_BATCH,
                                                verbose=0)), True
        if kind == "sklearn_estimator":
            return self._estimator_outputs(name), True
        self.require(name)
        outputs = self._load_npy(f"{name}.outputs.npy")
        if kind == "keras_model":
            self._check_kernel_outputs(name, outputs)
        return outputs, False

    def _check_kernel_outputs(self, name: str, outputs: np.ndarray) -> None:
        """The kernel's outputs of a model the grader cannot rebuild: one row per held-out input, each of
        the output shape the kernel's own summary states."""
        summary = self._kernel_summary(name) or {}
        declared = summary.get("output_shape") if isinstance(summary.get("output_shape"), list) else None
        images = self.inputs.get(self.config.inputs.get(name, ""))
        expected = [len(images) if images is not None else None, *(declared[1:] if declared else [])]
        got = list(outputs.shape)
        if (declared is not None and len(got) != len(expected)) or any(
                isinstance(e, int) and e != g for e, g in zip(expected, got)):
            raise ObjectUnavailable(message(self.lang, "outputs_inconsistent", name=name, got=got, expected=expected),
                                    review=message(self.lang, "review_inconsistent", name=name))

    def features(self, name: str) -> np.ndarray:
        self.require(name)
        return self._load_npy(f"{name}.features.npy")

    def history_max_bytes(self) -> int:
        """The largest History file read: ``history_keys`` metrics of ``history_values`` numbers."""
        limits = self.limits
        return limits.history_keys * (limits.history_values * 24 + limits.name_chars + 8) + 1024

    def history(self, name: str) -> dict | None:
        """The History's metrics (``{name: [float | None, ...]}``), bounded like the export bounds them;
        None when there is none, or a note when it was too large to read."""
        path = self.folder / f"{name}.history.json"
        entry = self.manifest.get(name)
        if entry is None or entry.get("status") != "exported" or not path.is_file():
            return None
        self._note_cuts(name, entry)
        limit = self.history_max_bytes()
        try:
            raw = _read_json_bounded(path, limit)
        except _TooLarge as too:
            self._note(message(self.lang, "cut_file", file=path.name, size=_size_text(too.size),
                               limit=_size_text(limit)))
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        keys, values = self.limits.history_keys, self.limits.history_values
        if len(raw) > keys:
            self._note(message(self.lang, "cut_history_keys", name=name, total=len(raw), kept=keys))
        history: dict[str, list[float | None]] = {}
        for key, series in list(raw.items())[:keys]:
            key = self._name(key)
            series = series if isinstance(series, list) else []
            if len(series) > values:
                self._note(message(self.lang, "cut_history_values", name=name, metric=key, total=len(series),
                                   kept=values))
            history[key] = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                            and np.isfinite(v) else None for v in series[:values]]
        return history

    def _estimator_outputs(self, name: str) -> np.ndarray:
        import skops.io

        self.require(name)
        path = self.folder / f"{name}.skops"
        with self._timed(name):
            untrusted = [t for t in skops.io.get_untrusted_types(file=path) if not trusted_skops_type(t)]
            if untrusted:
                shown = ", ".join(self._name(t) for t in untrusted[:5])
                raise ObjectUnavailable(message(self.lang, "unloadable", name=name,
                                                reason=f"tipos no permitidos: {shown}"))
            estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
            feature_source = next(n for n, kind in self.config.contract.items() if kind == "function")
            return np.asarray(estimator.predict(self.features(feature_source)))

    def _load_npy(self, filename: str) -> np.ndarray:
        try:
            return np.load(self.folder / filename, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ObjectUnavailable(f"{filename}: {_short(exc)}") from None


def class_predictions(config: AssignmentConfig, outputs: dict[str, np.ndarray],
                      answers: dict[str, np.ndarray]) -> dict[str, dict]:
    """``{name: {"input", "labels", "predicted": [int, ...]}}`` for each object whose outputs are class
    scores or labels, one per item of a held-out set that keeps labels (``labels``: that answer's name)."""
    found = {}
    for name, scores in outputs.items():
        source = config.inputs.get(name)
        held = config.heldout.sets.get(source) if source is not None else None
        labels_name = held.answers.get("labels") if held is not None else None
        labels = answers.get(labels_name) if labels_name is not None else None
        scores = np.asarray(scores)
        if (labels is None or scores.ndim not in (1, 2) or len(scores) != len(labels)
                or scores.dtype.kind not in "biuf" or not np.isfinite(scores).all()):
            continue
        found[name] = {"input": source, "labels": labels_name,
                       "predicted": labels_from_scores(scores).astype("int64").tolist()}
    return found


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


@dataclass(frozen=True)
class ScoringPaths:
    """Where the scoring process reads (each may be bound read-only into its sandbox)."""

    artifacts: Path  # exported by the student's kernel
    inputs: Path     # held-out inputs (the student's kernel saw these)
    answers: Path    # held-out labels and clean images (the student's kernel never saw these)
    job: Path        # from the pipeline: config.json, bounds.json, facts.json, specs.json and tests/ (hidden tests)

    def config(self) -> AssignmentConfig:
        return AssignmentConfig.model_validate_json((self.job / "config.json").read_text(encoding="utf-8"))


class GradingPlugin:
    """pytest plugin: fixtures for hidden tests, and the collection of their outcomes.

    ``stopped``: objects stopped by the supervisor (each unavailable, with a message); ``skip``: checks
    already scored by an earlier attempt at this job (their tests are deselected); ``on_result``: called
    with each check's result as soon as it is known (the supervisor keeps it if the job is stopped later).
    """

    def __init__(self, config: AssignmentConfig, paths: ScoringPaths, lang: str, *,
                 stopped: dict[str, int] | None = None, skip: Collection[str] = (),
                 on_result: Callable[[CheckResult], None] | None = None):
        self.assignment, self.paths, self.language = config, paths, lang
        self.stopped, self.skip, self.on_result = dict(stopped or {}), set(skip), on_result
        self.outcomes: dict[str, CheckResult] = {}
        self.tests_for: dict[str, str] = {}
        self._reported: set[str] = set()

    @cached_property
    def _inputs(self) -> dict[str, np.ndarray]:
        return load_answers(self.paths.inputs)

    @pytest.fixture
    def config(self) -> AssignmentConfig:
        return self.assignment

    @pytest.fixture
    def lang(self) -> str:
        return self.language

    @cached_property
    def _artifacts(self) -> Artifacts:
        return Artifacts(self.paths.artifacts, self._inputs, self.assignment, self.language, stopped=self.stopped)

    @cached_property
    def _answers(self) -> dict[str, np.ndarray]:
        return load_answers(self.paths.answers)

    @pytest.fixture(scope="session")
    def artifacts(self) -> Artifacts:
        return self._artifacts

    @pytest.fixture(scope="session")
    def answers(self) -> dict[str, np.ndarray]:
        return {**self._answers, **self._inputs}

    @pytest.fixture
    def facts(self) -> SubmissionFacts:
        return SubmissionFacts(**json.loads((self.paths.job / "facts.json").read_text(encoding="utf-8")))

    @pytest.fixture
    def specs(self) -> dict[str, dict]:
        """The architecture specs of the assignment's public checks, by contract name."""
        return json.loads((self.paths.job / "specs.json").read_text(encoding="utf-8"))

    @cached_property
    def _bounds(self) -> dict[str, list[float]]:
        return json.loads((self.paths.job / "bounds.json").read_text(encoding="utf-8"))

    @pytest.fixture
    def bounds(self, request) -> tuple[float, float]:
        """(zero_at, full_at) of the check, resolved by the pipeline from the reference metrics."""
        return tuple(self._bounds[_check_name(request.node)])

    def _reads(self) -> tuple[list[str], list[str]]:
        """(reviews, notes) of what the running check read (see :class:`Artifacts`)."""
        if "_artifacts" not in self.__dict__:
            return [], []
        return list(self._artifacts.reviews), list(self._artifacts.notes)

    def _flagged(self, result: CheckResult, reviews: list[str], notes: list[str]) -> CheckResult:
        """``result`` with its review flags and cut notes, both also said in its message."""
        for reason in reviews:
            result.flag_for_review(reason)
            result.message = f"{result.message} {message(self.language, 'review_note', reason=reason)}".strip()
        if notes:
            result.message = f"{result.message} {message(self.language, 'cut_note', what='; '.join(notes))}".strip()
        return result

    @pytest.fixture
    def credit(self, request):
        name = _check_name(request.node)

        def record(outcome: CheckOutcome, **details) -> None:
            check = self.assignment.checks[name]
            reviews, notes = self._reads()
            if details.get("verified") is False and not reviews:  # from the kernel's own export: could be forged
                reviews = [message(self.language, "review_unverified", name=", ".join(check.objects) or name)]
            result = CheckResult.from_fraction(name, check.points, outcome.fraction, outcome.message,
                                               hidden=check.hidden, details={**outcome.details, **details})
            self.outcomes[name] = self._flagged(result, reviews, notes)
            assert outcome.passed, outcome.message

        return record

    def pytest_collection_modifyitems(self, config, items) -> None:
        for item in items:
            name = _check_name(item)
            if name not in self.assignment.checks:
                raise pytest.UsageError(f"{item.nodeid}: check {name!r} is not in assignment.toml [checks]")
            self.tests_for[name] = item.nodeid
        if self.skip:
            done = [item for item in items if _check_name(item) in self.skip]
            if done:
                config.hook.pytest_deselected(items=done)
                items[:] = [item for item in items if _check_name(item) not in self.skip]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item) -> None:
        if "_artifacts" in self.__dict__:
            self._artifacts.start_check()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        name = _check_name(item)
        if report.failed and name not in self.outcomes:
            check = self.assignment.checks[name]
            error = call.excinfo.value if call.excinfo else None
            text = str(error) if isinstance(error, ObjectUnavailable) else (
                f"error al evaluar: {_short(error)}" if error else "error al evaluar")
            _, notes = self._reads()
            # No points: only a refusal that may be wrong (a file that looks forged) waits for review.
            reviews = [error.review] if isinstance(error, ObjectUnavailable) and error.review else []
            self.outcomes[name] = self._flagged(
                CheckResult(name, 0.0, check.points, CheckStatus.ERROR, text, hidden=check.hidden), reviews, notes)
        if report.when == "teardown" and name in self.outcomes and name not in self._reported:
            self._reported.add(name)
            if self.on_result is not None:
                self.on_result(self.outcomes[name])

    def predicted_labels(self) -> dict[str, dict]:
        """:func:`class_predictions` of the outputs the checks computed (none when no check read any)."""
        if "_artifacts" not in self.__dict__:
            return {}
        return class_predictions(self.assignment, self._artifacts.computed_outputs(), self._answers)

    def results(self) -> list[CheckResult]:
        """One result per configured check, in the configuration's order (a skipped check gets a
        placeholder, for the supervisor to replace with the result it kept)."""
        ordered = []
        for name, check in self.assignment.checks.items():
            if name in self.outcomes:
                ordered.append(self.outcomes[name])
            else:
                reason = ("scored by an earlier attempt" if name in self.skip else "ningún test lo evalúa"
                          if name not in self.tests_for else "el test no registró resultado")
                ordered.append(CheckResult(name, 0.0, check.points, CheckStatus.ERROR, reason, hidden=check.hidden))
        return ordered


def _check_name(item) -> str:
    marker = item.get_closest_marker("check")
    if marker is None or not marker.args:
        raise pytest.UsageError(f"{item.nodeid}: hidden tests need @pytest.mark.check('<check name>')")
    return marker.args[0]


def score(paths: ScoringPaths, lang: str | None = None, *, stopped: dict[str, int] | None = None,
          skip: Collection[str] = (), on_result: Callable[[CheckResult], None] | None = None) -> GradingPlugin:
    """Run the assignment's hidden tests (``paths.job / "tests"``) against one submission's artifacts;
    the returned plugin holds the ``results()`` and the ``predicted_labels()``. ``stopped``, ``skip``,
    ``on_result``: see :class:`GradingPlugin` (the supervisor's; none when called directly)."""
    config = paths.config()
    plugin = GradingPlugin(config, paths, lang or config.language, stopped=stopped, skip=skip, on_result=on_result)
    log = io.StringIO()
    tests = paths.job / "tests"
    args = [str(tests), "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--rootdir", str(tests), "-o", "addopts=", "-o", "markers=check: a graded check",
            "--strict-markers", "-W", "ignore::DeprecationWarning"]
    with contextlib.redirect_stdout(log):
        exit_code = pytest.main(args, plugins=[plugin])
    accepted = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) + ((pytest.ExitCode.NO_TESTS_COLLECTED,)
                                                                     if plugin.skip else ())
    if exit_code not in accepted:
        raise RuntimeError(f"hidden tests of {config.name} could not run "
                           f"(pytest exit {int(exit_code)}):\n{log.getvalue()[-3000:]}")
    return plugin


# ----------------------------------------------------------------------------- replies that fit

MAX_REPLY_BYTES = 64 * 2**20
MIN_CHECK_BYTES = 4096
KEEP_DETAILS = ("verified",)  # small, and what the report's notes read


def _json_size(value) -> int:
    return len(json.dumps(value, default=str).encode("utf-8"))


def check_budget(max_bytes: int, checks: int) -> int:
    """The bytes one check may take in a reply of ``max_bytes`` with ``checks`` checks (the rest is for
    the predictions)."""
    return max(max_bytes // (checks + 2), MIN_CHECK_BYTES)


def fit_check(check: dict, max_bytes: int, lang: str) -> dict:
    """``check`` (a CheckResult as a dict) within ``max_bytes`` of JSON: a message or review longer than a
    quarter of that is cut, then its largest details are left out; the message names what was cut."""
    if _json_size(check) <= max_bytes:
        return check
    check = dict(check)
    room = max(max_bytes // 4, 200)
    for key in ("message", "review"):
        text = str(check.get(key) or "")
        if len(text.encode("utf-8")) > room:
            kept = room // 4  # characters of up to four bytes each
            note = message(lang, "cut_note", what=message(lang, "cut_message", total=len(text), kept=kept))
            check[key] = f"{text[:kept]}… {note}"
    details = dict(check.get("details") or {})
    sizes = {key: _json_size(value) + len(key) + 6 for key, value in details.items()}
    before, total = sum(sizes.values()), _json_size(check)
    dropped: list[str] = []
    for key in sorted(sizes, key=sizes.get, reverse=True):
        if total + 300 <= max_bytes:
            break
        if key in KEEP_DETAILS:
            continue
        dropped.append(key)
        del details[key]
        total -= sizes[key]
    if dropped:
        details["cut"] = dropped
        check["details"] = details
        note = message(lang, "cut_details", keys=", ".join(dropped), size=max(before // 1024, 1),
                       limit=max(max_bytes // 1024, 1))
        check["message"] = f"{check.get('message', '')} {message(lang, 'cut_note', what=note)}".strip()
    if _json_size(check) > max_bytes:  # keys and values the hidden test put in that are not details
        check = {key: check[key] for key in ("name", "points", "max_points", "status", "message", "hidden",
                                             "needs_review", "review") if key in check}
    return check


def fit_reply(reply: dict, max_bytes: int, lang: str) -> dict:
    """A scoring reply that fits in ``max_bytes`` of JSON: each check is cut to its share
    (:func:`fit_check`), then the predicted labels are left out; the scores are never left out."""
    if "checks" not in reply or _json_size(reply) <= max_bytes:
        return reply
    checks = reply["checks"]
    budget = check_budget(max_bytes, len(checks))
    reply = {**reply, "checks": [fit_check(check, budget, lang) for check in checks]}
    if _json_size(reply) > max_bytes:
        reply["predictions"] = {}
    return reply


# ------------------------------------------------------------------------------ the server

def _preload() -> None:
    """Import everything scoring uses, once, before the first fork (no TensorFlow op runs here:
    its thread pools start with the first op, and a fork must not copy threads)."""
    import _pytest.config

    for plugin in _pytest.config.default_plugins:
        importlib.import_module(f"_pytest.{plugin}")
    for module in ("keras", "skops.io", "sklearn.pipeline", "sklearn.svm", "sklearn.preprocessing", "h5py",
                   "grader.checks.accuracy", "grader.checks.architecture", "grader.checks.denoising",
                   "grader.checks.rules", "grader.probe", "grader.export"):
        importlib.import_module(module)


def _forbid_tracing() -> None:
    """Not dumpable: no process of the sandbox's uid may ptrace this one or open its /proc/<pid>/fd
    (the host's pipe); forked children inherit it, so one job cannot reach the channel of another."""
    import ctypes

    PR_SET_DUMPABLE = 4
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _request_bounds(request: dict) -> tuple[float | None, float | None, int]:
    """(object_timeout_s, time_limit_s, reply_bytes) of a request; None: no such limit."""
    bounds = request.get("bounds") if isinstance(request.get("bounds"), dict) else {}
    object_timeout = float(bounds["object_timeout_s"]) if bounds.get("object_timeout_s") else None
    time_limit = float(bounds["time_limit_s"]) if bounds.get("time_limit_s") else None
    return object_timeout, time_limit, int(bounds.get("reply_bytes") or MAX_REPLY_BYTES)


def _score_request(request: dict) -> dict:
    """The reply to one request: ``{"checks": [...], "predictions": {...}}`` within the request's reply
    bytes, or ``{"error": "..."}`` when it cannot be scored. Each check's result is also sent as an
    event as soon as it is known (see :func:`_watch`)."""
    try:
        _, _, max_bytes = _request_bounds(request)
        lang = request.get("lang") or "es"
        paths = ScoringPaths(*(Path(request[key]) for key in SCORING_KEYS))
        budget: list[int] = []

        def sent(result: CheckResult) -> None:
            if not budget:
                budget.append(check_budget(max_bytes, len(paths.config().checks)))
            _progress({"event": "check", "result": fit_check(asdict(result), budget[0], lang)})

        scored = score(paths, request.get("lang"), stopped=request.get("stopped"), skip=request.get("done") or (),
                       on_result=sent)
        reply = {"checks": [asdict(r) for r in scored.results()], "predictions": scored.predicted_labels()}
        return fit_reply(json.loads(json.dumps(reply, default=str)), max_bytes, lang)
    except BaseException as exc:  # reported to the host, which fails this submission only
        return {"error": _short(exc, 2000)}


def _child_scores(request: dict, channel_fd: int) -> None:
    """In the forked child: score one submission, its events and reply to ``channel_fd``; never return."""
    global _CHANNEL

    status = 1
    try:
        os.setpgid(0, 0)  # its own process group: whatever it starts dies with it
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)  # the host's channel is the parent's stdout: C-level prints must not reach it
        _CHANNEL = os.fdopen(channel_fd, "wb")
        _progress({"event": "reply", "reply": _score_request(request)})
        _CHANNEL.close()
        status = 0
    finally:
        os._exit(status)


@dataclass
class _Attempt:
    """What one scoring child did before it ended or was stopped."""

    reply: dict | None = None                               # its final reply
    checks: dict[str, dict] = field(default_factory=dict)   # the check results it sent, by name
    stopped_object: str | None = None                       # killed: this object ran past its time
    stopped_job: bool = False                               # killed: the job's time was up
    during: str | None = None                               # the object it was on then
    too_large: bool = False                                 # killed: it wrote more than a reply may hold
    signal: int | None = None                               # it died of this signal (not killed by us)
    status: int = 0


def _watch(read_fd: int, deadline: float, object_timeout: float | None, max_bytes: int) -> _Attempt:
    """Read a child's events until its reply or its end; stop reading (the caller kills it) when the
    object it is on has spent ``object_timeout`` seconds, when ``deadline`` passes, or when it writes
    more than a reply may hold. Events: ``start``/``end`` of an object, ``check``, ``reply``."""
    attempt = _Attempt()
    pending = bytearray()
    running: list[tuple[str, float]] = []
    spent: dict[str, float] = {}

    def handle(line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "start":
            running.append((str(event.get("object")), time.monotonic()))
        elif kind == "end":
            for index in range(len(running) - 1, -1, -1):
                if running[index][0] == str(event.get("object")):
                    name, since = running.pop(index)
                    spent[name] = spent.get(name, 0.0) + time.monotonic() - since
                    break
        elif kind == "check" and isinstance(event.get("result"), dict):
            attempt.checks[str(event["result"].get("name"))] = event["result"]
        elif kind == "reply" and isinstance(event.get("reply"), dict):
            attempt.reply = event["reply"]

    with selectors.DefaultSelector() as selector:
        selector.register(read_fd, selectors.EVENT_READ)
        while attempt.reply is None:
            limit, over = deadline, None
            if object_timeout:
                for name, since in running:
                    ends = since + object_timeout - spent.get(name, 0.0)
                    if ends < limit:
                        limit, over = ends, name
            now = time.monotonic()
            if limit <= now or not selector.select(min(limit - now, 3600.0)):
                if time.monotonic() < limit:
                    continue
                if over is not None:
                    attempt.stopped_object = over
                else:
                    attempt.stopped_job, attempt.during = True, (running[-1][0] if running else None)
                break
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            *lines, rest = chunk.split(b"\n")
            if lines:
                handle(bytes(pending) + lines[0])
                for line in lines[1:]:
                    handle(line)
                pending = bytearray(rest)
            else:
                pending += rest
            if len(pending) > max_bytes + 2**20:
                attempt.too_large = True
                break
    return attempt


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            target()


def _attempt(request: dict, fork: bool, deadline: float, object_timeout: float | None, max_bytes: int) -> _Attempt:
    """One scoring child (a fork of this process, or ``python -m grader.score once``) for ``request``."""
    read_fd, write_fd = os.pipe()
    if fork:
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child_scores(request, write_fd)
        process = None
    else:
        process = subprocess.Popen([sys.executable, "-m", "grader.score", "once", "--channel", str(write_fd)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=(write_fd,),
                                   start_new_session=True)
        pid = process.pid
        with contextlib.suppress(BrokenPipeError, OSError):
            process.stdin.write(json.dumps(request).encode("utf-8"))
            process.stdin.close()
    os.close(write_fd)
    attempt = None
    try:
        attempt = _watch(read_fd, deadline, object_timeout, max_bytes)
    finally:
        os.close(read_fd)
        if attempt is None or attempt.reply is None:
            _kill_group(pid)  # stopped, or still writing: it would never exit
    if process is not None:
        try:
            status = process.wait(timeout=GRACEFUL_EXIT_S)
        except subprocess.TimeoutExpired:  # replied, then hung on its way out
            _kill_group(pid)
            status = process.wait()
        if status < 0:
            attempt.signal = -status
        attempt.status = status
    else:
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            attempt.signal = os.WTERMSIG(status)
        attempt.status = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    _kill_group(pid)  # anything the child left running
    if attempt.stopped_object or attempt.stopped_job or attempt.too_large:
        attempt.signal = None  # killed by us, not a crash
    return attempt


def _stopped_reply(request: dict, done: dict[str, dict], text: str) -> dict:
    """The reply of a job that was stopped: the checks it had scored, and ``text`` for the others."""
    try:
        config = ScoringPaths(*(Path(request[key]) for key in SCORING_KEYS)).config()
    except Exception as exc:  # noqa: BLE001 (the job could not have been scored at all)
        return {"error": f"{text} ({_short(exc, 500)})"}
    checks = [done.get(name) or asdict(CheckResult(name, 0.0, check.points, CheckStatus.ERROR, text,
                                                   hidden=check.hidden))
              for name, check in config.checks.items()]
    return {"checks": json.loads(json.dumps(checks, default=str)), "predictions": {}}


def _score_job(request: dict, fork: bool) -> dict:
    """The reply to one request, whatever the submission's objects do. A child that spends more than
    ``object_timeout_s`` on one object is killed, and the job is scored again with that object stopped
    (its checks say so) and the checks already scored kept; a child that crashes gets a second chance in
    a fresh interpreter; past the job's ``time_limit_s`` the checks scored so far are kept and the others
    say that grading was stopped. The reply always fits in the request's ``reply_bytes``."""
    object_timeout, time_limit, max_bytes = _request_bounds(request)
    deadline = time.monotonic() + time_limit if time_limit else math.inf
    lang = request.get("lang") or "es"
    stopped: dict[str, int] = {}
    done: dict[str, dict] = {}
    crashed = False
    while True:
        attempt = _attempt({**request, "stopped": stopped, "done": sorted(done)}, fork and not crashed, deadline,
                           object_timeout, max_bytes)
        done.update(attempt.checks)
        if attempt.reply is not None:
            reply = attempt.reply
            if isinstance(reply.get("checks"), list):
                reply = {**reply, "checks": [done.get(c.get("name"), c) if isinstance(c, dict) else c
                                             for c in reply["checks"]]}
            return fit_reply(reply, max_bytes, lang)
        if attempt.stopped_object is not None and attempt.stopped_object not in stopped:
            stopped[attempt.stopped_object] = round(object_timeout or 0)
            continue
        if attempt.signal is not None and not crashed:
            crashed = True  # a crashed child: once more, in a process that shares nothing with this one
            continue
        if attempt.stopped_job:
            key = "job_timeout_object" if attempt.during else "job_timeout"
            bounds = request.get("bounds") if isinstance(request.get("bounds"), dict) else {}
            seconds = bounds.get("total_timeout_s") or round(time_limit or 0)  # the limit as configured
            text = message(lang, key, seconds=seconds, name=attempt.during)
            return fit_reply(_stopped_reply(request, done, text), max_bytes, lang)
        if attempt.too_large:
            text = message(lang, "reply_too_large", limit=max_bytes // 1024)
            return fit_reply(_stopped_reply(request, done, text), max_bytes, lang)
        if attempt.signal is not None:
            return {"error": f"the scoring child was killed by signal {attempt.signal}", "signal": attempt.signal}
        return {"error": f"the scoring process exited with status {attempt.status} without a reply"}


def _mount_points() -> set[Path]:
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        return {Path(line.split()[4].replace("\\040", " ")) for line in info}


def _wipe(folders: list[Path]) -> None:
    """Empty the writable folders between jobs: nothing one job writes is there for the next. What the
    sandbox binds below them (the venv, the staged jobs, when they live under /tmp) is left alone."""
    mounts = _mount_points()

    def empty(folder: Path) -> None:
        for entry in folder.iterdir():
            if entry in mounts:
                continue
            if entry.is_dir() and not entry.is_symlink():
                if any(mount.is_relative_to(entry) for mount in mounts):
                    empty(entry)  # a folder on the way to a bind: empty around it
                else:
                    shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    for folder in folders:
        if folder.is_dir():
            empty(folder)


def serve(wipe: list[Path], fork: bool = True) -> int:
    """Score one submission per JSON line on stdin, answering one JSON line on stdout.

    Imports are paid once; each submission is scored in a fresh fork of this process, so no state
    (loaded models, Keras' name counters, anything a crafted artifact might do to the loader) passes
    from one submission to the next. ``fork()`` copies only the calling thread, so when the imports
    left other Python threads running (thread pools some libraries start), or when a forked child
    crashes, the submission is scored in a fresh interpreter instead. This process only supervises
    (:func:`_score_job`): it bounds each object's time, the job's time and the reply's size. Requests:
    ``{"id", "artifacts", "inputs", "answers", "job", "lang", "bounds": {"object_timeout_s",
    "time_limit_s", "reply_bytes"}}``; replies: ``{"id", "checks": [...], "predictions"}`` or ``{"id", "error"}``.
    """
    if fork:
        _preload()
        fork = threading.active_count() == 1
    _forbid_tracing()
    print(json.dumps({"ready": True, "fork": fork}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        reply = _score_job(request, fork)
        reply.pop("signal", None)
        _wipe(wipe)
        print(json.dumps({"id": request.get("id"), **reply}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    global _CHANNEL

    parser = argparse.ArgumentParser(description="The grader's scoring process (started by grader.scoring).")
    parser.add_argument("command", choices=("serve", "once"),
                        help="serve: jobs as JSON lines on stdin; once: one job (JSON on stdin), its events and "
                             "reply to --channel (and the reply to --reply)")
    parser.add_argument("--wipe", type=Path, action="append", default=[],
                        help="serve: a writable folder to empty after every submission (repeatable)")
    parser.add_argument("--no-fork", dest="fork", action="store_false",
                        help="serve: score every submission in a fresh interpreter")
    parser.add_argument("--channel", type=int, help="once: the file descriptor events and the reply go to")
    parser.add_argument("--reply", type=Path, help="once: a file the reply goes to")
    options = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if options.command == "once":
        if options.reply is None and options.channel is None:
            parser.error("once needs --channel or --reply")
        if options.channel is not None:
            _CHANNEL = os.fdopen(options.channel, "wb")
        reply = _score_request(json.loads(sys.stdin.read()))
        _progress({"event": "reply", "reply": reply})
        if options.reply is not None:
            options.reply.write_text(json.dumps(reply), encoding="utf-8")
        return 0
    return serve(options.wipe, options.fork)


if __name__ == "__main__":
    sys.exit(main())
