"""Práctica 3 submissions for the similarity report (grader/similarity/): four independent, correct
solutions written differently, and the ways a copier disguises a copy (renamed variables, new
comments, reordered cells, reformatting, a few words of an informe changed).

Every variant fills every solution cell of the release (``tests.submissions.fill``); they are not run.
What grading would leave of a trained classifier is generated too: predicted labels on held-out
items, as the scorer keeps them (``predictions.json`` beside the answers' labels).
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path

import nbformat
import numpy as np

from grader.heldout import HELDOUT_FOLDER
from tests import submissions as s

INFORME_A1 = (
    "Primero he reproducido la red de la tabla: dos bloques de convolución y max pooling seguidos de tres "
    "capas densas. Con tres épocas la precisión en test pasa del 98 por ciento. El clasificador SVM sobre "
    "HOG se queda algo por debajo, porque las características HOG fijas pierden detalle que la red sí "
    "aprende. Para mejorar el modelo he usado filtros de 3x3, más filtros en la segunda capa, "
    "normalización por lotes y Dropout, lo que reduce el sobreajuste que se ve en las curvas de validación.")
INFORME_A2 = (
    "El ruido es gaussiano con sigma 0,4 y se recorta al intervalo [0, 1]. El autoencoder tiene un codificador "
    "con dos convoluciones y dos poolings y un decodificador simétrico con convoluciones traspuestas; la última "
    "capa usa una sigmoide. El PSNR sube unos ocho decibelios y el SSIM casi se duplica, aunque las prendas "
    "con mucha textura quedan algo borrosas.")

INFORMES = {
    "a": (INFORME_A1, INFORME_A2),
    "b": (("Implementé la CNN con la API funcional de Keras. Llega a una precisión cercana al 99 % tras tres épocas. "
          "HOG con una SVM de kernel RBF funciona sorprendentemente bien, pero comete más errores con los sietes y "
          "los nueves. Mi versión mejorada apila convoluciones pequeñas y añade BatchNormalization; converge antes."),
          ("Se suma ruido normal de desviación 0.4. Mi autoencoder comprime la imagen a 7x7 con 64 canales y la "
          "reconstruye con UpSampling2D. Mejora claramente las métricas de PSNR y de similitud estructural, pero "
          "los bordes finos se suavizan.")),
    "c": (("Monté el modelo añadiendo capa a capa con model.add. El entrenamiento es rápido y estable; el error en "
          "validación apenas sube. Frente a él, el pipeline clásico HOG + SVM necesita escalar las características "
          "y tarda bastante más en ajustarse. Como mejora probé a duplicar los filtros y añadir Dropout del 40 %."),
          ("Para el ejercicio dos entreno un autoencoder convolucional con pérdida de entropía cruzada binaria. El "
          "denoising funciona: las siluetas de zapatos y camisetas se recuperan, y las métricas reflejan la "
          "ganancia respecto a la entrada ruidosa.")),
    "d": (("Escribí una función auxiliar que genera los bloques convolucionales. La red base cumple la arquitectura "
          "pedida y obtiene buenos resultados. Comparada con SVM sobre descriptores de gradientes orientados, la "
          "red aprende sus propios filtros. En la versión mejorada el aumento de capacidad compensa."),
          ("Añado ruido con numpy y entreno el autoencoder durante unas épocas. Observo que la reconstrucción pierde "
          "contraste, aunque el valor de SSIM mejora mucho. Con más filtros en el cuello de botella seguramente "
          "mejoraría todavía más la calidad.")),
}


def variant_a() -> dict[str, str]:
    """The light reference of tests/submissions.py (Sequential lists)."""
    fills = s.light_reference_fills()
    fills["ej1_informe"], fills["ej2_informe"] = INFORMES["a"]
    fills["ej2_evaluacion"] = ("denoised = denoiser.predict(fashion_test_noisy[:100], verbose=0)\n"
                               "print(float(np.mean((denoised - fashion_test[:100]) ** 2)))\n")
    return fills


def variant_b() -> dict[str, str]:
    """Functional API, a training helper, HOG through a list comprehension."""
    return {
        "ej1_cnn_modelo": '''\
def build_cnn():
    entrada = keras.Input(shape=(28, 28, 1))
    h = layers.Conv2D(filters=32, kernel_size=(3, 3), padding="same", activation="relu")(entrada)
    h = layers.MaxPooling2D(pool_size=(2, 2))(h)
    h = layers.Conv2D(filters=16, kernel_size=(5, 5), activation="relu")(h)
    h = layers.MaxPooling2D(pool_size=(2, 2))(h)
    h = layers.Flatten()(h)
    for units in (100, 50):
        h = layers.Dense(units, activation="relu")(h)
    salida = layers.Dense(10, activation="softmax")(h)
    red = keras.Model(entrada, salida, name="cnn")
    red.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(), metrics=["accuracy"])
    return red

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
''',
        "ej1_cnn_entrenamiento": '''\
def entrenar(red, x, y, epocas=1, n=10_000):
    keras.utils.set_random_seed(SEED)
    return red.fit(x[:n], y[:n], batch_size=32, epochs=epocas, verbose=0)

cnn_history = entrenar(cnn_model, x_train, y_train)
''',
        "ej1_hog": '''\
def hog_features(images):
    vectores = [hog(img, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2)) for img in images]
    return np.array(vectores, dtype=np.float32)
''',
        "ej1_svm": '''\
N_SVM = 2000
caracteristicas = hog_features(x_train_raw[:N_SVM])
svm_hog = make_pipeline(StandardScaler(), SVC(C=5.0, kernel="rbf", gamma="scale"))
svm_hog.fit(caracteristicas, y_train[:N_SVM])
''',
        "ej1_mejora_modelo": '''\
def build_improved_model():
    entrada = keras.Input(shape=(28, 28, 1))
    h = entrada
    for filtros in (32, 64):
        h = layers.Conv2D(filtros, 3, padding="same", use_bias=False)(h)
        h = layers.BatchNormalization()(h)
        h = layers.Activation("relu")(h)
        h = layers.MaxPooling2D()(h)
    h = layers.Flatten()(h)
    h = layers.Dropout(0.25)(layers.Dense(128, activation="relu")(h))
    red = keras.Model(entrada, layers.Dense(10, activation="softmax")(h))
    red.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return red

keras.utils.set_random_seed(SEED)
improved_model = build_improved_model()
''',
        "ej1_mejora_entrenamiento": "improved_history = entrenar(improved_model, x_train, y_train)\n",
        "ej1_informe": INFORMES["b"][0],
        "ej2_modelo": '''\
def build_denoiser():
    x_in = keras.Input(shape=(28, 28, 1))
    z = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(x_in)
    z = layers.MaxPooling2D((2, 2), padding="same")(z)
    z = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(z)
    z = layers.MaxPooling2D((2, 2), padding="same")(z)
    z = layers.UpSampling2D((2, 2))(z)
    z = layers.Conv2D(64, (3, 3), activation="relu", padding="same")(z)
    z = layers.UpSampling2D((2, 2))(z)
    x_out = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(z)
    auto = keras.Model(x_in, x_out)
    auto.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return auto

keras.utils.set_random_seed(SEED)
denoiser = build_denoiser()
''',
        "ej2_entrenamiento": "denoiser_history = entrenar(denoiser, fashion_train_noisy, fashion_train)\n",
        "ej2_evaluacion": '''\
limpias = denoiser.predict(fashion_test_noisy[:200], batch_size=100, verbose=0)
errores = np.square(limpias - fashion_test[:200]).mean(axis=(1, 2, 3))
print("MSE medio:", errores.mean())
''',
        "ej2_figura": '''\
fig, ejes = plt.subplots(3, 5, figsize=(8, 5))
for col in range(5):
    for fila, imgs in enumerate((fashion_test, fashion_test_noisy, limpias)):
        ejes[fila, col].imshow(imgs[col].squeeze(), cmap="gray")
        ejes[fila, col].axis("off")
plt.show()
''',
        "ej2_informe": INFORMES["b"][1],
    }


def variant_c() -> dict[str, str]:
    """model.add(...) one layer at a time, explicit validation split, a manual HOG loop."""
    return {
        "ej1_cnn_modelo": '''\
def build_cnn():
    m = keras.models.Sequential()
    m.add(layers.InputLayer(shape=(28, 28, 1)))
    m.add(layers.Conv2D(32, kernel_size=3, activation="relu", padding="same"))
    m.add(layers.MaxPool2D())
    m.add(layers.Conv2D(16, kernel_size=5, activation="relu", padding="valid"))
    m.add(layers.MaxPool2D())
    m.add(layers.Flatten())
    m.add(layers.Dense(100, activation="relu"))
    m.add(layers.Dense(50, activation="relu"))
    m.add(layers.Dense(10, activation="softmax"))
    m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    return m

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
''',
        "ej1_cnn_entrenamiento": '''\
keras.utils.set_random_seed(SEED)
muestras = 10000
cnn_history = cnn_model.fit(x_train[:muestras], y_train[:muestras], validation_split=0.1, epochs=1,
                            batch_size=32, shuffle=True, verbose=0)
print(cnn_history.history["val_accuracy"][-1])
''',
        "ej1_hog": '''\
def hog_features(images):
    images = np.asarray(images)
    out = np.empty((len(images), 324), dtype="float32")
    for i in range(len(images)):
        out[i] = hog(images[i], orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2))
    return out
''',
        "ej1_svm": '''\
indices = np.random.default_rng(SEED).permutation(len(x_train_raw))[:2000]
escalador = StandardScaler()
svm_hog = make_pipeline(escalador, SVC(kernel="rbf", C=10))
svm_hog.fit(hog_features(x_train_raw[indices]), y_train[indices])
print("precisión en entrenamiento", svm_hog.score(hog_features(x_train_raw[indices]), y_train[indices]))
''',
        "ej1_mejora_modelo": '''\
def build_improved_model():
    m = keras.models.Sequential()
    m.add(layers.InputLayer(shape=(28, 28, 1)))
    m.add(layers.Conv2D(64, kernel_size=3, activation="relu", padding="same"))
    m.add(layers.Conv2D(64, kernel_size=3, activation="relu", padding="same"))
    m.add(layers.MaxPool2D())
    m.add(layers.Dropout(0.4))
    m.add(layers.Flatten())
    m.add(layers.Dense(256, activation="relu"))
    m.add(layers.Dropout(0.4))
    m.add(layers.Dense(10, activation="softmax"))
    m.compile(optimizer=keras.optimizers.RMSprop(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m

keras.utils.set_random_seed(SEED)
improved_model = build_improved_model()
''',
        "ej1_mejora_entrenamiento": '''\
keras.utils.set_random_seed(SEED)
improved_history = improved_model.fit(x_train[:muestras], y_train[:muestras], validation_split=0.1, epochs=1,
                                      batch_size=64, verbose=0)
''',
        "ej1_informe": INFORMES["c"][0],
        "ej2_modelo": '''\
def build_denoiser():
    m = keras.models.Sequential()
    m.add(layers.InputLayer(shape=(28, 28, 1)))
    m.add(layers.Conv2D(16, 3, strides=2, activation="relu", padding="same"))
    m.add(layers.Conv2D(8, 3, strides=2, activation="relu", padding="same"))
    m.add(layers.Conv2DTranspose(8, 3, strides=2, activation="relu", padding="same"))
    m.add(layers.Conv2DTranspose(16, 3, strides=2, activation="relu", padding="same"))
    m.add(layers.Conv2D(1, 3, activation="sigmoid", padding="same"))
    m.compile(optimizer="adam", loss="binary_crossentropy")
    return m

keras.utils.set_random_seed(SEED)
denoiser = build_denoiser()
''',
        "ej2_entrenamiento": '''\
keras.utils.set_random_seed(SEED)
denoiser_history = denoiser.fit(fashion_train_noisy[:muestras], fashion_train[:muestras], epochs=1, batch_size=128,
                                validation_data=(fashion_test_noisy[:500], fashion_test[:500]), verbose=0)
''',
        "ej2_evaluacion": '''\
reconstruidas = denoiser(fashion_test_noisy[:64], training=False).numpy()
for nombre, imagenes in [("ruidosa", fashion_test_noisy[:64]), ("limpia", reconstruidas)]:
    print(nombre, np.abs(imagenes - fashion_test[:64]).mean())
''',
        "ej2_figura": '''\
plt.figure(figsize=(10, 3))
for k in range(6):
    plt.subplot(2, 6, k + 1); plt.imshow(fashion_test_noisy[k, ..., 0], cmap="gray"); plt.axis("off")
    plt.subplot(2, 6, k + 7); plt.imshow(reconstruidas[k, ..., 0], cmap="gray"); plt.axis("off")
plt.tight_layout()
''',
        "ej2_informe": INFORMES["c"][1],
    }


def variant_d() -> dict[str, str]:
    """A block-building helper, tf.data-free generators, metrics with numpy only."""
    return {
        "ej1_cnn_modelo": '''\
def bloque(filtros, nucleo, relleno):
    return [layers.Conv2D(filtros, nucleo, padding=relleno, activation="relu"), layers.MaxPooling2D(2)]


def build_cnn():
    capas = [keras.Input((28, 28, 1))] + bloque(32, 3, "same") + bloque(16, 5, "valid")
    capas += [layers.Flatten()] + [layers.Dense(n, activation="relu") for n in [100, 50]]
    capas.append(layers.Dense(10, activation="softmax"))
    modelo = keras.Sequential(capas)
    modelo.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return modelo

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
''',
        "ej1_cnn_entrenamiento": '''\
TAM = 10_000
keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(x=x_train[:TAM], y=y_train[:TAM], epochs=1, batch_size=32, verbose=0).history
''',
        "ej1_hog": '''\
from functools import partial

_descriptor = partial(hog, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2), feature_vector=True)


def hog_features(images):
    return np.vstack(list(map(_descriptor, images))).astype(np.float32)
''',
        "ej1_svm": '''\
X_hog, y_hog = hog_features(x_train_raw[:2000]), y_train[:2000]
svm_hog = make_pipeline(StandardScaler(with_mean=True), SVC(C=4.0))
svm_hog = svm_hog.fit(X_hog, y_hog)
''',
        "ej1_mejora_modelo": '''\
def build_improved_model():
    capas = [keras.Input((28, 28, 1))]
    for filtros in [32, 32, 64]:
        capas += [layers.Conv2D(filtros, 3, padding="same", activation="relu"), layers.BatchNormalization()]
    capas += [layers.GlobalAveragePooling2D(), layers.Dense(64, activation="relu"), layers.Dropout(0.2),
              layers.Dense(10, activation="softmax")]
    modelo = keras.Sequential(capas)
    modelo.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return modelo

keras.utils.set_random_seed(SEED)
improved_model = build_improved_model()
''',
        "ej1_mejora_entrenamiento": '''\
keras.utils.set_random_seed(SEED)
improved_history = improved_model.fit(x=x_train[:TAM], y=y_train[:TAM], epochs=1, batch_size=32, verbose=0).history
''',
        "ej1_informe": INFORMES["d"][0],
        "ej2_modelo": '''\
def build_denoiser():
    codificador = [layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2, padding="same")]
    decodificador = [layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
                     layers.Conv2D(1, 3, padding="same", activation="sigmoid")]
    modelo = keras.Sequential([keras.Input((28, 28, 1))] + codificador + decodificador)
    modelo.compile("adam", "binary_crossentropy")
    return modelo

keras.utils.set_random_seed(SEED)
denoiser = build_denoiser()
''',
        "ej2_entrenamiento": '''\
keras.utils.set_random_seed(SEED)
denoiser_history = denoiser.fit(x=fashion_train_noisy[:TAM], y=fashion_train[:TAM], epochs=1, batch_size=32,
                                verbose=0).history
''',
        "ej2_evaluacion": '''\
salida = denoiser.predict(fashion_test_noisy[:100], verbose=0)
psnr = 10 * np.log10(1.0 / np.mean((salida - fashion_test[:100]) ** 2))
print(f"PSNR aproximado: {psnr:.2f} dB")
''',
        "ej2_figura": "print('figuras en la memoria')\n",
        "ej2_informe": INFORMES["d"][1],
    }


VARIANTS = {"a": variant_a, "b": variant_b, "c": variant_c, "d": variant_d}


# ---------------------------------------------------------------------------- disguising a copy

def rename(fills: dict[str, str], names: dict[str, str]) -> dict[str, str]:
    """Every whole-word occurrence of each name replaced, in code cells only."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return {gid: (text if gid.endswith("informe") else pattern.sub(lambda m: names[m.group(1)], text))
            for gid, text in fills.items()}


