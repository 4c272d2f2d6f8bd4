"""Hostile and broken Práctica 3 submissions, as data: each case names what the submission does and
exactly what grading it must give (execution status, points/status/message of the checks it is about,
what may and may not show up in the executed notebook, and host-side facts checked from outside).

Cases are grouped into submissions ("groups") so that the whole corpus needs few kernels: behaviours
in one group cannot interfere (each keeps its own named expectation; a behaviour that ends the kernel
sits in a group of its own). Notebooks are the released notebook with only ``ej1_cnn_modelo`` (and
the slots a behaviour needs) filled, like CNN_ONLY in tests/test_defect_matrix.py.

Escapes are detected, not inferred from the absence of a crash: the hostile code prints what it could
read (a hash and the first bytes); secrets (random canary tokens placed next to the gradebook, in
another student's submission and in the grader's environment; hashes of the hidden tests, the
reference metrics and the held-out labels) must appear nowhere a student sees; write targets outside
the scratch folder must not exist on the host afterwards; host listeners must have had no connection;
no process of the sandbox may outlive grading.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import secrets
import socket
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from grader.instructor import (
    HIDDEN_TESTS_DIR,
    PROJECT_ROOT,
    REFERENCE_DIR,
)
from grader.heldout import HELDOUT_FOLDER
from grader.records import CheckStatus, ExecutionStatus, GradeResult
from grader.sandbox import grader_package_dir
from tests import submissions as s

# Small limits: every cell here is quick, so a hostile one is cut early (the defaults are minutes).
HOSTILE_LIMITS = {"cell_timeout_s": 20, "total_timeout_s": 180, "memory_mb": 4096, "processes": 256,
                  "file_size_mb": 16, "disk_mb": 64, "output_bytes": 200_000}
REFERENCE_METRICS = REFERENCE_DIR / "practica3" / "metrics.json"
TMP_CAP_MB = max(HOSTILE_LIMITS["file_size_mb"], 64)  # grader.sandbox: /tmp is max(file_size_mb, TMP_MIN_MB)

CNN_ONLY = {"ej1_cnn_entrenamiento": None, "ej1_hog": None, "ej1_svm": None, "ej1_mejora_modelo": None,
            "ej1_mejora_entrenamiento": None, "ej2_modelo": None, "ej2_entrenamiento": None,
            "ej2_evaluacion": None, "ej2_figura": None}
OBJECT_CHECKS = ("ej1_arquitectura", "ej1_parametros", "ej1_precision_cnn", "ej1_svm_hog", "ej1_mejora",
                 "ej2_autoencoder", "ej2_denoising")
ALL_CHECKS = OBJECT_CHECKS + ("ej1_normas",)

ES = CheckStatus  # short aliases for the tables below
EX = ExecutionStatus


# ============================================================================================ records

@dataclass(frozen=True)
class CheckExpect:
    """What one check must say: exact points and status, a fragment of its (Spanish) message."""

    points: float | None = None
    status: CheckStatus | None = None
    fragment: str | None = None
    verified: bool | None = None          # details["verified"]
    no_details: tuple[str, ...] = ()      # details keys that must be absent (or None)


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    does: str                               # what the submission does, in one line
    status: ExecutionStatus                 # the group's execution status
    checks: dict[str, CheckExpect] = field(default_factory=dict)
    message: tuple[str, ...] = ()           # fragments of result.execution.message
    output: tuple[str, ...] = ()            # fragments the executed notebook's outputs must contain
    not_output: tuple[str, ...] = ()        # ... and must not contain
    errors: tuple[str, ...] = ()            # exception names among result.execution.errors
    secrets: tuple[str, ...] = ()           # Context.secret keys that must appear nowhere a student sees
    host: tuple[str, ...] = ()              # HOST_PROBES that must hold
    score: float | None = None              # the result's total score, exactly
    xfail: str | None = None                # a weakness found: the expectation stays strict


@dataclass(frozen=True)
class Group:
    """One submission file; ``build(ctx, path)`` writes it."""

    name: str
    build: Callable[[Context, Path], None]
    kernel: bool = True                     # a kernel runs (False: refused before anything runs)
    mixed: bool = False                     # graded in test_mixed_batch, beside a good submission
    after: tuple[str, ...] = ()             # groups graded first (this one targets their files)


# ============================================================================================ context

class Context:
    """Everything the hostile notebooks aim at, created fresh under ``root`` for one test session."""

    def __init__(self, root: Path, released_nb, db_url: str):
        self.root, self.released, self.db_url = Path(root), released_nb, db_url
        self.gradebook = Path(db_url.removeprefix("sqlite:///"))
        self.token = secrets.token_hex(12)                  # names of write targets, the orphan, payloads
        self.canary = {key: f"CANARIO-{key}-{secrets.token_hex(16)}"
                       for key in ("gradebook", "other_submission", "env")}
        self.gradebook_canary = self.gradebook.parent / f"canario-{secrets.token_hex(6)}.txt"
        self.gradebook_canary.write_text(self.canary["gradebook"])
        self.other_submission = self.root / "entregas" / "otra_alumna" / "practica3.ipynb"
        other = s.fill(released_nb, {"ej1_informe": self.canary["other_submission"]})
        s.write(other, self.other_submission)
        self.env_name = "HOSTIL_SECRETO_DEL_CORRECTOR"
        self._old_env = os.environ.get(self.env_name)
        os.environ[self.env_name] = self.canary["env"]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.abstract = f"hostil-{self.token}"
        self.unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix_listener.bind("\0" + self.abstract)
        self.unix_listener.listen(8)
        self.hidden_test = HIDDEN_TESTS_DIR / "practica3" / "test_practica3.py"
        self.site_packages = Path(sysconfig.get_paths()["purelib"])
        self.graded: dict[str, Graded] = {}

    # -- paths ----------------------------------------------------------------------------

    def workdir(self, group: str) -> Path:
        return self.root / "work" / group

    def submission(self, group: str) -> Path:
        return self.root / "entregas" / group / "practica3.ipynb"

    def reads(self) -> dict[str, str]:
        """What the secrets cell tries to read, by label (absolute host paths)."""
        return {"tests_ocultos": str(self.hidden_test), "carpeta_tests_ocultos": str(HIDDEN_TESTS_DIR),
                "soluciones_de_referencia": str(REFERENCE_DIR), "metricas_de_referencia": str(REFERENCE_METRICS),
                "gradebook": str(self.gradebook), "canario_del_gradebook": str(self.gradebook_canary),
                "otra_entrega": str(self.other_submission), "entorno_de_pytest": f"/proc/{os.getpid()}/environ",
                "historial_de_root": "/root/.bash_history"}

    def write_targets(self) -> dict[str, Path]:
        """Host paths outside the scratch folder that the writes cell tries to create."""
        name = f"hostil_{self.token}"
        return {"tests_ocultos": HIDDEN_TESTS_DIR / "practica3" / f"test_{name}.py",
                "paquete_grader": grader_package_dir() / f"{name}.py",
                "site_packages": self.site_packages / f"{name}.pth",
                "junto_al_gradebook": self.gradebook.parent / f"{name}.txt",
                "respuestas": self.workdir("contenida") / HELDOUT_FOLDER / "answers" / f"{name}.npy",
                "otra_entrega": self.other_submission.parent / f"{name}.txt"}

    # -- secrets --------------------------------------------------------------------------

    def secret(self, key: str, graded: Graded) -> str:
        if key in self.canary:
            return self.canary[key]
        if key == "hidden_tests_sha":
            return hashlib.sha256(self.hidden_test.read_bytes()).hexdigest()
        if key == "hidden_tests_text":
            return "def test_svm_on_hog_features"
        if key == "reference_sha":
            return hashlib.sha256(REFERENCE_METRICS.read_bytes()).hexdigest()
        if key == "answers_sha":
            return hashlib.sha256((graded.workdir / HELDOUT_FOLDER / "answers" / "mnist_labels.npy").read_bytes()).hexdigest()
        if key == "gradebook_header":
            return "SQLite format 3"
        raise KeyError(key)

    # -- host side ------------------------------------------------------------------------

    def connections(self) -> list[str]:
        """Connections that reached the host's listeners (none may)."""
        found = []
        for name, listener in (("tcp 127.0.0.1", self.listener), ("unix abstracto", self.unix_listener)):
            listener.setblocking(False)
            try:
                connection, _ = listener.accept()
                connection.close()
                found.append(name)
            except BlockingIOError:
                pass
        return found

    def leftovers(self) -> list[str]:
        """Processes still alive whose command line or working folder belong to this corpus."""
        root, me = str(self.root), os.getpid()
        found = []
        for process in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
            info = process.info
            if info["pid"] == me or info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(info["cmdline"] or [])
            if root in cmdline or self.token in cmdline or (info["cwd"] or "").startswith(root):
                found.append(f"{info['pid']}: {cmdline[:160]}")
        return found

    def close(self) -> None:
        for target in self.write_targets().values():  # an escape must not outlive the test
            if target.exists():
                target.unlink()
        self.gradebook_canary.unlink(missing_ok=True)
        self.listener.close()
        self.unix_listener.close()
        if self._old_env is None:
            os.environ.pop(self.env_name, None)
        else:
            os.environ[self.env_name] = self._old_env


