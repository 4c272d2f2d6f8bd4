"""Train every reference solution on the real data with fixed seeds and record what was measured.

``grader reference train practica3`` calls :func:`train_all` and writes what it returns to
``reference_solutions/practica3/metrics.json``; the grader's thresholds are derived from that file
(see ``grader.config``).
"""

from __future__ import annotations

import platform
import time

DENOISING_EVAL_IMAGES = 1_000


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, round(time.perf_counter() - start, 1)


def train_all(data_dir: str | None = None, log=print) -> dict:
    import keras
    import sklearn
    import tensorflow as tf

    from grader import datasets, metrics
    from reference_solutions.practica3 import denoising_autoencoder, improved_cnn, mnist_cnn, svm_hog

    tf.config.experimental.enable_op_determinism()  # with the recipes' seeds: the same figures every run
    mnist = datasets.load("mnist", data_dir)
    fashion = datasets.load("fashion_mnist", data_dir)
    log(f"MNIST from {mnist.source}; Fashion-MNIST from {fashion.source}")
    x_test = mnist_cnn.prepare_images(mnist.x_test)

    def evaluate(model) -> float:
        probabilities = model.predict(x_test, batch_size=512, verbose=0)
        return metrics.accuracy(metrics.labels_from_scores(probabilities), mnist.y_test)

    cnn = mnist_cnn.build_cnn()
    _, cnn_seconds = _timed(mnist_cnn.train, cnn, mnist.x_train, mnist.y_train)
    cnn_accuracy = evaluate(cnn)
    log(f"mnist_cnn: test accuracy {cnn_accuracy:.4f} in {cnn_seconds} s")

    svm, svm_seconds = _timed(svm_hog.train, mnist.x_train, mnist.y_train)
    svm_accuracy = metrics.accuracy(svm.predict(svm_hog.hog_features(mnist.x_test)), mnist.y_test)
    log(f"svm_hog: test accuracy {svm_accuracy:.4f} in {svm_seconds} s")

    improved = improved_cnn.build_improved_cnn()
    _, improved_seconds = _timed(mnist_cnn.train, improved, mnist.x_train, mnist.y_train)
    improved_accuracy = evaluate(improved)
    log(f"improved_cnn: test accuracy {improved_accuracy:.4f} in {improved_seconds} s")

    denoiser = denoising_autoencoder.build_denoiser()
    clean_train = denoising_autoencoder.prepare_images(fashion.x_train)
    _, denoiser_seconds = _timed(denoising_autoencoder.train, denoiser, clean_train)
    clean_eval = denoising_autoencoder.prepare_images(fashion.x_test[:DENOISING_EVAL_IMAGES])
    noisy_eval = denoising_autoencoder.add_noise(clean_eval, seed=2)
    denoised = denoiser.predict(noisy_eval, batch_size=512, verbose=0)
    noisy_quality = metrics.image_quality(clean_eval, noisy_eval)
    denoised_quality = metrics.image_quality(clean_eval, denoised)
    log(f"denoiser: PSNR {noisy_quality.psnr:.2f} -> {denoised_quality.psnr:.2f} dB, "
        f"SSIM {noisy_quality.ssim:.3f} -> {denoised_quality.ssim:.3f} in {denoiser_seconds} s")

    return {
        "command": "grader reference train practica3",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                   f"GPUs: {len(tf.config.list_physical_devices('GPU'))}",
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__,
                     "keras": keras.__version__, "scikit-learn": sklearn.__version__},
        "mnist_cnn": {"test_accuracy": round(cnn_accuracy, 4), "parameters": cnn.count_params(),
                      "epochs": mnist_cnn.RECIPE.epochs, "train_seconds": cnn_seconds,
                      "test_images": int(len(mnist.y_test))},
        "svm_hog": {"test_accuracy": round(svm_accuracy, 4), "train_subset": svm_hog.TRAIN_SUBSET,
                    "features": int(svm_hog.hog_features(mnist.x_test[:1]).shape[1]),
                    "train_seconds": svm_seconds},
        "improved_cnn": {"test_accuracy": round(improved_accuracy, 4), "parameters": improved.count_params(),
                         "epochs": mnist_cnn.RECIPE.epochs, "train_seconds": improved_seconds},
        "denoising_autoencoder": {
            "eval_images": DENOISING_EVAL_IMAGES, "noise_sigma": denoising_autoencoder.NOISE_SIGMA,
            "epochs": denoising_autoencoder.RECIPE.epochs, "parameters": denoiser.count_params(),
            "train_seconds": denoiser_seconds,
            "noisy": {k: round(v, 4) for k, v in noisy_quality.as_dict().items()},
            "denoised": {k: round(v, 4) for k, v in denoised_quality.as_dict().items()},
            "psnr_gain": round(denoised_quality.psnr - noisy_quality.psnr, 4),
            "ssim_gain": round(denoised_quality.ssim - noisy_quality.ssim, 4),
        },
    }

