"""Runs first in every graded kernel (the pipeline's preamble cell), before any student cell."""

from __future__ import annotations

import os


def prepare_kernel(seed: int) -> None:
    """Quiet TensorFlow's C++ logs, serve Keras' dataset loaders offline, make runs repeatable.

    Seeds and deterministic ops make grading the same notebook twice give the same score even when
    the student set no seed. On a GPU, determinism is left off (some CUDA kernels have no
    deterministic version and would raise) and memory is taken as needed instead of all at once,
    so that several jobs can share one device (TensorFlow: memory growth; JAX: no preallocation,
    set by the batch engine in the environment before JAX starts).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from grader.datasets import serve_keras_offline

    serve_keras_offline(os.environ.get("GRADER_DATA_DIR") or None)
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    if not gpus:
        tf.config.experimental.enable_op_determinism()
