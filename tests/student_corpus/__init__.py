"""Práctica 3 written the way real students write it: Keras-2 idioms, one-hot labels, models compiled
outside the builder, standardised inputs, HOG for float images, dense autoencoders, Colab imports,
long schedules. Written for this project (not copied from anywhere), each entry is the released
notebook with a few solution cells in one student's style (tests/submissions.py fills the rest).

Each notebook keeps only the parts its style is about (the other solution cells are deleted), and
trains on small subsets for one epoch, so the whole corpus is graded in one batch in a few minutes.
``CORPUS`` maps a notebook's name to (style, fills); :func:`build` makes the notebooks.
"""

from __future__ import annotations

import nbformat

from tests import submissions as s

CNN_PARTS = ("ej1_cnn_modelo", "ej1_cnn_entrenamiento")
HOG_PARTS = ("ej1_hog", "ej1_svm")
AE_PARTS = ("ej2_modelo", "ej2_entrenamiento", "ej2_evaluacion")
SOLUTION_CELLS = ("ej1_cnn_modelo", "ej1_cnn_entrenamiento", "ej1_hog", "ej1_svm", "ej1_mejora_modelo",
                  "ej1_mejora_entrenamiento", "ej2_modelo", "ej2_entrenamiento", "ej2_evaluacion", "ej2_figura")
IMAGES = 3000  # training images for every network of the corpus: one light epoch

KERAS2_CNN = """\
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Conv2D, MaxPooling2D, Flatten, Dense
from tensorflow.keras.utils import to_categorical

def build_cnn():
    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), padding='same', activation='relu', input_shape=(28, 28, 1)))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Conv2D(16, kernel_size=(5, 5), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(100, activation='relu'))
    model.add(Dense(50, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    return model

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
# compiled here, outside the builder, as in the course slides
cnn_model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
cnn_model.summary()
"""

KERAS2_TRAINING = f"""\
y_train_cat = to_categorical(y_train, 10)
y_test_cat = to_categorical(y_test, 10)
keras.utils.set_random_seed(SEED)
history = cnn_model.fit(x_train[:{IMAGES}], y_train_cat[:{IMAGES}], batch_size=32, epochs=1, verbose=1)
cnn_history = history
score = cnn_model.evaluate(x_test, y_test_cat, verbose=0)
print('Test loss:', score[0])
print('Test accuracy:', score[1])
"""

ACTIVATION_LAYERS_CNN = """\
def build_cnn():
    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28, 1)))
    model.add(layers.Conv2D(32, (3, 3), padding="same"))
    model.add(layers.ReLU())
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(16, (5, 5)))
    model.add(layers.Activation("relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(100))
    model.add(layers.Activation("relu"))
    model.add(layers.Dense(50))
    model.add(layers.ReLU())
    model.add(layers.Dense(10))
    model.add(layers.Softmax())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
"""

FUNCTIONAL_LOGITS_CNN = """\
def build_cnn():
    inputs = keras.Input(shape=(28, 28))
    x = layers.Reshape((28, 28, 1))(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 5, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(100, activation="relu")(x)
    x = layers.Dense(50, activation="relu")(x)
    logits = layers.Dense(10)(x)
    model = keras.Model(inputs, logits, name="cnn_funcional")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
"""

FUNCTIONAL_TRAINING = f"""\
# the model takes (n, 28, 28) images: drop the channel axis
keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(x_train[:{IMAGES}, :, :, 0], y_train[:{IMAGES}], epochs=1, batch_size=32, verbose=0)
"""

SUBCLASS_IN_FUNCTION_CNN = """\
def build_cnn():
    class MiCNN(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv1 = layers.Conv2D(32, 3, padding="same", activation="relu")
            self.pool1 = layers.MaxPooling2D()
            self.conv2 = layers.Conv2D(16, 5, activation="relu")
            self.pool2 = layers.MaxPooling2D()
            self.flat = layers.Flatten()
            self.fc1 = layers.Dense(100, activation="relu")
            self.fc2 = layers.Dense(50, activation="relu")
            self.out = layers.Dense(10, activation="softmax")

        def call(self, x):
            x = self.pool1(self.conv1(x))
            x = self.pool2(self.conv2(x))
            return self.out(self.fc2(self.fc1(self.flat(x))))

    model = MiCNN()
    model.build((None, 28, 28, 1))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

keras.utils.set_random_seed(SEED)
cnn_model = build_cnn()
"""