@dataclass
class Graded:
    """One graded group: the result (or what grade_submission raised) and the host-side facts."""

    group: str
    workdir: Path
    result: GradeResult | None
    error: BaseException | None = None
    seconds: float = 0.0
    leftovers: list[str] = field(default_factory=list)

    def outputs(self) -> str:
        """Every output of the executed notebook as text (streams, rich data, errors)."""
        path = self.result.execution.executed_notebook if self.result else None
        if not path or not Path(path).is_file():
            return ""
        parts = []
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                parts.append(output.get("text", ""))
                parts.append(json.dumps(output.get("data", {}), ensure_ascii=False))
                parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
                parts.extend(output.get("traceback", []))
        return "\n".join(parts)

    def visible(self) -> str:
        """What a student (or their report) can see: the executed notebook, the result, every file
        the kernel or the scoring process wrote."""
        files = [self.workdir / "executed.ipynb", self.workdir / "result.json"]
        for folder in (self.workdir / "scratch", self.workdir / "scoring"):
            if folder.is_dir():
                files += [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
        chunks = []
        for path in files:
            if path.is_file() and path.stat().st_size < 64 * 2**20:
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(chunks)


# ============================================================================================ notebooks

def _code(template: str, **values) -> str:
    """Fill ``@@NAME@@`` placeholders with Python literals (the code itself is full of braces)."""
    for name, value in values.items():
        template = template.replace(f"@@{name}@@", repr(value))
    assert "@@" not in template, template
    return template


def _insert_after(nb, cell_id: str, sources: list[str]):
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.get("id") == cell_id or
                 c.metadata.get("nbgrader", {}).get("grade_id") == cell_id)
    nb.cells[index + 1:index + 1] = [nbformat.v4.new_code_cell(src) for src in sources]
    return nb


SECRETS_CELL = '''\
import hashlib, os

def _leer(etiqueta, ruta):
    try:
        if os.path.isdir(ruta):
            print(f"LEAK:{etiqueta}:", sorted(os.listdir(ruta))[:20])
            return
        with open(ruta, "rb") as fichero:
            datos = fichero.read()
        print(f"LEAK:{etiqueta}:", hashlib.sha256(datos).hexdigest(), datos[:300])
    except OSError as exc:
        print(f"bloqueado:{etiqueta}:", type(exc).__name__)

_trabajo = os.path.dirname(os.getcwd())  # the grader's folder for this submission: scratch's parent
_rutas = dict(@@READS@@)
_rutas["respuestas"] = os.path.join(_trabajo, ".heldout", "answers", "mnist_labels.npy")
_rutas["respuestas_limpias"] = os.path.join(_trabajo, ".heldout", "answers", "fashion_clean.npy")
_rutas["otra_entrega_relativa"] = os.path.join(_trabajo, "..", "..", "entregas", "otra_alumna", "practica3.ipynb")
for _etiqueta, _ruta in _rutas.items():
    _leer(_etiqueta, _ruta)
print("CHECKOUT:", sorted(os.listdir(@@PROJECT@@)))
# only the assignment's public/ folder (what students install anyway), never its source or configuration
print("ASIGNATURA:", sorted(os.listdir(os.path.join(@@PROJECT@@, "assignments", "practica3"))))
print("ENTORNO:", dict(os.environ))
for _ruta in ("/proc/self/environ", "/proc/1/environ", "/proc/1/cmdline"):
    try:
        print("PROC:", _ruta, open(_ruta, "rb").read()[:4000])
    except OSError as exc:
        print("PROC:", _ruta, type(exc).__name__)
'''

SHELL_CELL = "!cat {hidden} 2>&1 | head -3\n!ls -a {project}\n"

NETWORK_CELL = '''\
import socket

def _conectar(etiqueta, familia, direccion):
    conexion = socket.socket(familia, socket.SOCK_STREAM)
    conexion.settimeout(2)
    try:
        conexion.connect(direccion)
        print(f"CONECTADO:{etiqueta}")
    except OSError as exc:
        print(f"sin red:{etiqueta}:", type(exc).__name__)
    finally:
        conexion.close()

_conectar("loopback_del_anfitrion", socket.AF_INET, ("127.0.0.1", @@PORT@@))
_conectar("ip_publica", socket.AF_INET, ("192.0.2.1", 80))  # TEST-NET-1: never routed anywhere
_conectar("unix_abstracto", socket.AF_UNIX, "\\0" + @@ABSTRACT@@)
'''

WRITES_CELL = '''\
import os
for _etiqueta, _ruta in dict(@@TARGETS@@).items():
    try:
        os.makedirs(os.path.dirname(_ruta), exist_ok=True)
        with open(_ruta, "w") as fichero:
            fichero.write("escrito por un notebook hostil")
        print(f"escrito en su sandbox:{_etiqueta}")
    except OSError as exc:
        print(f"no escrito:{_etiqueta}:", type(exc).__name__)
'''

PROCESSES_CELL = '''\
import os, signal, time
for _etiqueta, _pid in dict(@@PIDS@@).items():  # the grader's host pids
    try:
        os.kill(_pid, 0)
        with open(f"/proc/{_pid}/cmdline", "rb") as fichero:
            _propio = b"ipykernel" in fichero.read()  # the same number may name a process of the sandbox
        print(f"invisible:{_etiqueta}" if _propio else f"VISIBLE:{_etiqueta}")
    except ProcessLookupError:
        print(f"invisible:{_etiqueta}")
    except PermissionError:
        print(f"VISIBLE sin permiso:{_etiqueta}")
os.kill(os.getppid(), signal.SIGKILL)
time.sleep(1)
print("vivo tras matar al padre")
'''

