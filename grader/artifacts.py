"""Read what the student's kernel exported, as data and within bounds, never running the student's code.

:class:`Artifacts` is the hidden tests' view of one submission's exported objects, loaded as data (Keras
``safe_mode``, skops trusted types, ``numpy.load(allow_pickle=False)``); models are re-applied to the
held-out inputs here. An object that is missing, invalid or cannot be loaded safely raises
:class:`ObjectUnavailable`, whose message says which.

No self-reported figure earns points silently: a model only the student's own class can rebuild is
graded from what the kernel computed (its layer summary, its outputs) only when its archive matches
that summary by content (:func:`archive_problem`: real HDF5 weights with the layers' parameters and
widths), and the check is then flagged ``needs_review`` (nbgrader's ``needs_manual_grade``); an archive
or outputs that do not match earn nothing and are flagged too.

Reading is bounded per object (the assignment's :class:`~grader.config.Limits`): files are read up to a
size, names and reasons are cut, and the time spent on each object is reported to the supervising
process (:mod:`grader.score_server`), which watches it; whatever was cut or stopped is named in the
message of the check that read it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from grader.trusted_objects import custom_objects_for, serialized_functions
from grader.i18n import Message, msg
from grader.config import AssignmentConfig

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


def archive_problem(path: Path, config: dict, summary: dict | None,
                    max_weights_bytes: int = 2**31) -> Message | None:
    """Why the archive of a model the grader cannot rebuild does not match the layer summary the kernel
    reported (None when it does): its weights must be real HDF5 (at most ``max_weights_bytes``) holding,
    layer by layer, the parameters and widths the summary states, and its build input must be the
    summary's."""
    if summary is None:
        return msg("archive_no_summary")
    try:
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as entry:
            data = entry.read(max_weights_bytes + 1)
        if len(data) > max_weights_bytes or not data.startswith(HDF5_SIGNATURE):
            raise ValueError("no HDF5 signature")
        groups = _weight_groups(data)
    except Exception:  # no entry, not HDF5, damaged: whatever h5py refuses
        return msg("archive_no_weights")
    declared_total = summary.get("total_params")
    found_total = sum(_size(shapes) for _, shapes in groups)
    if not isinstance(declared_total, int) or found_total != declared_total:
        return msg("archive_total", found=found_total, declared=declared_total)
    named = any(name is not None for name, _ in groups)
    unused = list(groups)
    for row in summary["layers"]:
        params = row.get("params")
        if not isinstance(params, int) or params <= 0:
            continue
        layer = str(row.get("name"))
        candidates = [g for g in unused if not named or g[0] == layer]
        if not candidates:
            return msg("archive_layer_missing", layer=layer, params=params)
        matching = [g for g in candidates if _size(g[1]) == params]
        if not matching:
            found = _size(candidates[0][1]) if named else "?"
            return msg("archive_layer_params", layer=layer, declared=params, found=found)
        settings = row.get("config") if isinstance(row.get("config"), dict) else {}
        for key in WIDTH_KEYS:
            width = settings.get(key)
            if not isinstance(width, int):
                continue
            shaped = [g for g in matching if g[1] and g[1][0] and g[1][0][-1] == width]
            output = row.get("output_shape")
            if not shaped or (isinstance(output, list) and output and output[-1] not in (None, width)):
                shape = list(matching[0][1][0]) if matching[0][1] else []
                return msg("archive_layer_width", layer=layer, setting=key, declared=width, shape=shape)
            matching = shaped
        unused.remove(matching[0])
    built = (config.get("build_config") or {}).get("input_shape") if isinstance(config.get("build_config"), dict) \
        else None
    declared_input = summary.get("input_shape")
    if isinstance(built, list) and isinstance(declared_input, list):
        if len(built) != len(declared_input) or any(
                isinstance(b, int) and isinstance(d, int) and b != d for b, d in zip(built[1:], declared_input[1:])):
            return msg("archive_input", declared=declared_input, found=built)
    return None


# What the export (in the student's kernel) may name by code instead of a sentence: the code picks one
# of the grader's own keys (a closed set: the manifest is the kernel's, so nothing else is taken from it).
EXPORT_REASONS = {"not_defined": "not_defined", "not_a_function": "export_not_a_function",
                  "history_text": "export_history_text", "not_a_table": "export_not_a_table",
                  "table_text": "export_table_text"}


def _export_reason(entry: dict) -> Message | str:
    """Why the export of an object failed: the grader's sentence for a known code, else the kernel's text."""
    key = EXPORT_REASONS.get(entry.get("reason_key"))
    if key is None:
        return entry["reason"]
    return msg(key, detail=str(entry.get("reason_detail") or "")[:200])


