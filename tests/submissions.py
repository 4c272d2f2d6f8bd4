"""Build Práctica 3 submissions the way students make them: the released notebook with its
solution cells filled in. The light reference trains on small subsets for 1 epoch (seconds, not
minutes, in batches of 32); each defect changes one option of one part, so a variant is one line, not a copied file.

Solution cells are addressed by their nbgrader ``grade_id`` in the released notebook.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat


def cnn_cell(padding2: str = "valid", filters2: int = 16, kernel2: int = 5, second_pool: bool = True,
             extra_dense: bool = False, last_activation: str = "softmax", lambda_layer: bool = False) -> str:
    pool2 = "layers.MaxPooling2D(2)," if second_pool else ""
    extra = "layers.Dense(64, activation='relu')," if extra_dense else ""
    scale = "layers.Lambda(lambda t: t * 1.0)," if lambda_layer else ""
    return f"""\
def build_cnn():
    model = keras.Sequential([
        keras.Input((28, 28, 1)), {scale}
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D({filters2}, {kernel2}, padding="{padding2}", activation="relu"),
        {pool2}
        layers.Flatten(),
        layers.Dense(100, activation="relu"), {extra}
        layers.Dense(50, activation="relu"),
        layers.Dense(10, activation="{last_activation}"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
"""


def cnn_training_cell(epochs: int = 1, images: int = 10_000) -> str:
    return f"""\
keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(x_train[:{images}], y_train[:{images}], epochs={epochs}, batch_size=32, verbose=0)
"""


def hog_cell(raw_pixels: bool = False) -> str:
    body = ("return np.asarray(images, dtype='float32').reshape(len(images), -1) / 255.0" if raw_pixels else
            "return np.stack([hog(i, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2)) "
            "for i in np.asarray(images)]).astype('float32')")
    return f"def hog_features(images):\n    {body}\n"


def svm_cell(images: int = 2000) -> str:
    return f"""\
svm_hog = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=5.0))
svm_hog.fit(hog_features(x_train_raw[:{images}]), y_train[:{images}])
"""


IMPROVED_MODEL = """\
def build_improved_model():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dropout(0.3),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

keras.utils.set_random_seed(SEED)
improved_model = build_improved_model()
"""


def improved_training_cell(epochs: int = 1, images: int = 10_000) -> str:
    return f"""\
keras.utils.set_random_seed(SEED)
improved_history = improved_model.fit(x_train[:{images}], y_train[:{images}], epochs={epochs}, batch_size=32,
                                      verbose=0)
"""


def denoiser_cell(identity: bool = False) -> str:
    body = "outputs = inputs" if identity else """\
x = layers.Conv2D(32, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(32, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, strides=2, activation="relu", padding="same")(x)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)"""
    return f"""\
def build_denoiser():
    inputs = keras.Input((28, 28, 1))
    {body}
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model

keras.utils.set_random_seed(SEED)
denoiser = build_denoiser()
"""


def denoiser_training_cell(epochs: int = 1, images: int = 10_000) -> str:
    return f"""\
keras.utils.set_random_seed(SEED)
denoiser_history = denoiser.fit(fashion_train_noisy[:{images}], fashion_train[:{images}], epochs={epochs},
                                batch_size=32, verbose=0)
"""


def light_reference_fills() -> dict[str, str]:
    """A correct, lightly trained answer for every solution cell of the released notebook."""
    return {
        "ej1_cnn_modelo": cnn_cell(),
        "ej1_cnn_entrenamiento": cnn_training_cell(),
        "ej1_hog": hog_cell(),
        "ej1_svm": svm_cell(),
        "ej1_mejora_modelo": IMPROVED_MODEL,
        "ej1_mejora_entrenamiento": improved_training_cell(),
        "ej1_informe": "La CNN dada supera a HOG+SVM; la mejora añade BatchNorm y Dropout.",
        "ej2_modelo": denoiser_cell(),
        "ej2_entrenamiento": denoiser_training_cell(),
        "ej2_evaluacion": "denoised = denoiser.predict(fashion_test_noisy[:100], verbose=0)",
        "ej2_figura": "print('figura omitida')",
        "ej2_informe": "Ruido gaussiano sigma 0,4; el autoencoder mejora PSNR y SSIM.",
    }


def fill(released: nbformat.NotebookNode, overrides: dict[str, str | None] | None = None, *,
         base: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The released notebook with solution cells filled (``base``: the answers of another assignment than
    Práctica 3's light reference); ``None`` as an override deletes that cell."""
    answers = {**(light_reference_fills() if base is None else base), **(overrides or {})}
    nb = copy.deepcopy(released)
    kept = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            if answers[grade_id] is None:
                continue
            cell.source = answers[grade_id]
        kept.append(cell)
    nb.cells = kept
    return nb


def edit_cell(nb: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy with one cell's source replaced (e.g. a student editing a locked test cell)."""
    edited = copy.deepcopy(nb)
    next(c for c in edited.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id).source = source
    return edited


def append_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    extended = copy.deepcopy(nb)
    extended.cells.append(nbformat.v4.new_code_cell(source))
    return extended


def write(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def grade(nb: nbformat.NotebookNode, config, released, folder: Path, name: str, scorer):
    """``nb`` written to ``folder`` and graded end to end (``grade_submission``) against the release's
    gradebook (``released[1]``), with a running scoring process as a batch worker keeps one."""
    from grader.pipeline import grade_submission

    return grade_submission(write(nb, folder / f"{name}.ipynb"), config, student=name, workdir=folder / "work" / name,
                            db_url=released[1], scorer=scorer)
