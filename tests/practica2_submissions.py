"""Práctica 2 submissions for the tests: light answers (a fraction of the reference's training) and
the defects students make, each a cell's source keyed by its grade_id in the released notebook."""

from __future__ import annotations

ACTIVATIONS = """\
def sigmoid(x):
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))

def tanh(x):
    return np.tanh(x)

def relu(x):
    return np.maximum(x, 0.0)

def leaky_relu(x, negative_slope=LEAKY):
    return np.where(x > 0, x, negative_slope * x)

def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805

def selu(x):
    return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))

def softplus(x):
    return np.logaddexp(0.0, x)

def softsign(x):
    return x / (1 + np.abs(x))
"""


def activations_cell(leaky_slope: float = 0.2) -> str:
    return f"LEAKY = {leaky_slope}\n\n" + ACTIVATIONS


def derivatives_cell(sigmoid_derivative: str = "s * (1 - s)") -> str:
    return f"""\
def sigmoid_derivative(x):
    s = sigmoid(x)
    return {sigmoid_derivative}

def tanh_derivative(x):
    return 1 - np.tanh(x) ** 2

def relu_derivative(x):
    return (np.asarray(x) > 0).astype(float)

def leaky_relu_derivative(x, negative_slope=0.2):
    return np.where(np.asarray(x) > 0, 1.0, negative_slope)

def elu_derivative(x, alpha=1.0):
    return np.where(np.asarray(x) > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))

def selu_derivative(x):
    return SELU_SCALE * np.where(np.asarray(x) > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0)))

def softplus_derivative(x):
    return sigmoid(x)

def softsign_derivative(x):
    return 1 / (1 + np.abs(x)) ** 2
"""


def custom_activation_cell(registered: bool = True, slope: float = 0.3) -> str:
    decorator = '@keras.saving.register_keras_serializable(package="practica2", name="relu_0_3")\n' if registered else ""
    return f"""\
{decorator}def relu_0_3(x):
    return keras.ops.maximum({slope} * x, x)

relu_0_3_model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(3, activation=relu_0_3),
                                   keras.layers.Dense(1)])
"""


def initializers_cell(statistic: str = "std", as_dataframe: bool = False) -> str:
    table = ("initializer_table = pd.DataFrame([{'inicializador': n, 'media': r['mean'], 'desviación': r['std']}\n"
             "                                  for n, r in rows.items()])" if as_dataframe else "initializer_table = rows")
    return f"""\
import pandas as pd

INITIALIZERS = {{
    "random_uniform": keras.initializers.RandomUniform(-0.05, 0.05, seed=42),
    "random_normal": keras.initializers.RandomNormal(0.0, 0.05, seed=42),
    "glorot_uniform": keras.initializers.GlorotUniform(seed=42),
    "glorot_normal": keras.initializers.GlorotNormal(seed=42),
    "he_uniform": keras.initializers.HeUniform(seed=42),
    "he_normal": keras.initializers.HeNormal(seed=42),
    "lecun_uniform": keras.initializers.LecunUniform(seed=42),
    "lecun_normal": keras.initializers.LecunNormal(seed=42),
    "zeros": keras.initializers.Zeros(),
    "ones": keras.initializers.Ones(),
}}
rows = {{}}
for name, initializer in INITIALIZERS.items():
    layer = keras.layers.Dense(1000, kernel_initializer=initializer)
    layer.build((None, 1000))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    rows[name] = {{"mean": float(kernel.mean()), "std": float(kernel.{statistic}())}}
{table}
"""


def moons_cell(linear_activation: str = "None", relu_activation: str = "'relu'", relu_outputs: int = 1,
               epochs: int = 60) -> str:
    if relu_outputs == 1:
        output, loss = "keras.layers.Dense(1, activation='sigmoid')", "binary_crossentropy"
    else:
        output, loss = "keras.layers.Dense(2, activation='softmax')", "sparse_categorical_crossentropy"
    return f"""\
from sklearn.datasets import make_moons

x_moons, y_moons = make_moons(n_samples=1000, noise=0.2, random_state=0)

def build_moons(activation, output, loss):
    keras.utils.set_random_seed(42)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation=activation),
                              keras.layers.Dense(16, activation=activation), output])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    model.fit(x_moons, y_moons, epochs={epochs}, batch_size=32, verbose=0)
    return model

moons_linear = build_moons({linear_activation}, keras.layers.Dense(1, activation="sigmoid"), "binary_crossentropy")
moons_relu = build_moons({relu_activation}, {output}, "{loss}")
"""