FORK_BOMB_CELL = '''\
import os, signal, time
_hijos = []
try:
    while len(_hijos) < 5000:
        _pid = os.fork()
        if _pid == 0:
            try:
                time.sleep(300)
            finally:
                os._exit(0)
        _hijos.append(_pid)
    print("fork bomb SIN LIMITE:", len(_hijos))
except OSError as exc:
    print(f"fork bomb detenida tras {len(_hijos)} procesos:", type(exc).__name__)
for _pid in _hijos:
    os.kill(_pid, signal.SIGKILL)
for _pid in _hijos:
    os.waitpid(_pid, 0)
'''

ORPHAN_CELL = '''\
import os, sys
_pid = os.fork()
if _pid == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(900)", @@TOKEN@@])
    finally:
        os._exit(0)
os.waitpid(_pid, 0)
print("huérfano lanzado")
'''

MEMORY_BOMB_CELL = '''\
def _bomba():
    trozos = []
    try:
        while True:
            trozos.append(b"\\x01" * (256 * 2**20))  # touched memory, 256 MB at a time
    except MemoryError:
        megas = 256 * len(trozos)
        trozos.clear()  # IPython keeps the traceback's frames: free the blocks before raising again
    raise MemoryError(f"bomba de memoria detenida tras {megas} MB")

_bomba()
'''

BIG_FILE_CELL = '''\
import os
try:
    with open("grande.bin", "wb") as fichero:
        for _ in range(4 * @@FILE_MB@@):
            fichero.write(b"\\0" * 2**20)
    print("fichero grande SIN LIMITE")
except OSError as exc:
    print("fichero grande detenido: errno", exc.errno, "con", os.path.getsize("grande.bin") // 2**20, "MB")
os.remove("grande.bin")
'''

SHM_CELL = '''\
import os
_total = 0
try:
    for _i in range(40):
        with open(f"/dev/shm/relleno{_i}", "wb") as fichero:
            fichero.write(b"\\0" * (@@FILE_MB@@ * 2**20 - 4096))
        _total += @@FILE_MB@@
except OSError as exc:
    print("memoria compartida detenida:", type(exc).__name__)
print(f"SHM total escrito: {_total} MB")
for _i in range(40):
    if os.path.exists(f"/dev/shm/relleno{_i}"):
        os.remove(f"/dev/shm/relleno{_i}")
'''

DISK_FILL_CELL = '''\
_i = 0
while True:  # a runaway writer (a checkpoint every batch, say): only the disk quota stops it
    with open(f"relleno{_i % 1000}.bin", "wb") as fichero:
        fichero.write(b"\\0" * (@@FILE_MB@@ * 2**20 - 4096))  # each file just under the per-file limit
    _i += 1
'''

ALWAYS_EQUAL = '''\
class SiempreIgual:
    """Equal to anything, truthy, and every comparison says yes."""
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __bool__(self): return True
    def __hash__(self): return 0
'''

FAKE_HOG = ALWAYS_EQUAL + '''
def hog_features(images):
    return SiempreIgual()
'''

FAKE_SVM = '''\
class SVMFalso:
    """Pretends to be a fitted estimator whose predictions equal any labels."""
    classes_ = list(range(10))
    def fit(self, X, y): return self
    def predict(self, X): return SiempreIgual()
    def score(self, X, y): return 1.0
    def __eq__(self, other): return True
    def __hash__(self): return 0

svm_hog = SVMFalso()
print("precisión del SVM:", svm_hog.score(None, None), svm_hog.predict(None) == [1, 2, 3])
'''

FAKE_MODEL = '''\
import builtins

class ModeloFalso:
    """Not a Keras model: every comparison is True, and isinstance() is made to lie for it."""
    _hostil = True
    def predict(self, x, **kwargs): return SiempreIgual()
    def summary(self): print("Total params: 58,796")
    def __eq__(self, other): return True
    def __hash__(self): return 0

_isinstance_real = builtins.isinstance
builtins.isinstance = lambda obj, cls: True if type(obj) is ModeloFalso else _isinstance_real(obj, cls)
improved_model = ModeloFalso()
'''

STALE_ARTIFACTS_CELL = '''\
import json, os
import numpy as np

# Before the grader's export runs: artifacts for a 'denoiser' that the notebook never defines, a
# manifest and check results claiming full marks. The export must rewrite the manifest; the scoring
# process must believe none of it.
_salida = ".grader-artifacts"
os.makedirs(_salida, exist_ok=True)
# The held-out inputs are not there while the student's cells run (grader.heldout): invent some.
print("entradas durante las celdas:", os.listdir(os.path.join(os.path.dirname(os.getcwd()), "inputs")))
_ruidosas = np.random.default_rng(0).random((300, 28, 28, 1), dtype="float32")
_suavizadas = (_ruidosas + np.roll(_ruidosas, 1, 1) + np.roll(_ruidosas, -1, 1)
               + np.roll(_ruidosas, 1, 2) + np.roll(_ruidosas, -1, 2)) / 5
np.save(os.path.join(_salida, "denoiser.outputs.npy"), _suavizadas.astype("float32"))
cnn_model.save(os.path.join(_salida, "denoiser.keras"))
_todo = {nombre: {"status": "exported", "reason": ""} for nombre in
         ("cnn_model", "hog_features", "svm_hog", "improved_model", "denoiser")}
json.dump(_todo, open(os.path.join(_salida, "manifest.json"), "w"))
json.dump([{"name": "ej2_denoising", "points": 1.0, "max_points": 1.0, "status": "passed",
            "message": "perfecto", "hidden": True, "details": {}}],
          open(os.path.join(_salida, "checks.json"), "w"))
print("artefactos falsos escritos:", sorted(os.listdir(_salida)))
'''

PATCH_CHECKS = '''
# Lie inside the kernel: the check library and the summary the export writes say "perfect".
import grader.checks.architecture as _arquitectura
import grader.probe as _sonda
from grader.checks.outcome import CheckOutcome
from grader.public_checks import load_public_checks

_perfecta = load_public_checks("practica3").specs["cnn_model"]
_arquitectura.compare_architecture = lambda *a, **k: CheckOutcome(1.0, "arquitectura perfecta (mentira)", {})
_arquitectura.compare_parameters = lambda *a, **k: CheckOutcome(1.0, "parámetros perfectos (mentira)", {})
_sonda.summarize = lambda model, *a, **k: _perfecta
'''

HANGING_HOG = '''\
import time

def hog_features(images):
    if len(images) > 100:  # the held-out set, i.e. the grader's export: never returns
        time.sleep(10**6)
    return np.zeros((len(images), 4), dtype="float32")
'''

SKOPS_HOG = '''\
def hog_features(images):
    # The "features" are Python source, one float32 per 4 bytes: eval'd by the pipeline below.
    n = len(images)
    carga = ("[__import__('os').getcwd().endswith('scoring') and "
             "open('pwned-' + @@TOKEN@@ + '.txt', 'w').write('codigo del alumno ejecutado en el corrector'), "
             "__import__('numpy').zeros((%d, 1))][1]" % n).encode()
    ancho = -(-len(carga) // 4)
    buffer = bytearray(b" " * (n * ancho * 4))
    buffer[:len(carga)] = carga
    return np.frombuffer(bytes(buffer), dtype="float32").reshape(n, ancho)
'''