STANDARDISED_TRAINING = f"""\
# per-pixel standardisation (mean 0, std 1), as in the tutorial
mean = x_train.mean(axis=0)
std = x_train.std(axis=0) + 1e-7
x_train_std = (x_train - mean) / std
x_test_std = (x_test - mean) / std
keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(x_train_std[:{IMAGES}], y_train[:{IMAGES}], epochs=1, batch_size=32, verbose=0)
test_loss, test_acc = cnn_model.evaluate(x_test_std, y_test, verbose=0)
print(f"Precisión en test: {{test_acc:.4f}}")
"""

HOG_TIMES_255 = """\
def hog_features(images):
    feats = []
    for img in images:
        img = (img * 255).astype(np.uint8)  # skimage quiere enteros
        feats.append(hog(img, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2)))
    return np.array(feats)

print("Características HOG de una imagen:", hog_features(x_train[:1, :, :, 0]).shape)
"""

HOG_TIMES_255_SVM = """\
SVM_TRAIN_IMAGES = 2000
subset = np.random.default_rng(0).permutation(len(x_train_raw))[:SVM_TRAIN_IMAGES]
X_hog = hog_features(x_train[subset, :, :, 0])  # floats in [0, 1]
svm_hog = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=5))
svm_hog.fit(X_hog, y_train[subset])
print("precisión en test:", svm_hog.score(hog_features(x_test[:1000, :, :, 0]), y_test[:1000]))
"""

DENSE_AE = """\
def build_denoiser():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(256, activation="relu"),
        layers.Dense(784),
        layers.Reshape((28, 28)),
    ])
    model.compile(optimizer="adam", loss="mse")
    return model

keras.utils.set_random_seed(SEED)
denoiser = build_denoiser()
"""

DENSE_AE_TRAINING = f"""\
keras.utils.set_random_seed(SEED)
denoiser_history = denoiser.fit(fashion_train_noisy[:{IMAGES}], fashion_train[:{IMAGES}, :, :, 0], epochs=2,
                                batch_size=32, verbose=0)
"""

CONV_AE_TRAINING = f"""\
keras.utils.set_random_seed(SEED)
denoiser_history = denoiser.fit(fashion_train_noisy[:{IMAGES}], fashion_train[:{IMAGES}], epochs=1,
                                batch_size=32, verbose=0)
"""

COLAB_IMPORTS_TRAINING = f"""\
import pandas as pd
import seaborn as sns
from tqdm.auto import tqdm
from scipy import stats

keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(x_train[:{IMAGES}], y_train[:{IMAGES}], epochs=1, batch_size=32, verbose=0)
pd.DataFrame(cnn_history.history).plot(figsize=(6, 3))
plt.show()
pred = np.argmax(cnn_model.predict(x_test[:500], verbose=0), axis=1)
sns.heatmap(pd.crosstab(y_test[:500], pred), annot=False)
plt.show()
print(stats.describe(pred).mean)
"""

COLAB_IMPORTS_HOG = """\
def hog_features(images):
    return np.array([hog(img, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2))
                     for img in tqdm(images, disable=len(images) < 100)])

print("Características HOG de una imagen:", hog_features(x_train_raw[:1]).shape)
"""

MISSING_MODULE_IMPORTS = """\

import xgboost as xgb  # para comparar más adelante con lo que usé en otra asignatura
"""

FIFTY_EPOCHS_TRAINING = """\
# 50 épocas, como en el tutorial (en Colab con GPU)
keras.utils.set_random_seed(SEED)
cnn_history = cnn_model.fit(x_train, y_train, epochs=50, batch_size=32, verbose=0)
"""

HISTORY_H_TRAINING = f"""\
keras.utils.set_random_seed(SEED)
H = cnn_model.fit(x_train[:{IMAGES}], y_train[:{IMAGES}], epochs=1, batch_size=32, verbose=0)
loss, acc = cnn_model.evaluate(x_test, y_test, verbose=0)
print("Test accuracy: %.4f" % acc)
plt.plot(H.history["accuracy"], label="train")
plt.legend()
plt.show()
"""

