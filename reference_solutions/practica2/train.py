"""Train every reference solution of Práctica 2 with fixed seeds and record what was measured.

``grader reference train practica2`` calls :func:`train_all` and writes what it returns to
``reference_solutions/practica2/metrics.json``. Exercises 1-3 train nothing: their sections record
how far the NumPy activations are from Keras/TensorFlow, the custom activation's save/load round
trip and the initializers' table, measured in the same run.
"""

from __future__ import annotations

import platform
import tempfile
import time

LR_CURVE_POINTS = 25  # the learning-rate search's (rate, smoothed loss) curve, thinned for the record


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, round(time.perf_counter() - start, 1)


def _accuracy(model, x, y) -> float:
    from grader import metrics

    return metrics.accuracy(metrics.labels_from_scores(model.predict(x, batch_size=512, verbose=0)), y)


def train_all(data_dir: str | None = None, log=print) -> dict:
    import keras
    import numpy as np
    import sklearn
    import tensorflow as tf

    from grader import datasets
    from reference_solutions.practica2 import (
        activations, custom_activation, deep_mlp, diabetes_regression, fashion_mlp, initializers, moons,
    )

    tf.config.experimental.enable_op_determinism()  # with the recipes' seeds: the same figures every run

    activation_errors = activations.compare_with_keras()
    worst = max(max(errors.values()) for errors in activation_errors.values())
    log(f"activations: largest error against keras/GradientTape {worst:.2e}")

    with tempfile.TemporaryDirectory() as directory:
        roundtrip = custom_activation.roundtrip_difference(directory)
    log(f"relu_0_3: saved and reloaded (safe_mode) with prediction difference {roundtrip['max_prediction_difference']}")

    table = initializers.initializer_table()
    log(f"initializers: {sum(row['matches'] for row in table)}/{len(table)} match their formulas")

    x_moons, y_moons = moons.make_data(moons.TRAIN_SEED)
    x_held, y_held = moons.make_data(moons.TEST_SEED)
    moons_section = {"n_samples": moons.N_SAMPLES, "noise": moons.NOISE, "train_seed": moons.TRAIN_SEED,
                     "test_seed": moons.TEST_SEED, "epochs": moons.RECIPE.epochs}
    for label, activation in (("linear", None), ("relu", "relu")):
        model = moons.build_mlp(activation)
        _, seconds = _timed(moons.train, model, x_moons, y_moons)
        moons_section[f"{label}_test_accuracy"] = round(moons.accuracy(model, x_held, y_held), 4)
        moons_section[f"{label}_train_seconds"] = seconds
    logistic = moons.logistic_baseline(x_moons, y_moons)
    moons_section["logistic_regression_test_accuracy"] = round(float(logistic.score(x_held, y_held)), 4)
    log(f"moons: held-out accuracy linear {moons_section['linear_test_accuracy']}, relu "
        f"{moons_section['relu_test_accuracy']}, logistic {moons_section['logistic_regression_test_accuracy']}")

    fashion = datasets.load("fashion_mnist", data_dir)
    mnist = datasets.load("mnist", data_dir)
    log(f"Fashion-MNIST from {fashion.source}; MNIST from {mnist.source}")

    fashion_model = fashion_mlp.build_fashion_mlp()
    history, fashion_seconds = _timed(fashion_mlp.train, fashion_model, fashion.x_train, fashion.y_train)
    fashion_accuracy = _accuracy(fashion_model, fashion_mlp.prepare_images(fashion.x_test), fashion.y_test)
    log(f"fashion_mlp: test accuracy {fashion_accuracy:.4f} after {fashion_mlp.RECIPE.epochs} epochs in {fashion_seconds} s")

    x_mnist = deep_mlp.prepare_images(mnist.x_train)
    search, search_seconds = _timed(deep_mlp.search_learning_rate, x_mnist, mnist.y_train)
    log(f"deep_mlp: loss turns up at learning rate {search.turning_rate:.3g}; chosen {search.chosen_rate:.3g}")
    deep_model = deep_mlp.build_deep_mlp(learning_rate=search.chosen_rate)
    deep_history, deep_seconds = _timed(deep_mlp.train, deep_model, x_mnist, mnist.y_train)
    deep_accuracy = _accuracy(deep_model, deep_mlp.prepare_images(mnist.x_test), mnist.y_test)
    deep_epochs = len(deep_history.history["loss"])
    log(f"deep_mlp: test accuracy {deep_accuracy:.4f} after {deep_epochs} epochs in {deep_seconds} s")
    thin = np.unique(np.linspace(0, len(search.rates) - 1, LR_CURVE_POINTS).round().astype(int))

    split = diabetes_regression.load_split()
    regressor, diabetes_seconds = _timed(diabetes_regression.ScaledRegressor().fit, split.x_train, split.y_train)
    prediction = regressor.predict(split.x_test)
    baseline = diabetes_regression.mean_baseline(split)
    diabetes_mae = diabetes_regression.mae(prediction, split.y_test)
    diabetes_rmse = diabetes_regression.rmse(prediction, split.y_test)
    log(f"diabetes: test MAE {diabetes_mae:.2f} (mean baseline {baseline['mae']:.2f}), "
        f"RMSE {diabetes_rmse:.2f} (baseline {baseline['rmse']:.2f})")

    return {
        "command": "grader reference train practica2",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                   f"GPUs: {len(tf.config.list_physical_devices('GPU'))}",
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "scikit-learn": sklearn.__version__},
        "activations": {"grid_points": int(activations.reference_grid().size),
                        "leaky_relu_negative_slope": activations.LEAKY_RELU_SLOPE,
                        "errors": activation_errors},
        "custom_activation": roundtrip,
        "initializers": {"input_dim": initializers.INPUT_DIM, "units": initializers.UNITS,
                         "seed": initializers.SEED, "tolerance_standard_errors": initializers.TOLERANCE_SE,
                         "table": table},
        "moons": moons_section,
        "fashion_mlp": {"test_accuracy": round(fashion_accuracy, 4), "parameters": fashion_model.count_params(),
                        "epochs": fashion_mlp.RECIPE.epochs, "epochs_in_course": 30,
                        "validation_images": fashion_mlp.VALIDATION_IMAGES,
                        "validation_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
                        "train_seconds": fashion_seconds, "test_images": int(len(fashion.y_test))},
        "deep_mlp": {"test_accuracy": round(deep_accuracy, 4), "parameters": deep_model.count_params(),
                     "hidden_units": list(deep_mlp.HIDDEN_UNITS), "dropout": deep_mlp.DROPOUT, "optimizer": "adam",
                     "lr_search": {"lr_start": deep_mlp.SEARCH.lr_start, "lr_end": deep_mlp.SEARCH.lr_end,
                                   "subset": deep_mlp.SEARCH.subset, "batches": len(search.rates),
                                   "turning_rate": float(search.turning_rate),
                                   "chosen_rate": float(search.chosen_rate), "seconds": search_seconds,
                                   "curve": [[float(search.rates[i]), round(float(search.smoothed[i]), 4)]
                                             for i in thin]},
                     "epochs_run": deep_epochs, "max_epochs": deep_mlp.RECIPE.max_epochs,
                     "patience": deep_mlp.RECIPE.patience,
                     "best_validation_accuracy": round(float(max(deep_history.history["val_accuracy"])), 4),
                     "train_seconds": deep_seconds, "test_images": int(len(mnist.y_test))},
        "diabetes_regression": {"test_mae": round(diabetes_mae, 3), "test_rmse": round(diabetes_rmse, 3),
                                "baseline_mae": round(baseline["mae"], 3), "baseline_rmse": round(baseline["rmse"], 3),
                                "epochs_run": len(regressor.history.history["loss"]),
                                "train_samples": int(len(split.y_train)), "test_samples": int(len(split.y_test)),
                                "split_seed": diabetes_regression.SPLIT_SEED, "train_seconds": diabetes_seconds},
    }