SKOPS_SVM = '''\
import builtins
from sklearn.dummy import DummyClassifier
from sklearn.preprocessing import FunctionTransformer

# Only scikit-learn classes and two builtins: bytes(features) gives the source, eval() runs it.
svm_hog = make_pipeline(FunctionTransformer(bytes), FunctionTransformer(builtins.eval),
                        DummyClassifier(strategy="most_frequent").fit(np.zeros((10, 1)), np.arange(10)))
print("predicción:", svm_hog.predict(hog_features(x_test_raw[:3])))
'''

LAMBDA_MODEL = '''\
improved_model = keras.Sequential([keras.Input((28, 28, 1)), layers.Lambda(lambda t: t * 1.0), layers.Flatten(),
                                   layers.Dense(10, activation="softmax")])
improved_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
'''

NAN_DENOISER = '''\
denoiser = keras.Sequential([keras.Input((28, 28, 1)), layers.Rescaling(scale=1.0, offset=float("nan"))])
denoiser.compile(optimizer="adam", loss="mse")
'''

FAKE_RESULT_CELL = '''\
import json, os
_falso = {"student": "yo", "score": 6.5, "max_score": 6.5,
          "checks": [{"name": n, "points": 1.0, "status": "passed"} for n in
                     ("ej1_arquitectura", "ej1_parametros", "ej1_precision_cnn", "ej1_svm_hog", "ej1_mejora")]}
print(json.dumps(_falso))
os.makedirs(".grader-artifacts", exist_ok=True)
for _nombre in ("checks.json", "result.json"):
    json.dump(_falso, open(os.path.join(".grader-artifacts", _nombre), "w"))
json.dump(_falso, open("result.json", "w"))
'''

FAKE_EXPORT_CELL = '''\
import json, os, sys, types
from grader.public_checks import load_public_checks

_perfectas = load_public_checks("practica3").specs

def _exportacion_falsa(namespace, out_dir, inputs_dir, contract, inputs_for, *limits):
    """Replaces grader.export.export_artifacts: forged files, and links to the grader's own files."""
    os.makedirs(out_dir, exist_ok=True)
    trabajo = os.path.dirname(os.path.dirname(out_dir))  # <workdir>: .heldout/answers/ and job/ live there
    for nombre in ("cnn_model", "denoiser"):
        with open(os.path.join(out_dir, nombre + ".keras"), "wb") as fichero:
            fichero.write(b"PK\\x03\\x04 esto no es un modelo")
        with open(os.path.join(out_dir, nombre + ".summary.json"), "w") as fichero:
            json.dump(_perfectas[nombre], fichero)
    os.symlink(os.path.join(trabajo, ".heldout", "answers", "mnist_labels.npy"),
               os.path.join(out_dir, "cnn_model.outputs.npy"))
    os.symlink(os.path.join(trabajo, ".heldout", "answers", "fashion_clean.npy"),
               os.path.join(out_dir, "denoiser.outputs.npy"))
    os.symlink(os.path.join(trabajo, "job", "bounds.json"), os.path.join(out_dir, "cnn_history.history.json"))
    manifest = {nombre: {"status": "exported", "reason": ""} for nombre in ("cnn_model", "denoiser", "cnn_history")}
    with open(os.path.join(out_dir, "manifest.json"), "w") as fichero:
        json.dump(manifest, fichero)
    print("exportación falsa hecha")
    return manifest

_falso = types.ModuleType("grader.export")
_falso.export_artifacts = _exportacion_falsa
sys.modules["grader.export"] = _falso
import grader
grader.export = _falso
from grader.export import export_artifacts
print("exportación sustituida:", export_artifacts is _exportacion_falsa)
'''

SYMLINK_DIR_CELL = '''\
import os
# The classmate's folder is a sibling of this one (work/<student>/scratch): point the artifacts there.
os.symlink(os.path.join("..", "..", "contenida", "scratch", ".grader-artifacts"), ".grader-artifacts")
print("artefactos enlazados a los de otra entrega")
'''


def _write_nb(nb, path: Path) -> None:
    s.write(nb, path)


def build_contained(ctx: Context, path: Path) -> None:
    file_mb = HOSTILE_LIMITS["file_size_mb"]
    nb = s.fill(ctx.released, {**CNN_ONLY, "ej1_hog": FAKE_HOG, "ej1_svm": FAKE_SVM,
                               "ej1_mejora_modelo": FAKE_MODEL, "ej2_modelo": STALE_ARTIFACTS_CELL})
    reads = ctx.reads()
    targets = {label: str(p) for label, p in ctx.write_targets().items()}
    hostile = [
        _code(SECRETS_CELL, READS=reads, PROJECT=str(PROJECT_ROOT)),
        SHELL_CELL.format(hidden=ctx.hidden_test, project=PROJECT_ROOT),
        _code(NETWORK_CELL, PORT=ctx.port, ABSTRACT=ctx.abstract),
        _code(WRITES_CELL, TARGETS=targets),
        FORK_BOMB_CELL,
        _code(ORPHAN_CELL, TOKEN=ctx.token),
        _code(BIG_FILE_CELL, FILE_MB=file_mb),
        _code(SHM_CELL, FILE_MB=file_mb),
        "while True:\n    pass",
        "print('vivo tras el bucle infinito')",
    ]
    nb = _insert_after(nb, "preparacion", hostile)
    # The memory bomb comes late, when the kernel already holds the data, so it touches about 1.3 GB, not 2 GB,
    # before the limit: these VMs first-touch memory at ~200 MB/s, and a bomb of 2 GB took 10 s here and over the
    # 20-s cell limit on a slower CI machine (stop 24).
    nb = s.append_cell(nb, MEMORY_BOMB_CELL)
    nb = s.append_cell(nb, "print('vivo tras la bomba de memoria')")
    nb = s.append_cell(nb, "print('x' * 10_000_000)")  # last: the budget is spent after every probe printed
    _write_nb(nb, path)


def build_export_hang(ctx: Context, path: Path) -> None:
    """A correct CNN, artifacts planted before the export, and a hog_features the export hangs on."""
    _write_nb(s.fill(ctx.released, {**CNN_ONLY, "ej1_hog": HANGING_HOG, "ej2_modelo": STALE_ARTIFACTS_CELL}), path)


def build_integrity(ctx: Context, path: Path) -> None:
    nb = s.fill(ctx.released, {**CNN_ONLY, "ej1_cnn_modelo": s.cnn_cell(extra_dense=True) + PATCH_CHECKS,
                               "ej1_hog": _code(SKOPS_HOG, TOKEN=ctx.token), "ej1_svm": SKOPS_SVM,
                               "ej1_mejora_modelo": LAMBDA_MODEL, "ej2_modelo": NAN_DENOISER,
                               "ej2_evaluacion": FAKE_RESULT_CELL})
    nb.metadata["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    nb.metadata["language_info"] = {"name": "bash"}
    _write_with_huge_output(nb, "ej1_cnn_modelo", path)


def build_forged(ctx: Context, path: Path) -> None:
    """The export replaced; also nbformat 3, one locked cell edited and another deleted."""
    nb = s.fill(ctx.released, {**CNN_ONLY, "ej1_cnn_modelo": FAKE_EXPORT_CELL})
    nb = s.edit_cell(nb, "ej1_arquitectura", "print('todo correcto')")
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "ej1_parametros"]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.convert(nb, 3), path)