IMPROVED_AUGMENTED = """\
from tensorflow.keras.utils import to_categorical

def build_improved_model():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.RandomRotation(0.05),
        layers.Conv2D(32, 3, padding="same"), layers.Activation("relu"), layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same"), layers.Activation("relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(128, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    return model

keras.utils.set_random_seed(SEED)
improved_model = build_improved_model()
improved_model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
"""

IMPROVED_AUGMENTED_TRAINING = f"""\
keras.utils.set_random_seed(SEED)
improved_history = improved_model.fit(x_train[:{IMAGES}], to_categorical(y_train[:{IMAGES}]), epochs=1,
                                      batch_size=32, verbose=0)
"""


def _cnn(model: str = s.cnn_cell(), training: str = s.cnn_training_cell(images=IMAGES)) -> dict[str, str]:
    return {"ej1_cnn_modelo": model, "ej1_cnn_entrenamiento": training}


CORPUS: dict[str, tuple[str, dict[str, str]]] = {
    "keras2_onehot": ("from tensorflow import keras, to_categorical + categorical cross-entropy, compiled "
                      "outside the builder, history named 'history'", _cnn(KERAS2_CNN, KERAS2_TRAINING)),
    "activation_layers": ("Sequential with add(), activations as separate layers, final Softmax layer",
                          _cnn(ACTIVATION_LAYERS_CNN)),
    "functional_logits": ("functional API on (28, 28) images, Reshape first, Dense(10) logits, from_logits=True",
                          _cnn(FUNCTIONAL_LOGITS_CNN, FUNCTIONAL_TRAINING)),
    "subclass_in_function": ("subclassed model whose class is defined inside the builder",
                             _cnn(SUBCLASS_IN_FUNCTION_CNN)),
    "standardised_inputs": ("per-pixel standardised inputs instead of [0, 1]",
                            _cnn(training=STANDARDISED_TRAINING)),
    "hog_times_255": ("HOG written for float images: (img * 255).astype(np.uint8)",
                      {"ej1_hog": HOG_TIMES_255, "ej1_svm": HOG_TIMES_255_SVM}),
    "dense_ae_reshape": ("dense autoencoder ending in Reshape((28, 28)), linear output, MSE",
                         {"ej2_modelo": DENSE_AE, "ej2_entrenamiento": DENSE_AE_TRAINING,
                          "ej2_evaluacion": "denoised = denoiser.predict(fashion_test_noisy[:1000], verbose=0)"}),
    "conv_ae_clean": ("the statement's convolutional autoencoder, as the table says",
                      {"ej2_modelo": s.denoiser_cell(), "ej2_entrenamiento": CONV_AE_TRAINING,
                       "ej2_evaluacion": "denoised = denoiser.predict(fashion_test_noisy[:1000], verbose=0)"}),
    "colab_imports": ("pandas, seaborn, tqdm and scipy imported as on Colab",
                      {**_cnn(training=COLAB_IMPORTS_TRAINING), "ej1_hog": COLAB_IMPORTS_HOG,
                       "ej1_svm": s.svm_cell()}),
    "missing_module": ("imports xgboost, which the grading environment does not have",
                       _cnn(s.cnn_cell() + MISSING_MODULE_IMPORTS)),
    "fifty_epochs": ("50 epochs on the full training set: the per-cell time limit stops it",
                     _cnn(training=FIFTY_EPOCHS_TRAINING)),
    "history_h": ("history named H, evaluate printed, accuracy curve plotted", _cnn(training=HISTORY_H_TRAINING)),
    "improved_augmented": ("improved model with RandomRotation, more filters, Dropout, one-hot labels, compiled "
                           "outside the builder",
                           {**_cnn(), "ej1_mejora_modelo": IMPROVED_AUGMENTED,
                            "ej1_mejora_entrenamiento": IMPROVED_AUGMENTED_TRAINING}),
}


def build(released: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """Every corpus notebook: the released notebook with that student's cells, the others deleted."""
    notebooks = {}
    for name, (_, fills) in CORPUS.items():
        deleted = {grade_id: None for grade_id in SOLUTION_CELLS if grade_id not in fills}
        notebooks[name] = s.fill(released, {**deleted, **fills})
    return notebooks