def recomment_and_reformat(fills: dict[str, str]) -> dict[str, str]:
    """A comment before every other line, single quotes, spaces around '=' in calls, blank lines."""
    out = {}
    for gid, text in fills.items():
        if gid.endswith("informe"):
            out[gid] = text
            continue
        lines = []
        for number, line in enumerate(text.split("\n")):
            indent = line[:len(line) - len(line.lstrip())]
            if number % 2 == 0 and line.strip():
                lines.append(f"{indent}# paso {number}: lo que hace esta línea")
            lines.append(line.replace('"', "'") + ("  # ok" if line.rstrip().endswith(")") else ""))
            if not line.strip():
                lines.append("")
        out[gid] = "\n".join(lines)
    return out


def reorder_solution_cells(nb: nbformat.NotebookNode, seed: int = 0) -> nbformat.NotebookNode:
    """The student's solution cells shuffled among their own positions (the notebook no longer runs
    top to bottom, which a copier may not care about)."""
    out = copy.deepcopy(nb)
    positions = [i for i, cell in enumerate(out.cells) if cell.metadata.get("nbgrader", {}).get("solution")
                 and cell.cell_type == "code"]
    cells = [out.cells[i] for i in positions]
    random.Random(seed).shuffle(cells)
    for position, cell in zip(positions, cells):
        out.cells[position] = cell
    return out