def build_symlink_dir(ctx: Context, path: Path) -> None:
    _write_nb(s.fill(ctx.released, {**CNN_ONLY, "ej1_cnn_modelo": SYMLINK_DIR_CELL}), path)


def build_disk_fill(ctx: Context, path: Path) -> None:
    cell = _code(DISK_FILL_CELL, FILE_MB=HOSTILE_LIMITS["file_size_mb"])
    _write_nb(s.fill(ctx.released, {**CNN_ONLY, "ej1_cnn_modelo": cell}), path)


HUGE_MB = 200


def _write_with_huge_output(nb, grade_id: str, path: Path) -> None:
    """Write ``nb`` with 200 MB of output in the cell ``grade_id``, as handed in; written in pieces,
    so the 200 MB string never exists in this process."""
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="@@ENORME@@")]
    cell.execution_count = 1
    head, tail = nbformat.writes(nb).split("@@ENORME@@")
    path.parent.mkdir(parents=True, exist_ok=True)
    block = ("A" * 1022 + "\\n") * 1024  # 1 MB of JSON-escaped lines
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head)
        handle.writelines(block for _ in range(HUGE_MB))
        handle.write(tail)


def build_os_exit(ctx: Context, path: Path) -> None:
    _write_nb(s.fill(ctx.released, {**CNN_ONLY, "ej1_cnn_entrenamiento": "import os\nos._exit(1)"}), path)


def build_killpg(ctx: Context, path: Path) -> None:
    cell = "import os, signal\nos.killpg(0, signal.SIGKILL)"
    _write_nb(s.fill(ctx.released, {**CNN_ONLY, "ej1_cnn_entrenamiento": cell}), path)


def build_exits(ctx: Context, path: Path) -> None:
    """A correct CNN, then sys.exit() and a SIGKILL to the kernel's parent: hostile, still gradable."""
    cell = _code(PROCESSES_CELL, PIDS={"pytest": os.getpid(), "padre_de_pytest": os.getppid()})
    _write_nb(s.fill(ctx.released, {**CNN_ONLY, "ej1_hog": "import sys\nsys.exit('adiós')",
                                    "ej1_svm": "print('vivo tras sys.exit')", "ej1_mejora_modelo": cell}), path)


def _cell_meta(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id).metadata


def build_copy_pasted_cell(ctx: Context, path: Path) -> None:
    """The student copied the CNN solution cell (Jupyter's copy/paste keeps nbgrader's metadata)."""
    nb = s.fill(ctx.released, CNN_ONLY)
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ej1_cnn_modelo")
    pasted = copy.deepcopy(nb.cells[index])
    pasted["id"] = "copia-pegada"
    pasted.source = "print('celda copiada y pegada')"
    nb.cells.insert(index + 1, pasted)
    _write_nb(nb, path)


def _mutated(mutate: Callable) -> Callable[[Context, Path], None]:
    def build(ctx: Context, path: Path) -> None:
        nb = s.fill(ctx.released, CNN_ONLY)
        mutate(nb)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb), encoding="utf-8")  # no validation on the way out
    return build


def _raw(data: bytes | Callable[[Context], bytes]) -> Callable[[Context, Path], None]:
    def build(ctx: Context, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data(ctx) if callable(data) else data)
    return build


def _truncated(ctx: Context) -> bytes:
    return nbformat.writes(s.fill(ctx.released, CNN_ONLY)).encode("utf-8")[:5000]


def _latin1(ctx: Context) -> bytes:
    text = nbformat.writes(s.fill(ctx.released, {**CNN_ONLY, "ej1_informe": "Diseño y evaluación"}))
    return text.encode("latin-1", "replace")


EMPTY_NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()

GROUPS = {g.name: g for g in [
    Group("contenida", build_contained),
    Group("integridad", build_integrity),
    Group("exportacion_falsa", build_forged),
    Group("artefactos_ajenos", build_symlink_dir, after=("contenida",)),
    Group("exportacion_colgada", build_export_hang),
    Group("disco_lleno", build_disk_fill),
    Group("killpg", build_killpg),
    Group("os_exit", build_os_exit, mixed=True),
    Group("salidas", build_exits, mixed=True),
    Group("json_truncado", _raw(_truncated), kernel=False, mixed=True),
    Group("no_utf8", _raw(_latin1), kernel=False),
    Group("fichero_vacio", _raw(b""), kernel=False),
    Group("sin_celdas", _raw(EMPTY_NOTEBOOK), kernel=False),
    Group("json_no_notebook", _raw(b'{"hola": "mundo"}'), kernel=False),
    Group("json_lista", _raw(b"[1, 2, 3]"), kernel=False),
    Group("nbformat_5", _raw(json.dumps({"cells": [{"cell_type": "code", "source": "1", "metadata": {},
                                                     "outputs": [], "execution_count": None}],
                                          "metadata": {}, "nbformat": 5, "nbformat_minor": 0}).encode()),
          kernel=False),
    Group("json_muy_anidado", _raw(b'{"cells": ' + b"[" * 100_000), kernel=False),
    Group("entero_enorme", _raw(b'{"cells": [], "metadata": {}, "nbformat": ' + b"9" * 5000 + b"}"), kernel=False),
    # Damaged nbgrader metadata of a released cell is rebuilt from the release: the notebook still runs.
    Group("metadatos_texto", _mutated(lambda nb: _cell_meta(nb, "ej1_arquitectura").__setitem__("nbgrader", "roto"))),
    Group("puntos_texto", _mutated(lambda nb: _cell_meta(nb, "ej1_arquitectura")["nbgrader"].__setitem__(
        "points", "muchos"))),
    Group("esquema_futuro", _mutated(lambda nb: _cell_meta(nb, "ej1_arquitectura")["nbgrader"].__setitem__(
        "schema_version", 99))),
    Group("celda_copiada", build_copy_pasted_cell),
]}


# ============================================================================================ cases

def missing(name: str, reason: str = "") -> CheckExpect:
    return CheckExpect(0.0, ES.ERROR, f"no se encontró '{name}' en el notebook: {reason}")


def never_exported(*checks: str) -> dict[str, CheckExpect]:
    """The kernel ended before the grader's export: every object check says so."""
    objects = {"ej1_arquitectura": "cnn_model", "ej1_parametros": "cnn_model", "ej1_precision_cnn": "cnn_model",
               "ej1_svm_hog": "svm_hog", "ej1_mejora": "improved_model", "ej2_autoencoder": "denoiser",
               "ej2_denoising": "denoiser"}
    return {c: missing(objects[c], "el notebook no llegó a exportarlo (¿se detuvo antes?)") for c in checks}


def invalid(fragment: str) -> dict[str, CheckExpect]:
    """A file refused before execution: every check is an error naming the reason; nothing ran."""
    return {name: CheckExpect(0.0, ES.ERROR, fragment) for name in ALL_CHECKS}


CNN_OK = {"ej1_arquitectura": CheckExpect(1.0, ES.PASSED, "La arquitectura coincide con la tabla", verified=True),
          "ej1_parametros": CheckExpect(0.5, ES.PASSED, "58.796 parámetros")}
BROKE_RULES = CheckExpect(0.0, ES.FAILED, "no se ejecuta de principio a fin sin errores")
CONTAINED = EX.TIMEOUT  # the interrupted endless loop; every other behaviour there is a plain cell error