class ObjectUnavailable(Exception):
    """A contract object is missing, invalid or could not be loaded safely; the message says which.
    ``review``: why the check that read it also waits for the instructor (a file that looks forged)."""

    def __init__(self, text: Message, review: Message | None = None):
        super().__init__(text.key)
        self.text, self.review = text, review


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
    """One event for the supervising process (see :func:`grader.score_server._watch`), when there is one."""
    if _CHANNEL is not None:
        _CHANNEL.write(json.dumps(event, default=str).encode("utf-8") + b"\n")
        _CHANNEL.flush()


_CHANNEL = None  # set in a scoring child (grader.score_server): the pipe to its supervisor


class Artifacts:
    """Read-only view of what the student's kernel exported, loaded without running its code.

    Every read is bounded (the assignment's :class:`~grader.config.Limits`): a file too large is not
    read, long names and reasons are cut, and the time spent on each object is reported to the
    supervising process, which stops an object past ``object_timeout_s`` (``stopped``: the objects
    stopped so far, each then unavailable). What was cut while a check read its objects is in
    ``notes``, and why its figures need the instructor's review in ``reviews`` (:meth:`start_check`
    empties both)."""

    def __init__(self, folder: Path, inputs: dict[str, np.ndarray], config: AssignmentConfig,
                 stopped: dict[str, int] | None = None, trusted: dict[str, object] | None = None):
        self.folder, self.inputs, self.config = Path(folder), inputs, config
        self.trusted = dict(trusted or {})  # the assignment's custom objects (grader.trusted_objects)
        self.limits = config.limits
        self.stopped = dict(stopped or {})
        self.manifest, self._manifest_problem = self._read_manifest()
        self._models: dict[str, object] = {}
        self._outputs: dict[str, tuple[np.ndarray, bool]] = {}  # two checks may read one model's outputs
        self._verified: dict[str, bool | ObjectUnavailable] = {}
        self._timing: list[str] = []
        self.notes: list[Message] = []
        self.reviews: list[Message] = []

    # ------------------------------------------------------------------ bounds, notes and reviews

    def start_check(self) -> None:
        self.notes, self.reviews = [], []

    def _note(self, text: Message) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _review(self, text: Message) -> None:
        if text not in self.reviews:
            self.reviews.append(text)

    def _name(self, value) -> str:
        """A name the student chose (a layer, a class, a metric), cut to ``name_chars`` with a note."""
        text, limit = str(value), self.limits.name_chars
        if len(text) <= limit:
            return text
        self._note(msg("cut_name", total=len(text), kept=limit))
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

    def _read_manifest(self) -> tuple[dict, Message | None]:
        path = self.folder / "manifest.json"
        if not path.is_file():
            return {}, None
        try:
            raw = _read_json_bounded(path, MANIFEST_MAX_BYTES)
        except _TooLarge as too:
            return {}, msg("manifest_unreadable", reason=msg("cut_file", file="manifest.json",
                                                             size=_size_text(too.size),
                                                             limit=_size_text(MANIFEST_MAX_BYTES)))
        except (OSError, ValueError) as exc:
            return {}, msg("manifest_unreadable", reason=_short(exc, 200))
        if not isinstance(raw, dict):
            return {}, msg("manifest_unreadable", reason=type(raw).__name__)
        manifest = {}
        for name in self.config.contract:  # only the contract's names; each entry checked
            entry = raw.get(name)
            if entry is None:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("status"), str):
                entry = {"status": "invalid", "reason": msg("manifest_unreadable", reason=name)}
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
                self._note(msg("cut_reason", name=name, total=total, kept=kept))
            elif field == "history_keys":
                self._note(msg("cut_history_keys", name=name, total=total, kept=kept))
            elif field == "history_values":
                key = str(cut.get("key", ""))[:self.limits.name_chars]
                self._note(msg("cut_history_values", name=name, metric=key, total=total, kept=kept))
            elif field == "name":
                self._note(msg("cut_name", total=total, kept=kept))
            elif field in ("table_keys", "table_values"):
                self._note(msg(f"cut_{field}", name=name, total=total, kept=kept))

    # ------------------------------------------------------------------------------ the objects

    def require(self, name: str) -> None:
        if name in self.stopped:
            raise ObjectUnavailable(msg("object_timeout", name=name, seconds=self.stopped[name]))
        entry = self.manifest.get(name)
        if entry is None:
            raise ObjectUnavailable(msg("missing_object", name=name, reason=self._manifest_problem or msg("not_exported")))
        self._note_cuts(name, entry)
        if entry.get("timed_out_s"):
            raise ObjectUnavailable(msg("object_timeout", name=name, seconds=entry["timed_out_s"]))
        if entry["status"] != "exported":
            raise ObjectUnavailable(msg("missing_object", name=name, reason=_export_reason(entry)))

    def model(self, name: str):
        """The Keras model loaded with ``safe_mode`` (no Lambda bytecode, no unknown classes)."""
        self.require(name)
        if name not in self._models:
            import keras

            with self._timed(name):
                path = self.folder / f"{name}.keras"
                custom = custom_objects_for(archive_config(path), self.trusted)
                try:
                    self._models[name] = keras.saving.load_model(path, safe_mode=True, custom_objects=custom)
                except Exception as exc:  # unknown custom class, Lambda refused by safe_mode, corrupt file
                    self._models[name] = exc
        loaded = self._models[name]
        if isinstance(loaded, Exception):
            raise ObjectUnavailable(msg("unloadable", name=name, reason=_short(loaded)))
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
            raise ObjectUnavailable(verified.text, verified.review)
        if not verified:
            self._review(msg("review_unverified", name=name))
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
                problem = archive_problem(path, config, self._kernel_summary(name),
                                          2 * self.limits.file_size_mb * 2**20)
            if problem is not None:
                return ObjectUnavailable(msg("forged_archive", name=name, reason=problem),
                                         review=msg("review_inconsistent", name=name))
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
            raise ObjectUnavailable(msg("forged_archive", name=name,
                                            reason=msg("archive_no_summary")),
                                    review=msg("review_inconsistent", name=name))
        return summary, False

    def outputs(self, name: str) -> tuple[np.ndarray, bool]:
        """(outputs on the held-out inputs, verified): recomputed here from the loaded model when possible."""
        if name not in self._outputs:
            self._outputs[name] = self._compute_outputs(name)
        outputs, verified = self._outputs[name]
        if not verified:
            self._review(msg("review_unverified", name=name))
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
            raise ObjectUnavailable(msg("outputs_inconsistent", name=name, got=got, expected=expected),
                                    review=msg("review_inconsistent", name=name))

    def features(self, name: str) -> np.ndarray:
        self.require(name)
        return self._load_npy(f"{name}.features.npy")

    def functions(self, name: str) -> list[str]:
        """The functions a Keras model's archive names (custom activations), as saved: ``package>name``
        when the student registered them; read from the file, not from the kernel."""
        self.require(name)
        config = archive_config(self.folder / f"{name}.keras")
        return [self._name(function) for function in serialized_functions(config)] if config else []

    def table(self, name: str) -> dict:
        """A table of numbers (:func:`grader.export.table_dict`), bounded like a History."""
        self.require(name)
        limit = self.history_max_bytes()
        path = self.folder / f"{name}.table.json"
        try:
            raw = _read_json_bounded(path, limit)
        except _TooLarge as too:
            raise ObjectUnavailable(msg("missing_object", name=name, reason=msg(
                "cut_file", file=path.name, size=_size_text(too.size), limit=_size_text(limit)))) from None
        except (OSError, ValueError) as exc:
            raise ObjectUnavailable(msg("missing_object", name=name, reason=_short(exc, 200))) from None
        if not isinstance(raw, dict):
            raise ObjectUnavailable(msg("missing_object", name=name, reason=type(raw).__name__))
        return {self._name(key): value for key, value in list(raw.items())[:self.limits.history_keys]}

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
            self._note(msg("cut_file", file=path.name, size=_size_text(too.size),
                               limit=_size_text(limit)))
            return None
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict):
            return None
        keys, values = self.limits.history_keys, self.limits.history_values
        if len(raw) > keys:
            self._note(msg("cut_history_keys", name=name, total=len(raw), kept=keys))
        history: dict[str, list[float | None]] = {}
        for key, series in list(raw.items())[:keys]:
            key = self._name(key)
            series = series if isinstance(series, list) else []
            if len(series) > values:
                self._note(msg("cut_history_values", name=name, metric=key, total=len(series),
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
                raise ObjectUnavailable(msg("unloadable", name=name,
                                                reason=msg("untrusted_types", types=shown)))
            estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
            function = self.config.features.get(name)
            if function is not None:
                rows = self.features(function)
            else:
                items = self.inputs[self.config.inputs[name]]
                rows = items.reshape(len(items), -1)
            return np.asarray(estimator.predict(rows))

    def _load_npy(self, filename: str) -> np.ndarray:
        try:
            return np.load(self.folder / filename, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ObjectUnavailable(f"{filename}: {_short(exc)}") from None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]