def change_words(text: str, changes: dict[str, str]) -> str:
    for old, new in changes.items():
        text = text.replace(old, new)
    return text


def disguised_copy(released, fills: dict[str, str], names: dict[str, str], seed: int = 1) -> nbformat.NotebookNode:
    return reorder_solution_cells(s.fill(released, recomment_and_reformat(rename(fills, names))), seed)


def boilerplate_only(released) -> nbformat.NotebookNode:
    """The release handed in untouched (stubs and all)."""
    return copy.deepcopy(released)


# ------------------------------------------------------------------ predictions (what the scorer keeps)

def heldout_labels(seed: int, n: int = 1000) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    """A generator, ``n`` labels, which items are hard (6 %), and each item's usual confusion."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    return rng, labels, rng.random(n) < 0.06, (labels + rng.integers(1, 10, n)) % 10


def independent_predictions(rng: np.random.Generator, labels: np.ndarray, hard: np.ndarray,
                            confusion: np.ndarray) -> np.ndarray:
    """A good classifier of its own: wrong on about a third of the hard items (often the usual
    confusion) and rarely elsewhere, so independent ones share some mistakes, as real ones do."""
    predicted = labels.copy()
    wrong = rng.random(len(labels)) < np.where(hard, 0.35, 0.004)
    other = (labels + rng.integers(1, 10, len(labels))) % 10
    predicted[wrong] = np.where(rng.random(len(labels)) < 0.6, confusion, other)[wrong]
    return predicted


def copied_predictions(rng: np.random.Generator, original: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The same model trained a little more: a tenth of its mistakes fixed, three new ones."""
    predicted = original.copy()
    wrong = np.flatnonzero(predicted != labels)
    fixed = rng.choice(wrong, len(wrong) // 10, replace=False)
    predicted[fixed] = labels[fixed]
    new = rng.choice(np.flatnonzero(predicted == labels), 3, replace=False)
    predicted[new] = (labels[new] + 1) % 10
    return predicted


def write_predictions(work: Path, student: str, labels: np.ndarray, predicted: dict[str, np.ndarray]) -> None:
    """``work/<student>/predictions.json`` and the labels in the batch's ``work/.heldout/answers/``, as a
    batch leaves them."""
    answers = work / HELDOUT_FOLDER / "answers"
    answers.mkdir(parents=True, exist_ok=True)
    np.save(answers / "mnist_labels.npy", labels, allow_pickle=False)
    (work / student).mkdir(exist_ok=True)
    data = {model: {"input": "mnist", "labels": "mnist_labels", "predicted": p.tolist()}
            for model, p in predicted.items()}
    (work / student / "predictions.json").write_text(json.dumps(data), encoding="utf-8")