CASES: list[Case] = [
    # ---------------------------------------------------------------- contenida: one kernel, many attacks
    Case("rest_still_graded", "contenida", "a correct CNN among all the hostile cells below", CONTAINED,
         checks={**CNN_OK, "ej1_precision_cnn": CheckExpect(0.0, ES.FAILED, "precisión"),
                 "ej1_normas": BROKE_RULES},
         message=("se interrumpió", "Las salidas superaron 200.000 caracteres")),
    Case("infinite_loop", "contenida", "while True: pass", CONTAINED,
         message=("superó el límite de 20 s por celda y se interrumpió; las celdas siguientes sí se ejecutaron",),
         errors=("CellTimeout",), output=("vivo tras el bucle infinito",)),
    Case("fork_bomb", "contenida", "forks until the kernel refuses, children sleeping", CONTAINED,
         output=("BlockingIOError",), not_output=("fork bomb SIN LIMITE",), host=("forks_bounded",)),
    Case("orphan_daemon", "contenida", "double fork + setsid + exec: a daemon meant to outlive grading",
         CONTAINED, output=("huérfano lanzado",), host=("no_leftover_processes",)),
    Case("memory_bomb", "contenida", "allocates and touches 256 MB blocks until something stops it", CONTAINED,
         errors=("MemoryError",), output=("vivo tras la bomba de memoria",)),
    Case("big_file", "contenida", "writes one 64 MB file (limit 16 MB)", CONTAINED,
         output=("fichero grande detenido: errno 27 con 16 MB",), not_output=("SIN LIMITE",)),
    Case("dev_shm_fill", "contenida", "writes 40 files of 16 MB into /dev/shm", CONTAINED,
         host=("shm_bounded",)),
    Case("output_flood", "contenida", "prints 10 MB", CONTAINED,
         message=("Las salidas superaron 200.000 caracteres; el resto se descartó",),
         output=("output truncated",), host=("small_outputs",)),
    Case("read_hidden_tests", "contenida", "reads autograde_tests/ in the checkout; !cat of the same file",
         CONTAINED, output=("bloqueado:tests_ocultos:", "bloqueado:carpeta_tests_ocultos:",
                            "No such file or directory", "CHECKOUT: ['.venv', 'assignments', 'grader']",
                            "ASIGNATURA: ['public']"),
         secrets=("hidden_tests_sha", "hidden_tests_text")),
    Case("read_reference", "contenida", "reads reference_solutions/ and its metrics", CONTAINED,
         output=("bloqueado:soluciones_de_referencia:", "bloqueado:metricas_de_referencia:"),
         secrets=("reference_sha",)),
    Case("read_answers", "contenida", "reads <workdir>/.heldout/answers (held-out labels and clean images)", CONTAINED,
         output=("bloqueado:respuestas:", "bloqueado:respuestas_limpias:"), secrets=("answers_sha",)),
    Case("read_gradebook", "contenida", "reads the gradebook and a canary beside it", CONTAINED,
         output=("bloqueado:gradebook:", "bloqueado:canario_del_gradebook:"),
         secrets=("gradebook", "gradebook_header")),
    Case("read_other_submission", "contenida", "reads another student's notebook (absolute and relative)",
         CONTAINED, output=("bloqueado:otra_entrega:", "bloqueado:otra_entrega_relativa:"),
         secrets=("other_submission",)),
    Case("environment_secrets", "contenida", "dumps os.environ, /proc/*/environ, pytest's environ",
         CONTAINED, output=("bloqueado:entorno_de_pytest:", "bloqueado:historial_de_root:"), secrets=("env",)),
    Case("network", "contenida", "connects to the host's loopback, 192.0.2.1 and a host abstract unix socket",
         CONTAINED, output=("sin red:loopback_del_anfitrion:", "sin red:ip_publica:", "sin red:unix_abstracto:"),
         not_output=("CONECTADO",), host=("no_connections",)),
    Case("write_outside_scratch", "contenida", "creates files in the hidden tests, grader, site-packages, "
         "beside the gradebook, in answers/ and in another submission", CONTAINED,
         # The hidden tests' folder is not in the sandbox at all: a checkout under /tmp (as in some CI
         # runs) lets the path be created in the sandbox's private /tmp, so the host-side probe decides.
         output=("no escrito:paquete_grader:", "no escrito:site_packages:"),
         host=("targets_untouched",)),
    Case("always_equal_objects", "contenida", "hog_features/svm_hog/improved_model whose == is always True, "
         "isinstance() patched to lie", CONTAINED,
         checks={"ej1_svm_hog": CheckExpect(0.0, ES.ERROR, "'svm_hog' no se pudo cargar de forma segura: tipos no "
                                                           "permitidos: __main__.SVMFalso"),
                 "ej1_mejora": missing("improved_model", "TypeError: ")}),
    Case("stale_fake_artifacts", "contenida", "writes denoiser.keras/outputs, manifest.json and checks.json "
         "into the artifacts folder before the export", CONTAINED,
         checks={"ej2_autoencoder": missing("denoiser", "no está definido"),
                 "ej2_denoising": missing("denoiser", "no está definido")},
         output=("entradas durante las celdas: []", "artefactos falsos escritos:")),
    # ---------------------------------------------------------------- exportacion_colgada
    Case("export_hang", "exportacion_colgada", "hog_features never returns on the held-out set: the grader's "
         "export cell is interrupted", EX.TIMEOUT,
         message=("del corrector (epilogue) superó el límite de 20 s por celda y se interrumpió",),
         checks={"ej1_arquitectura": CheckExpect(1.0, ES.PASSED, "La arquitectura coincide", verified=True)}),
    Case("planted_artifacts_after_interrupted_export", "exportacion_colgada", "a manifest and a denoiser.keras "
         "written by the student before an export that does not finish", EX.TIMEOUT,
         checks={"ej2_autoencoder": missing("denoiser"), "ej2_denoising": missing("denoiser")}),
    # ---------------------------------------------------------------- integridad: lies inside the kernel
    Case("patched_check_library", "integridad", "wrong CNN (extra Dense); compare_architecture and "
         "compare_parameters replaced in the kernel", EX.CELL_ERROR,
         checks={"ej1_arquitectura": CheckExpect(0.0, ES.FAILED, "capa 7 (Dense): capa extra", verified=True)},
         output=("arquitectura perfecta (mentira)",)),
    Case("patched_summarize", "integridad", "grader.probe.summarize replaced: the exported summary.json is "
         "the reference", EX.CELL_ERROR,
         checks={"ej1_parametros": CheckExpect(0.0, ES.FAILED, "parámetros, esperados 58.796")}),
    Case("fake_result_printed", "integridad", "prints a result JSON with 6.5 points and writes checks.json/"
         "result.json into the artifacts folder and the scratch folder", EX.CELL_ERROR,
         checks={"ej1_normas": CheckExpect(0.0, ES.FAILED, "escribe en disco: result.json")},
         output=('"score": 6.5',), score=0.0),
    Case("lambda_layer", "integridad", "improved_model with a Lambda layer", EX.CELL_ERROR,
         checks={"ej1_mejora": CheckExpect(0.0, ES.ERROR, "'improved_model' no se pudo cargar de forma segura")}),
    Case("nan_model", "integridad", "denoiser whose output is NaN", EX.CELL_ERROR,
         checks={"ej2_autoencoder": CheckExpect(0.0, ES.FAILED, "las salidas contienen NaN o infinitos"),
                 "ej2_denoising": CheckExpect(0.0, ES.FAILED, "las salidas contienen NaN o infinitos")}),
    Case("kernelspec_bash", "integridad", "notebook metadata asks for a bash kernel", EX.CELL_ERROR,
         checks={"ej1_arquitectura": CheckExpect(0.0, ES.FAILED, "capa extra")},
         output=("arquitectura perfecta (mentira)",)),
    Case("skops_code_execution", "integridad", "svm_hog = FunctionTransformer(bytes) | FunctionTransformer(eval)"
         " over hog 'features' that are Python source", EX.CELL_ERROR,
         checks={"ej1_svm_hog": CheckExpect(0.0, ES.ERROR, "tipos no permitidos: builtins.bytes, builtins.eval")},
         host=("no_payload_ran",)),
    Case("embedded_200mb_output", "integridad", "the notebook as handed in carries 200 MB of output",
         EX.CELL_ERROR, not_output=("AAAAAAAAAAAAAAAA",), host=("small_outputs",)),
    # ---------------------------------------------------------------- exportacion_falsa: the export replaced
    Case("export_hijacked", "exportacion_falsa", "sys.modules['grader.export'] replaced by a forger",
         EX.CELL_ERROR, output=("exportación sustituida: True",)),
    Case("forged_summary", "exportacion_falsa", "garbage cnn_model.keras + the reference summary.json",
         EX.CELL_ERROR,
         checks={"ej1_arquitectura": CheckExpect(0.0, ES.ERROR, "'cnn_model' no se pudo cargar de forma segura"),
                 "ej1_parametros": CheckExpect(0.0, ES.ERROR, "'cnn_model' no se pudo cargar de forma segura")}),
    Case("symlink_to_labels", "exportacion_falsa", "cnn_model.outputs.npy -> <workdir>/.heldout/answers/mnist_labels.npy",
         EX.CELL_ERROR, checks={"ej1_precision_cnn": CheckExpect(0.0, ES.ERROR)}),
    Case("symlink_to_clean_images", "exportacion_falsa",
         "denoiser.outputs.npy -> <workdir>/answers/fashion_clean.npy", EX.CELL_ERROR,
         checks={"ej2_autoencoder": CheckExpect(0.0, ES.ERROR), "ej2_denoising": CheckExpect(0.0, ES.ERROR)}),
    Case("symlink_to_job_files", "exportacion_falsa", "cnn_history.history.json -> <workdir>/job/bounds.json",
         EX.CELL_ERROR, checks={"ej1_precision_cnn": CheckExpect(no_details=("history",))}),
    Case("nbformat_3", "exportacion_falsa", "the notebook is nbformat 3", EX.CELL_ERROR,
         message=("nbformat 3 convertido a nbformat 4",)),
    Case("edited_and_deleted_locked_cells", "exportacion_falsa", "ej1_arquitectura's check replaced by a "
         "print, ej1_parametros's check deleted", EX.CELL_ERROR,
         message=("celdas bloqueadas restauradas: ej1_arquitectura, ej1_parametros",),
         not_output=("todo correcto",), output=("name 'cnn_model' is not defined",)),
    # ---------------------------------------------------------------- artefactos_ajenos
    Case("classmate_artifacts", "artefactos_ajenos", ".grader-artifacts -> ../../contenida/scratch/"
         ".grader-artifacts (another student's graded folder)", EX.CELL_ERROR,
         checks={"ej1_arquitectura": missing("cnn_model"), "ej1_parametros": missing("cnn_model")},
         output=("artefactos enlazados",)),
    # ---------------------------------------------------------------- disco_lleno
    Case("disk_fill", "disco_lleno", "writes 16 MB files without end (the per-file limit never trips)",
         EX.KERNEL_DIED, message=("escribió más de 64 MB en disco",), host=("disk_bounded",)),
    # ---------------------------------------------------------------- kernel deaths
    Case("killpg", "killpg", "os.killpg(0, SIGKILL) after the CNN", EX.KERNEL_DIED,
         message=("El kernel murió durante la celda",), errors=("KernelDied",),
         checks={**never_exported(*OBJECT_CHECKS),
                 "ej1_normas": CheckExpect(0.0, ES.FAILED, "(1 celda con error)")},
         host=("no_leftover_processes",)),
    Case("os_exit", "os_exit", "os._exit(1) after the CNN (graded in the mixed batch)", EX.KERNEL_DIED,
         message=("El kernel murió durante la celda",), errors=("KernelDied",),
         checks={**never_exported(*OBJECT_CHECKS),
                 "ej1_normas": CheckExpect(0.0, ES.FAILED, "(1 celda con error)")},
         host=("no_leftover_processes",)),
    # ---------------------------------------------------------------- salidas (in the mixed batch)
    Case("exits_still_graded", "salidas", "a correct CNN, then sys.exit() and a SIGKILL to the parent",
         EX.CELL_ERROR, checks={**CNN_OK, "ej1_normas": BROKE_RULES}, errors=("SystemExit",)),
    Case("sys_exit", "salidas", "sys.exit('adiós')", EX.CELL_ERROR, errors=("SystemExit",),
         output=("vivo tras sys.exit",)),
    Case("kill_parent", "salidas", "os.kill(os.getppid(), SIGKILL); probes the grader's pids", EX.CELL_ERROR,
         output=("vivo tras matar al padre", "invisible:pytest", "invisible:padre_de_pytest"),
         not_output=("VISIBLE:", "VISIBLE sin permiso:"), host=("no_leftover_processes",)),
    # ---------------------------------------------------------------- refused before running anything
    Case("truncated_json", "json_truncado", "the first 5000 bytes of a notebook", EX.INVALID_NOTEBOOK,
         checks=invalid("no es un notebook (JSON no válido en la línea"), host=("nothing_ran",)),
    Case("not_utf8", "no_utf8", "a notebook saved as Latin-1", EX.INVALID_NOTEBOOK,
         checks=invalid("no es texto UTF-8 (byte "), host=("nothing_ran",)),
    Case("empty_file", "fichero_vacio", "0 bytes", EX.INVALID_NOTEBOOK,
         checks=invalid("JSON no válido en la línea 1, columna 1"), host=("nothing_ran",)),
    Case("empty_notebook", "sin_celdas", "a valid notebook without cells", EX.INVALID_NOTEBOOK,
         checks=invalid("el notebook no tiene código que ejecutar"), host=("nothing_ran",)),
    Case("json_not_notebook", "json_no_notebook", "a JSON object without cells", EX.INVALID_NOTEBOOK,
         checks=invalid("es JSON pero no un notebook de Jupyter"), host=("nothing_ran",)),
    Case("json_list", "json_lista", "a JSON list", EX.INVALID_NOTEBOOK,
         checks=invalid("es JSON pero no un notebook de Jupyter"), host=("nothing_ran",)),
    Case("nbformat_5", "nbformat_5", "claims nbformat 5", EX.INVALID_NOTEBOOK,
         checks=invalid("Unsupported nbformat version 5"), host=("nothing_ran",)),
    Case("deeply_nested_json", "json_muy_anidado", "100 000 nested JSON lists", EX.INVALID_NOTEBOOK,
         checks=invalid("no es un notebook"), host=("nothing_ran",)),
    Case("huge_integer", "entero_enorme", "a 5000-digit integer in the JSON", EX.INVALID_NOTEBOOK,
         checks=invalid("no es un notebook"), host=("nothing_ran",)),
    Case("nbgrader_metadata_string", "metadatos_texto", "a locked cell's nbgrader metadata is a string",
         EX.CELL_ERROR, checks=CNN_OK, message=("metadatos de nbgrader dañados", "se restauraron")),
    Case("nbgrader_points_text", "puntos_texto", "a graded cell's points are 'muchos'", EX.CELL_ERROR,
         checks=CNN_OK, message=("metadatos de nbgrader dañados", "se restauraron")),
    Case("nbgrader_schema_99", "esquema_futuro", "a locked cell claims nbgrader schema 99", EX.CELL_ERROR,
         checks=CNN_OK, message=("metadatos de nbgrader dañados", "se restauraron")),
    Case("copy_pasted_solution_cell", "celda_copiada", "the CNN cell copied and pasted (same grade_id)",
         EX.CELL_ERROR, checks=CNN_OK, output=("celda copiada y pegada",)),
]


