"""Custom Keras objects an assignment declares (``[custom_objects]``), rebuilt from the instructor's code.

A student may register a function of their own with Keras (``@keras.saving.register_keras_serializable``)
and use it in a model, as the course's custom activations do. The saved model names that function but
holds no code, so the scorer can only load it by being told what the name means. The assignment
declares each such name and where the instructor's own implementation lives (a module of its hidden
tests' folder, which only the grader's process sees); the scorer passes those objects to
``keras.saving.load_model`` (still ``safe_mode``) under every name the archive gives them: the bare
name, or ``package>name`` for whatever package the student registered it under. The student's own
function is never loaded: its code is graded where it ran, on the held-out inputs of its own.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

REGISTERED_SEPARATOR = ">"  # Keras' registered names are "package>name"


def load_trusted_objects(declared: dict[str, str], folder: Path) -> dict[str, object]:
    """``{name: object}`` for each ``name = "module:attribute"`` of ``declared``, ``module`` a file
    ``module.py`` in ``folder`` (the scoring job's copy of the hidden tests)."""
    found: dict[str, object] = {}
    modules: dict[str, object] = {}
    for name, where in declared.items():
        module_name, attribute = where.split(":")
        if module_name not in modules:
            path = Path(folder) / f"{module_name}.py"
            spec = importlib.util.spec_from_file_location(f"trusted_objects.{module_name}", path)
            if spec is None or spec.loader is None or not path.is_file():
                raise FileNotFoundError(f"{path}: the module of custom_objects.{name} is missing")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            modules[module_name] = module
        found[name] = getattr(modules[module_name], attribute)
    return found


def serialized_functions(config, _depth: int = 0) -> list[str]:
    """The names of the functions a Keras archive's ``config.json`` refers to (custom activations,
    losses), in order, each once: ``relu_0_3`` as saved unregistered, ``course>relu_0_3`` registered."""
    names: list[str] = []
    if _depth > 64:
        return names
    if isinstance(config, dict):
        if config.get("class_name") == "function" and isinstance(config.get("config"), str):
            names.append(config["config"])
        for value in config.values():
            names += [n for n in serialized_functions(value, _depth + 1) if n not in names]
    elif isinstance(config, list):
        for value in config:
            names += [n for n in serialized_functions(value, _depth + 1) if n not in names]
    return list(dict.fromkeys(names))


def bare_name(serialized: str) -> str:
    """``relu_0_3`` of ``course>relu_0_3`` (and of ``relu_0_3``)."""
    return serialized.rsplit(REGISTERED_SEPARATOR, 1)[-1]


def is_registered(serialized: str) -> bool:
    return REGISTERED_SEPARATOR in serialized


def custom_objects_for(config: dict | None, trusted: dict[str, object]) -> dict[str, object]:
    """The ``custom_objects`` to load an archive with: each function it names whose bare name is
    declared, mapped to the instructor's object."""
    if config is None or not trusted:
        return {}
    return {name: trusted[bare_name(name)] for name in serialized_functions(config) if bare_name(name) in trusted}