def fashion_cell(first_units: int = 300, images: int = 10_000) -> str:
    return f"""\
(fashion_train, fashion_labels), _ = keras.datasets.fashion_mnist.load_data()
keras.utils.set_random_seed(42)
fashion_mlp = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                                keras.layers.Dense({first_units}, activation="relu"),
                                keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
fashion_mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fashion_history = fashion_mlp.fit(fashion_train[:{images}] / 255.0, fashion_labels[:{images}], epochs=1,
                                  batch_size=64, verbose=0)
"""


def lr_search_cell(geometric: bool = True) -> str:
    rates = "np.geomspace(1e-5, 1.0, 40)" if geometric else "np.linspace(1e-5, 1.0, 40)"
    return f"""\
lr_search = {{"learning_rate": list({rates}), "loss": list(np.linspace(2.5, 0.7, 40))}}
"""


def deep_mlp_cell(epochs: int = 2, images: int = 20_000) -> str:
    return f"""\
(mnist_train, mnist_labels), _ = keras.datasets.mnist.load_data()
keras.utils.set_random_seed(42)
deep_mlp = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten()]
                            + [layer for units in (300, 200, 100)
                               for layer in (keras.layers.Dense(units, activation="relu"), keras.layers.Dropout(0.2))]
                            + [keras.layers.Dense(10, activation="softmax")])
deep_mlp.compile(optimizer=keras.optimizers.Adam(6.6e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
deep_history = deep_mlp.fit(mnist_train[:{images}] / 255.0, mnist_labels[:{images}], epochs={epochs}, batch_size=64,
                            verbose=0)
"""


def diabetes_cell(epochs: int = 300) -> str:
    return f"""\
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
keras.utils.set_random_seed(42)
normalizer = keras.layers.Normalization()
normalizer.adapt(X_train)
diabetes_model = keras.Sequential([keras.Input((10,)), normalizer, keras.layers.Dense(32, activation="relu"),
                                   keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1),
                                   keras.layers.Rescaling(float(y_train.std()), offset=float(y_train.mean()))])
diabetes_model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
if {epochs}:
    diabetes_model.fit(X_train, y_train, epochs={epochs}, batch_size=32, verbose=0, validation_split=0.2,
                       callbacks=[keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)])
"""


def light_reference_fills() -> dict[str, str]:
    """A correct answer for every solution cell of the released Práctica 2, lightly trained."""
    return {
        "ej1_funciones_codigo": activations_cell(),
        "ej1_derivadas_codigo": derivatives_cell(),
        "ej2_activacion_codigo": custom_activation_cell(),
        "ej2_modelo_codigo": "# relu_0_3_model se construye en la celda anterior\n",
        "ej3_codigo": initializers_cell(),
        "ej4_modelos_codigo": moons_cell(),
        "ej4_informe": "Sin activación, la composición de capas lineales es lineal: la frontera es una recta.",
        "ej5_modelo_codigo": fashion_cell(),
        "ej5_entrenamiento_codigo": "# fashion_mlp se entrena en la celda del modelo\n",
        "ej6_modelo_codigo": "# el modelo se construye en la celda de entrenamiento\n",
        "ej6_busqueda_codigo": lr_search_cell(),
        "ej6_entrenamiento_codigo": deep_mlp_cell(),
        "ej6_informe": "La pérdida baja hasta una tasa de 6e-3 y luego diverge; elijo una décima parte.",
        "ej7_modelo_codigo": diabetes_cell(),
        "ej7_informe": "Normalización dentro del modelo; MAE 42 frente a 64 de la media.",
    }


def fill(released, overrides: dict[str, str | None] | None = None):
    """The released Práctica 2 with its solution cells answered (``None`` deletes a cell)."""
    from tests import submissions

    return submissions.fill(released, overrides, base=light_reference_fills())