# ============================================================================================ host probes

def _number(pattern: str, text: str) -> int | None:
    found = re.search(pattern, text)
    return int(found[1]) if found else None


def _forks_bounded(ctx: Context, graded: Graded) -> list[str]:
    forks = _number(r"fork bomb detenida tras (\d+) procesos", graded.outputs())
    if forks is None:
        return ["the fork bomb did not report where it stopped"]
    return [] if forks < HOSTILE_LIMITS["processes"] else [f"{forks} forks, limit {HOSTILE_LIMITS['processes']}"]


def _shm_bounded(ctx: Context, graded: Graded) -> list[str]:
    written = _number(r"SHM total escrito: (\d+) MB", graded.outputs())
    if written is None:
        return ["the /dev/shm probe did not report"]
    return [] if written <= TMP_CAP_MB else [f"{written} MB written to /dev/shm (cap expected {TMP_CAP_MB} MB)"]


def _disk_bounded(ctx: Context, graded: Graded) -> list[str]:
    """The quota is sampled (every 0.25 s), so a fast writer overshoots it a little; unstopped, this
    endless writer would fill the disk at full speed for the whole cell time limit."""
    bound = 1024
    files = list((graded.workdir / "scratch").glob("relleno*.bin"))
    left = sum(p.stat().st_size for p in files) // 2**20
    for path in files:
        path.unlink()
    problems = [] if left <= bound else [f"{left} MB left in the scratch folder (bound {bound} MB)"]
    if "DiskLimit" not in {e.ename for e in graded.result.execution.errors}:
        problems.append("the kernel was not stopped by the disk quota")
    return problems


def _no_connections(ctx: Context, graded: Graded) -> list[str]:
    return [f"a connection reached the host's {name} listener" for name in ctx.connections()]


def _targets_untouched(ctx: Context, graded: Graded) -> list[str]:
    return [f"{label}: {path} was created" for label, path in ctx.write_targets().items() if path.exists()]


def _no_leftover_processes(ctx: Context, graded: Graded) -> list[str]:
    return [f"still running after grading: {p}" for p in graded.leftovers]


def _no_payload_ran(ctx: Context, graded: Graded) -> list[str]:
    return [f"the student's code ran in the grader and wrote {p}" for p in graded.workdir.rglob("pwned-*")]


def _small_outputs(ctx: Context, graded: Graded) -> list[str]:
    problems = []
    for name, limit in (("executed.ipynb", 2 * 2**20), ("result.json", 2**20)):
        size = (graded.workdir / name).stat().st_size if (graded.workdir / name).is_file() else 0
        if size > limit:
            problems.append(f"{name} is {size} bytes")
    return problems


def _nothing_ran(ctx: Context, graded: Graded) -> list[str]:
    problems = []
    if graded.result is not None and graded.result.execution.cells_executed:
        problems.append(f"{graded.result.execution.cells_executed} cells ran")
    if (graded.workdir / "executed.ipynb").exists():
        problems.append("an executed notebook was written")
    return problems


HOST_PROBES: dict[str, Callable[[Context, Graded], list[str]]] = {
    "forks_bounded": _forks_bounded, "shm_bounded": _shm_bounded, "disk_bounded": _disk_bounded,
    "no_connections": _no_connections, "targets_untouched": _targets_untouched,
    "no_leftover_processes": _no_leftover_processes, "no_payload_ran": _no_payload_ran,
    "small_outputs": _small_outputs, "nothing_ran": _nothing_ran,
}


# ============================================================================================ grading

def grade_group(ctx: Context, group: Group, config, scorer=None) -> Graded:
    """grade_submission on one group's file, with the host-side facts gathered right after; ``scorer``:
    the scoring process the groups share, as a batch worker's submissions share one."""
    from grader.pipeline import grade_submission

    path = ctx.submission(group.name)
    group.build(ctx, path)
    workdir = ctx.workdir(group.name)
    started = time.perf_counter()
    try:
        result = grade_submission(path, config, student=group.name, workdir=workdir, db_url=ctx.db_url,
                                  scorer=scorer)
        error = None
    except Exception as exc:  # noqa: BLE001 (a raise is itself an outcome a case may forbid)
        result, error = None, exc
    return Graded(group.name, workdir, result, error, round(time.perf_counter() - started, 1), ctx.leftovers())


def verify(case: Case, graded: Graded, ctx: Context) -> list[str]:
    """Everything ``case`` expects that ``graded`` does not show (empty: the case holds)."""
    if graded.error is not None:
        return [(f"grade_submission raised {type(graded.error).__name__}: {str(graded.error)[:300]} "
                 "(a bad submission must end in a result)")]
    result = graded.result
    problems = []
    if result.execution.status is not case.status:
        problems.append(f"execution status {result.execution.status.value}, expected {case.status.value} "
                        f"({result.execution.message[:300]})")
    problems += [f"execution message lacks {f!r}: {result.execution.message[:400]}"
                 for f in case.message if f not in result.execution.message]
    checks = {c.name: c for c in result.checks}
    for name, want in case.checks.items():
        got = checks[name]
        if want.points is not None and abs(got.points - want.points) > 1e-9:
            problems.append(f"{name}: {got.points} points, expected {want.points} ({got.message[:200]})")
        if want.status is not None and got.status is not want.status:
            problems.append(f"{name}: status {got.status.value}, expected {want.status.value} ({got.message[:200]})")
        if want.fragment is not None and want.fragment not in got.message:
            problems.append(f"{name}: message lacks {want.fragment!r}: {got.message[:300]}")
        if want.verified is not None and got.details.get("verified") is not want.verified:
            problems.append(f"{name}: verified={got.details.get('verified')}, expected {want.verified}")
        problems += [f"{name}: details[{key!r}] = {str(got.details[key])[:200]}"
                     for key in want.no_details if got.details.get(key) is not None]
    text = graded.outputs() if (case.output or case.not_output) else ""
    problems += [f"the outputs lack {f!r}" for f in case.output if f not in text]
    problems += [f"the outputs show {f!r}" for f in case.not_output if f in text]
    enames = [e.ename for e in result.execution.errors]
    problems += [f"no {e} among the recorded errors {enames}" for e in case.errors if e not in enames]
    if case.secrets:
        visible = graded.visible()
        problems += [f"secret {key!r} is visible to the student" for key in case.secrets
                     if ctx.secret(key, graded) in visible]
    for probe in case.host:
        problems += HOST_PROBES[probe](ctx, graded)
    if case.score is not None and result.score != case.score:
        problems.append(f"score {result.score}, expected {case.score}")
    if not (graded.workdir / "result.json").is_file():
        problems.append("no result.json was written")
    return problems
